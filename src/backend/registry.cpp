// SPDX-License-Identifier: MIT
#include "forkspawn/backend.hpp"
#include "forkspawn/error.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace forkspawn::backend {

std::unique_ptr<Backend> make_forkserver_thread();
std::unique_ptr<Backend> make_loop_spawn();
std::unique_ptr<Backend> make_mp_forkserver();

namespace {

// What every backend needs of the kernel, probed at start so that an old
// kernel is a clear error rather than every spawn failing: pidfds for
// race-free handles (pidfd_open, Linux 5.3; waitid(P_PIDFD), 5.4), and a
// way to mark every inherited fd close-on-exec in a child
// (close_range(CLOSE_RANGE_CLOEXEC), 5.11, or else /proc/self/fd).
std::string probe_kernel() {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
    if (fd < 0) return "pidfd_open is not supported by this kernel (needs Linux 5.3)";
    // Ourselves: not our child, so ECHILD where P_PIDFD is known.
    siginfo_t info{};
    const bool waitid_works = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &info,
                                       WEXITED | WNOHANG) == 0 ||
                              errno != EINVAL;
    ::close(fd);
    if (!waitid_works) return "waitid(P_PIDFD) is not supported by this kernel (needs Linux 5.4)";
    if (!close_range_cloexec_works()) {
        const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
            return fmt::format("close_range(CLOSE_RANGE_CLOEXEC) is not supported by this kernel "
                               "(needs Linux 5.11), and /proc/self/fd, read instead, cannot be "
                               "opened: {}",
                               errno_text(errno));
        ::close(dir);
    }
    return {};
}

} // namespace

std::vector<BackendInfo> list_backends() {
    const std::string kernel_problem = probe_kernel();
    std::vector<BackendInfo> out{
        {"subint_forkserver",
         "one long-lived forkserver thread of the supervisor: vfork-style clone + execve for "
         "commands, fork() for nurseries",
         "",
         kernel_problem.empty(), kernel_problem},
        {"main_thread_forkserver", "alias of subint_forkserver", "subint_forkserver",
         kernel_problem.empty(), kernel_problem},
        {"trio",
         "a fresh process image from the event loop thread: vfork-style clone + execve for "
         "commands, re-exec of /proc/self/exe for nurseries",
         "", kernel_problem.empty(), kernel_problem},
        {"mp_forkserver",
         "a small single-threaded forkserver process, started on the first spawn, forks on "
         "request over a unix socket",
         "", kernel_problem.empty(), kernel_problem},
    };
    return out;
}

std::string canonical_key(std::string_view key) {
    for (const auto& info : list_backends())
        if (info.key == key) return info.alias_of.empty() ? info.key : info.alias_of;
    return {};
}

std::unique_ptr<Backend> make_backend(std::string_view key) {
    if (key == "subint_forkserver") return make_forkserver_thread();
    if (key == "trio") return make_loop_spawn();
    if (key == "mp_forkserver") return make_mp_forkserver();
    return nullptr;
}

StartedPage map_started_page(int fd) {
    struct stat st;
    if (fd < 0 || ::fstat(fd, &st) < 0 || st.st_size <= 0) return {};
    void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE,
                     MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return {};
    return {fd, static_cast<std::int32_t*>(p),
            static_cast<std::size_t>(st.st_size) / sizeof(std::int32_t)};
}

} // namespace forkspawn::backend
