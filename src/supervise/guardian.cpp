// SPDX-License-Identifier: MIT
#include "forkspawn/guardian.hpp"

#include "forkspawn/cgroup.hpp"
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
#include <spawn.h>
#include <string>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace forkspawn::supervise {

namespace {

// The guardian's end of its socket, in its own image.
constexpr int k_guardian_fd = 3;

// Starts the guardian as a fresh image (`forkspawn __guardian ID`, its end
// of the socket as fd 3): posix_spawn is safe in a process with threads, so
// the same start serves forkspawn's first guardian and one that replaces a
// dead guardian while the forkserver thread runs. Its own process group (a
// terminal's Ctrl-C, sent to forkspawn's group, does not reach it) and
// every signal that can be blocked blocked, from its first instruction.
pid_t spawn_guardian(int socket_end, const std::string& id, const std::string& cgroup) {
    // Never fd 3 itself: a dup2 onto the same fd keeps close-on-exec.
    UniqueFd end(::fcntl(socket_end, F_DUPFD_CLOEXEC, 10));
    if (!end) sys::fail("fcntl(F_DUPFD_CLOEXEC) (guardian)");
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t actions;
    ::posix_spawnattr_init(&attr);
    ::posix_spawn_file_actions_init(&actions);
    sigset_t all;
    sigfillset(&all);
    ::posix_spawnattr_setsigmask(&attr, &all);
    ::posix_spawnattr_setpgroup(&attr, 0);
    ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    ::posix_spawn_file_actions_adddup2(&actions, end.get(), k_guardian_fd);
    std::string arg0 = "forkspawn", arg1 = "__guardian", arg2 = id, arg3 = cgroup;
    char* argv[] = {arg0.data(), arg1.data(), arg2.data(), cgroup.empty() ? nullptr : arg3.data(),
                    nullptr};
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, "/proc/self/exe", &actions, &attr, argv, environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
    if (rc != 0) sys::fail("posix_spawn (guardian)", rc);
    return pid;
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

int guardian_main(const char* id, const char* cgroup) {
    ::prctl(PR_SET_NAME, "forkspawn-guard");
    backend::close_fds_from(0, k_guardian_fd);
    struct Group {
        pid_t pgid;
        std::uint64_t start; // of its leader; 0: it was gone when registered
    };
    std::vector<Group> groups;
    bool normal_exit = false;
    GuardianMessage m;
    for (;;) {
        const ssize_t n = ::read(k_guardian_fd, &m, sizeof m);
        if (n < 0 && errno == EINTR) continue;
        if (n != static_cast<ssize_t>(sizeof m)) break; // EOF: forkspawn is gone
        if (m.op == '+')
            groups.push_back({m.pgid, m.start ? m.start : process_start_ticks(m.pgid)});
        else if (m.op == '-')
            std::erase_if(groups, [&](const Group& g) { return g.pgid == m.pgid; });
        else if (m.op == '!')
            normal_exit = true; // everything was reaped
        else if (m.op == 'K')
            break; // forkspawn failed: kill everything now, it waits for us
    }
    if (normal_exit) return 0;
    // A group id is the pid of its leader. While the leader (alive or a
    // zombie) has the start it had when registered, or while no process
    // has that pid (the leader was reaped, but members keep the id from
    // being given to a new process), the id is the group's. A process with
    // another start got the pid after the leader was reaped and a '-' was
    // lost: a stranger, never signalled (the sweep below still finds what
    // of the tree is in its group, by marker).
    // The run's cgroup first, atomically: whatever left its group and its
    // marker (a setsid daemon of an env_clear actor) is still in it.
    int run_cgroup = -1;
    if (cgroup) {
        run_cgroup = ::open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        const int kill_fd =
            run_cgroup >= 0 ? ::openat(run_cgroup, "cgroup.kill", O_WRONLY | O_CLOEXEC) : -1;
        if (kill_fd >= 0) {
            [[maybe_unused]] const ssize_t n = ::write(kill_fd, "1", 1);
            ::close(kill_fd);
        }
    }
    for (const Group& g : groups) {
        const std::uint64_t now = process_start_ticks(g.pgid);
        if (now == 0 || now == g.start) ::kill(-g.pgid, SIGKILL);
    }
    const TimePoint until = Clock::now() + k_guardian_sweep_limit;
    const SweepResult swept = sweep_tree(id, 0, {}, until);
    // Then the cgroups forkspawn made, once the kernel has emptied them.
    bool removed = true;
    if (run_cgroup >= 0) {
        ::close(run_cgroup);
        removed = cgroup::remove_tree(cgroup, until);
    }
    return swept.complete && removed ? 0 : 1;
}

namespace {

// A SOCK_SEQPACKET pair: each message is a record, and a send to a guardian
// that died fails with EPIPE (MSG_NOSIGNAL) instead of raising SIGPIPE in
// a child between its fork and its execve.
std::pair<UniqueFd, UniqueFd> make_socket() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
        sys::fail("socketpair (guardian)");
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

} // namespace

Guardian Guardian::start(const std::string& cgroup_parent) {
    // Before any thread: setenv is safe, and every process of the tree
    // inherits the variable from here on (a forkspawn started by an actor
    // adds an id of its own).
    const std::string id = tree_id();
    const std::string value = tree_value(id, ::getenv(k_tree_variable));
    if (::setenv(k_tree_variable, value.c_str(), 1) < 0) sys::fail("setenv");
    auto [ours, theirs] = make_socket();
    Guardian g;
    g.m_id = id;
    g.m_cgroup_parent = cgroup_parent;
    g.m_pid = spawn_guardian(theirs.get(), id, g.cgroup_path());
    g.m_pipe = std::move(ours);
    return g;
}

void Guardian::restart() {
    auto [ours, theirs] = make_socket();
    const pid_t pid = spawn_guardian(theirs.get(), m_id, cgroup_path());
    // The same fd number: whoever holds it in this process (the backend,
    // the forkserver thread mid-fork) now talks to the new guardian, and no
    // fd number is ever closed under them.
    if (::dup3(ours.get(), m_pipe.get(), O_CLOEXEC) < 0) {
        const int err = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        sys::fail("dup3 (guardian)", err);
    }
    m_pid = pid;
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
