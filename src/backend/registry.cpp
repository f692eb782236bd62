#include "forkspawn/backend.hpp"

#include <sys/syscall.h>
#include <unistd.h>

namespace forkspawn::backend {

std::unique_ptr<Backend> make_forkserver_thread();
std::unique_ptr<Backend> make_loop_spawn();
std::unique_ptr<Backend> make_mp_forkserver();

namespace {

// pidfds (Linux 5.3+) are required by every backend for race-free handles.
std::string probe_pidfd() {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
    if (fd < 0) return "pidfd_open is not supported by this kernel (needs Linux 5.3)";
    ::close(fd);
    return {};
}

} // namespace

std::vector<BackendInfo> list_backends() {
    const std::string pidfd_problem = probe_pidfd();
    std::vector<BackendInfo> out{
        {"subint_forkserver",
         "fork() on one long-lived forkserver thread of the supervisor; commands then execve", "",
         pidfd_problem.empty(), pidfd_problem},
        {"main_thread_forkserver", "alias of subint_forkserver", "subint_forkserver",
         pidfd_problem.empty(), pidfd_problem},
        {"trio",
         "a fresh process image from the event loop thread: vfork-style clone + execve for "
         "commands, re-exec of /proc/self/exe for nurseries",
         "", pidfd_problem.empty(), pidfd_problem},
        {"mp_forkserver",
         "a small single-threaded forkserver process, started on the first spawn, forks on "
         "request over a unix socket",
         "", pidfd_problem.empty(), pidfd_problem},
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

} // namespace forkspawn::backend
