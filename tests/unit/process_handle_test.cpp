// SPDX-License-Identifier: MIT
// The process handle: signals reach only a process it holds; after the
// reap it can signal nothing. Real child processes, each waited for.
#include "forkspawn/process_handle.hpp"

#include "forkspawn/sys.hpp"

#include <csignal>
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace forkspawn;

namespace {

// A child in a process group of its own that waits for a signal.
ProcessHandle start_child() {
    // Every signal blocked across the fork: one sent at once must not run
    // the test framework's handler in the child before its execve.
    sigset_t all, old;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, &old);
    const pid_t pid = ::fork();
    if (pid == 0) {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        for (int signo = 1; signo < NSIG; ++signo)
            if (signo != SIGKILL && signo != SIGSTOP) ::sigaction(signo, &dfl, nullptr);
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        ::setpgid(0, 0);
        ::execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    REQUIRE(pid > 0);
    ::setpgid(pid, pid); // both sides: no race with the child's own call
    UniqueFd fd = sys::pidfd_open(pid);
    REQUIRE(fd);
    return ProcessHandle(pid, std::move(fd));
}

void wait_exit(const ProcessHandle& h) {
    pollfd p{h.fd(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 10000) == 1); // a generous bound, never reached
}

} // namespace

TEST_CASE("process handle: signal, exit status, and nothing after the reap") {
    ProcessHandle h = start_child();
    const pid_t pid = h.pid();
    CHECK(h);
    CHECK(h.leads_group());
    CHECK(h.group() == pid);
    CHECK_FALSE(h.exited());
    CHECK_FALSE(h.reap()); // running: nothing reaped
    CHECK(h.signal(SIGTERM) == 0);
    wait_exit(h);
    CHECK(h.exited());
    const auto status = h.reap();
    REQUIRE(status);
    CHECK(status->signal == SIGTERM);
    CHECK_FALSE(status->exit_code);
    // Reaped: its pid may be anyone's now, and the handle sends nothing.
    CHECK_FALSE(h);
    CHECK(h.pid() == -1);
    errno = 0;
    CHECK(h.signal(SIGKILL) == -1);
    CHECK(errno == ESRCH);
    CHECK(h.signal_group(SIGKILL) == -1);
    CHECK_FALSE(h.leads_group());
    CHECK(::waitpid(pid, nullptr, WNOHANG) == -1); // reaped once, by the handle
}

TEST_CASE("process handle: the group signal reaches the group the process started") {
    ProcessHandle h = start_child();
    CHECK(h.signal_group(SIGKILL) == 0);
    wait_exit(h);
    const auto status = h.reap();
    REQUIRE(status);
    CHECK(status->signal == SIGKILL);
}

TEST_CASE("process handle: a process reaped elsewhere is reported lost, not waited for") {
    ProcessHandle h = start_child();
    const pid_t pid = h.pid();
    ::kill(pid, SIGKILL);
    REQUIRE(::waitpid(pid, nullptr, 0) == pid); // someone else reaps it
    bool lost = false;
    const auto status = h.reap(&lost);
    REQUIRE(status);
    CHECK(lost);
    CHECK(status->signal == SIGKILL);
    CHECK_FALSE(h);
}

TEST_CASE("process handle: an exit code is an exit code") {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(7);
    REQUIRE(pid > 0);
    ProcessHandle h(pid, sys::pidfd_open(pid));
    REQUIRE(h);
    wait_exit(h);
    const auto status = h.reap();
    REQUIRE(status);
    CHECK(status->exit_code == 7);
    CHECK_FALSE(status->signal);
}
