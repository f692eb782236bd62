// SPDX-License-Identifier: MIT
#include "forkspawn/nursery_image.hpp"

#include <cerrno>
#include <sys/mman.h>
#include <unistd.h>

extern char** environ;

namespace forkspawn::backend {

NurseryImage::NurseryImage(const NurseryRequest& request, int guardian_fd, int page_fd) {
    m_spec = UniqueFd(::memfd_create("forkspawn-subtree", MFD_CLOEXEC));
    if (!m_spec) {
        m_failed_call = "memfd_create";
        m_error = errno;
        return;
    }
    const std::string text = spec::subtree_json(*request.subtree);
    std::size_t written = 0;
    while (written < text.size()) {
        const ssize_t n = ::write(m_spec.get(), text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            m_failed_call = "write (memfd)";
            m_error = n < 0 ? errno : ENOSPC;
            return;
        }
        written += static_cast<std::size_t>(n);
    }
    m_argv_storage = {"forkspawn", "__nursery", request.options};
    for (auto& arg : m_argv_storage)
        m_argv.push_back(arg.data());
    m_argv.push_back(nullptr);
    m_args.path = "/proc/self/exe";
    m_args.argv = m_argv.data();
    m_args.envp = environ;
    m_args.parent_pid = ::getpid();
    m_args.fd3 = request.channel;
    m_args.fd4 = m_spec.get();
    m_args.fd5 = guardian_fd;
    m_args.fd6 = page_fd;
    m_args.started_slot = request.started_slot;
}

} // namespace forkspawn::backend
