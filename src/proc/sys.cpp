// SPDX-License-Identifier: MIT
#include "forkspawn/sys.hpp"

#include "forkspawn/error.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace forkspawn::sys {

void fail(const std::string& what, int err) {
    throw Error(what + ": " + errno_text(err), 1);
}

UniqueFd pidfd_open(pid_t pid) {
    return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

int pidfd_send_signal(int pidfd, int signo) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr, 0));
}

UniqueFd make_epoll() {
    UniqueFd fd(::epoll_create1(EPOLL_CLOEXEC));
    if (!fd) fail("epoll_create1");
    return fd;
}

UniqueFd make_eventfd() {
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) fail("eventfd");
    return fd;
}

void set_nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) fail("fcntl(O_NONBLOCK)");
}

std::string read_all(int fd) {
    std::string text;
    char buf[16384];
    ssize_t n;
    while ((n = retry_eintr([&] { return ::read(fd, buf, sizeof buf); })) > 0)
        text.append(buf, static_cast<std::size_t>(n));
    return text;
}

int thread_count() {
    DIR* task = ::opendir("/proc/self/task"); // O_CLOEXEC
    if (!task) return -1;
    int count = 0;
    errno = 0;
    while (const dirent* entry = ::readdir(task))
        if (entry->d_name[0] != '.') ++count;
    const int err = errno;
    ::closedir(task);
    errno = err;
    return err ? -1 : count;
}

Pipe make_pipe(int flags) {
    int fds[2];
    if (::pipe2(fds, flags | O_CLOEXEC) < 0) fail("pipe2");
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

} // namespace forkspawn::sys
