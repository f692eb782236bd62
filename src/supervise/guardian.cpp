#include "forkspawn/guardian.hpp"

#include "forkspawn/guardian_protocol.hpp"
#include "forkspawn/sys.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace forkspawn::supervise {

namespace {

[[noreturn]] void guard(int fd) {
    // Its own process group, so a terminal's Ctrl-C (sent to forkspawn's
    // group) does not reach it; every signal that can be blocked is.
    ::setpgid(0, 0);
    ::prctl(PR_SET_NAME, "forkspawn-guard");
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::syscall(SYS_close_range, 0U, static_cast<unsigned>(fd) - 1, 0U);
    ::syscall(SYS_close_range, static_cast<unsigned>(fd) + 1, ~0U, 0U);
    std::vector<pid_t> groups;
    GuardianMessage m;
    for (;;) {
        const ssize_t n = ::read(fd, &m, sizeof m);
        if (n < 0 && errno == EINTR) continue;
        if (n != static_cast<ssize_t>(sizeof m)) break; // EOF: forkspawn is gone
        if (m.op == '+')
            groups.push_back(m.pgid);
        else if (m.op == '-')
            std::erase(groups, m.pgid);
        else if (m.op == '!')
            groups.clear(); // a normal exit: everything was reaped
    }
    for (pid_t pgid : groups)
        ::kill(-pgid, SIGKILL);
    ::_exit(0);
}

} // namespace

Guardian Guardian::start() {
    auto pipe = sys::make_pipe();
    Guardian g;
    const pid_t pid = ::fork();
    if (pid < 0) sys::fail("fork (guardian)");
    if (pid == 0) {
        pipe.write.release(); // closed by close_range in guard()
        guard(pipe.read.release());
    }
    g.m_pid = pid;
    g.m_pipe = std::move(pipe.write);
    return g;
}

void Guardian::stop() {
    // Everything was reaped: whatever group ids are still registered may
    // belong to someone else by now. Nothing is to be killed.
    guardian_notify(m_pipe.get(), '!', 0);
    m_pipe.reset();
    if (m_pid <= 0) return;
    // It exits as soon as it sees EOF; do not wait forever for it.
    UniqueFd pidfd = sys::pidfd_open(m_pid);
    if (pidfd) {
        pollfd p{pidfd.get(), POLLIN, 0};
        if (::poll(&p, 1, 2000) <= 0) ::kill(m_pid, SIGKILL);
    }
    ::waitpid(m_pid, nullptr, 0);
    m_pid = -1;
}

Guardian::~Guardian() {
    if (m_pid > 0) stop();
}

} // namespace forkspawn::supervise
