// SPDX-License-Identifier: MIT
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

// Calls a recv-like f() until it does not fail with EINTR, nor with the
// ECONNRESET of a unix datagram or seqpacket socket whose peer closed with
// messages from us unread. Linux reports that error once, before the
// messages the peer sent ahead of closing; they are still queued, and the
// next call returns them, then EOF.
template <typename F> auto retry_recv(F&& f) {
    bool reset_seen = false;
    for (;;) {
        auto r = f();
        if (r == -1 && errno == EINTR) continue;
        if (r == -1 && errno == ECONNRESET && !reset_seen) {
            reset_seen = true;
            continue;
        }
        return r;
    }
}

// Throws Error("<what>: <strerror> (<ENAME>)").
[[noreturn]] void fail(const std::string& what, int err = errno);

UniqueFd pidfd_open(pid_t pid);              // -1 in the UniqueFd on failure, errno set
int pidfd_send_signal(int pidfd, int signo); // 0 or -1 with errno
// Everything left to read from fd (blocking reads; for /proc files), up to
// EOF or the first error.
std::string read_all(int fd);
// The threads of this process (entries of /proc/self/task), or -1 with errno.
int thread_count();
UniqueFd make_epoll();
UniqueFd make_eventfd();
void set_nonblocking(int fd);

struct Pipe {
    UniqueFd read;
    UniqueFd write;
};
Pipe make_pipe(int flags = 0); // O_CLOEXEC always added; throws on failure

} // namespace forkspawn::sys
