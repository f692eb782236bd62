// Thin syscall wrappers: each retries EINTR where that is safe and throws
// forkspawn::Error naming the call and the errno text when a failure is fatal.
// pidfd calls go through syscall(2) so no particular libc is required.
#pragma once

#include "forkspawn/unique_fd.hpp"

#include <cerrno>
#include <csignal>
#include <string>
#include <sys/types.h>

namespace forkspawn::sys {

// Calls f() until it does not fail with EINTR.
template <typename F> auto retry_eintr(F&& f) {
    for (;;) {
        auto r = f();
        if (r == -1 && errno == EINTR) continue;
        return r;
    }
}

// Throws Error("<what>: <strerror> (<ENAME>)").
[[noreturn]] void fail(const std::string& what, int err = errno);

UniqueFd pidfd_open(pid_t pid);              // -1 in the UniqueFd on failure, errno set
int pidfd_send_signal(int pidfd, int signo); // 0 or -1 with errno
UniqueFd make_epoll();
UniqueFd make_eventfd();
void set_nonblocking(int fd);

struct Pipe {
    UniqueFd read;
    UniqueFd write;
};
Pipe make_pipe(int flags = 0); // O_CLOEXEC always added; throws on failure

} // namespace forkspawn::sys
