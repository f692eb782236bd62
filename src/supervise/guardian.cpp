#include "forkspawn/guardian.hpp"

#include "forkspawn/guardian_protocol.hpp"
#include "forkspawn/sys.hpp"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/close_range.h>
#include <map>
#include <poll.h>
#include <string>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace forkspawn::supervise {

namespace {

// Whether /proc/PID/environ holds `marker` ("NAME=value") as a whole entry.
bool environ_has(pid_t pid, const std::string& marker) {
    UniqueFd fd(::open(fmt::format("/proc/{}/environ", pid).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return false; // gone, or not ours to read
    const std::string text = '\0' + sys::read_all(fd.get()) + '\0';
    return text.find('\0' + marker + '\0') != std::string::npos;
}

// SIGKILLs every process whose environment carries `marker`: the tree's
// processes that left their group (setsid daemons). Sweeps again until two
// in a row find nothing new: a process found may have forked meanwhile, and
// one in the middle of execve shows an empty environment for a moment. Each
// kill goes through a pidfd opened before the environment was read, so a
// pid reused by a stranger in between is never signalled.
void sweep(const std::string& marker) {
    std::map<pid_t, UniqueFd> killed;
    int quiet_rounds = 0;
    for (int round = 0; round < 100 && quiet_rounds < 2; ++round) {
        if (quiet_rounds > 0) {
            const timespec pause{0, 5'000'000}; // long enough for an execve to finish
            ::nanosleep(&pause, nullptr);
        }
        DIR* proc = ::opendir("/proc");
        if (!proc) return;
        bool found_new = false;
        while (const dirent* e = ::readdir(proc)) {
            char* end = nullptr;
            const long pid = std::strtol(e->d_name, &end, 10);
            if (pid <= 0 || *end != '\0' || pid == ::getpid()) continue;
            if (const auto it = killed.find(static_cast<pid_t>(pid)); it != killed.end()) {
                pollfd p{it->second.get(), POLLIN, 0};
                if (::poll(&p, 1, 0) == 0) continue; // dying already
                killed.erase(it);                    // exited: the pid is someone new
            }
            UniqueFd pidfd = sys::pidfd_open(static_cast<pid_t>(pid));
            if (!pidfd || !environ_has(static_cast<pid_t>(pid), marker)) continue;
            if (sys::pidfd_send_signal(pidfd.get(), SIGKILL) == 0) {
                killed.emplace(static_cast<pid_t>(pid), std::move(pidfd));
                found_new = true;
            }
        }
        ::closedir(proc);
        quiet_rounds = found_new ? 0 : quiet_rounds + 1;
    }
}

[[noreturn]] void guard(int fd, const std::string& marker) {
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
    }
    if (normal_exit) ::_exit(0);
    for (pid_t pgid : groups)
        ::kill(-pgid, SIGKILL);
    sweep(marker);
    ::_exit(0);
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
    if (::setenv(k_tree_variable, id.c_str(), 1) < 0) sys::fail("setenv");
    const std::string marker = fmt::format("{}={}", k_tree_variable, id);
    auto pipe = sys::make_pipe();
    Guardian g;
    const pid_t pid = ::fork();
    if (pid < 0) sys::fail("fork (guardian)");
    if (pid == 0) {
        pipe.write.release(); // closed by close_range in guard()
        guard(pipe.read.release(), marker);
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
