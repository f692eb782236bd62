#include "forkspawn/guardian.hpp"

#include "forkspawn/guardian_protocol.hpp"
#include "forkspawn/spawn_args.hpp"
#include "forkspawn/sweep.hpp"
#include "forkspawn/sys.hpp"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <map>
#include <poll.h>
#include <string>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace forkspawn::supervise {

namespace {

[[noreturn]] void guard(int fd, const std::string& id) {
    // Its own process group, so a terminal's Ctrl-C (sent to forkspawn's
    // group) does not reach it; every signal that can be blocked is.
    ::setpgid(0, 0);
    ::prctl(PR_SET_NAME, "forkspawn-guard");
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    backend::close_fds_from(0, fd);
    std::vector<pid_t> groups;
    bool normal_exit = false;
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
            normal_exit = true; // everything was reaped
        else if (m.op == 'K')
            break; // forkspawn failed: kill everything now, it waits for us
    }
    if (normal_exit) ::_exit(0);
    for (pid_t pgid : groups)
        ::kill(-pgid, SIGKILL);
    const SweepResult swept = sweep_tree(id, 0, {}, Clock::now() + k_guardian_sweep_limit);
    ::_exit(swept.complete ? 0 : 1);
}

// A value no other process has: 128 random bits.
std::string tree_id() {
    unsigned char bytes[16] = {};
    for (std::size_t got = 0; got < sizeof bytes;) {
        const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) sys::fail("getrandom");
        got += static_cast<std::size_t>(n);
    }
    std::string id;
    for (unsigned char b : bytes)
        id += fmt::format("{:02x}", b);
    return id;
}

} // namespace

Guardian Guardian::start() {
    // Before the fork and before any thread: setenv is safe, and every
    // process of the tree inherits the variable from here on (a forkspawn
    // started by an actor gets a tree of its own).
    const std::string id = tree_id();
    const std::string value = tree_value(id, ::getenv(k_tree_variable));
    if (::setenv(k_tree_variable, value.c_str(), 1) < 0) sys::fail("setenv");
    auto pipe = sys::make_pipe();
    Guardian g;
    const pid_t pid = ::fork();
    if (pid < 0) sys::fail("fork (guardian)");
    if (pid == 0) {
        pipe.write.release(); // closed by close_fds_from in guard()
        guard(pipe.read.release(), id);
    }
    g.m_pid = pid;
    g.m_pipe = std::move(pipe.write);
    g.m_id = id;
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

bool Guardian::kill_tree(TimePoint until) noexcept {
    guardian_notify(m_pipe.get(), 'K', 0);
    m_pipe.reset();
    if (m_pid <= 0) return false;
    bool clean = false;
    UniqueFd pidfd = sys::pidfd_open(m_pid);
    if (pidfd) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        pollfd p{pidfd.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 0))) <= 0)
            ::kill(m_pid, SIGKILL);
    }
    int status = 0;
    if (sys::retry_eintr([&] { return ::waitpid(m_pid, &status, 0); }) == m_pid)
        clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    m_pid = -1;
    return clean;
}

Guardian::~Guardian() {
    // Only an unwinding exception gets here with the guardian running: the
    // run did not end normally, so nothing may be left alive.
    if (m_pid > 0) kill_tree(Clock::now() + k_guardian_sweep_limit);
}

} // namespace forkspawn::supervise
