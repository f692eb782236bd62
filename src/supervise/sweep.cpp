// SPDX-License-Identifier: MIT
#include "forkspawn/sweep.hpp"

#include "forkspawn/sys.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <functional>
#include <optional>
#include <map>
#include <poll.h>
#include <unistd.h>

namespace forkspawn::supervise {

namespace {

bool well_formed_id(std::string_view s) {
    return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// Calls f(token) for each ':'-separated token of `value`.
template <typename F> void for_each_id(std::string_view value, F&& f) {
    while (!value.empty()) {
        const std::size_t colon = value.find(':');
        f(value.substr(0, colon));
        if (colon == std::string_view::npos) break;
        value.remove_prefix(colon + 1);
    }
}

// State, parent, process group and start (field 22, clock ticks since
// boot) of a process, from /proc/PID/stat; state 0 when gone.
struct Stat {
    char state = 0;
    pid_t ppid = 0;
    pid_t pgrp = 0;
    unsigned long long start = 0;
};

Stat read_stat(pid_t pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return {};
    char buf[1024];
    const ssize_t n = sys::retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf - 1); });
    if (n <= 0) return {};
    buf[n] = '\0';
    const char* paren = std::strrchr(buf, ')'); // the name may hold spaces and parens
    Stat s;
    // Fields 3-5, then 6-21 skipped (session to itrealvalue), then 22.
    if (!paren ||
        std::sscanf(paren + 1,
                    " %c %d %d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d"
                    " %llu",
                    &s.state, &s.ppid, &s.pgrp, &s.start) != 4)
        return {};
    return s;
}

bool alive(const UniqueFd& pidfd) {
    pollfd p{pidfd.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0; // a pidfd is readable once its process exited
}

} // namespace

std::uint64_t process_start_ticks(pid_t pid) {
    return read_stat(pid).start;
}

bool tree_value_has(std::string_view value, std::string_view id) {
    bool found = false;
    for_each_id(value, [&](std::string_view token) { found = found || token == id; });
    return found && !id.empty();
}

std::string tree_value(std::string_view id, const char* inherited) {
    std::string out(id);
    std::size_t depth = 1;
    if (inherited)
        for_each_id(inherited, [&](std::string_view token) {
            if (depth < k_tree_max_depth && well_formed_id(token) && token != id) {
                out += ':';
                out += token;
                ++depth;
            }
        });
    return out;
}

namespace {

bool environ_has_tree(const char* path, std::string_view id, bool& read_any) {
    UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return false; // gone, or not ours to read
    const std::string text = sys::read_all(fd.get());
    read_any = read_any || !text.empty();
    const std::string_view prefix = "FORKSPAWN_TREE=";
    std::string_view rest(text);
    while (!rest.empty()) {
        const std::size_t nul = rest.find('\0');
        const std::string_view entry = rest.substr(0, nul);
        if (entry.starts_with(prefix) && tree_value_has(entry.substr(prefix.size()), id))
            return true;
        if (nul == std::string_view::npos) break;
        rest.remove_prefix(nul + 1);
    }
    return false;
}

} // namespace

bool process_in_tree(pid_t pid, std::string_view id) {
    if (id.empty()) return false;
    char path[96];
    std::snprintf(path, sizeof path, "/proc/%d/environ", pid);
    bool read_any = false;
    if (environ_has_tree(path, id, read_any)) return true;
    if (read_any) return false;
    // Nothing to read: a process whose main thread has exited while others
    // run on (its leader has no memory any more). A living thread shows the
    // environment they share.
    std::snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR* tasks = ::opendir(path);
    if (!tasks) return false;
    bool found = false;
    while (const dirent* t = ::readdir(tasks)) {
        if (t->d_name[0] == '.' || std::atoi(t->d_name) == pid) continue;
        std::snprintf(path, sizeof path, "/proc/%d/task/%.20s/environ", pid, t->d_name);
        found = environ_has_tree(path, id, read_any);
        if (read_any) break;
    }
    ::closedir(tasks);
    return found;
}

bool exited(pid_t pid) {
    const UniqueFd pidfd = sys::pidfd_open(pid);
    return !pidfd || !alive(pidfd);
}

SweepResult sweep_tree(std::string_view id, pid_t parent, const std::vector<pid_t>& spare,
                       TimePoint until, const std::vector<pid_t>& first) {
    SweepResult result;
    std::map<pid_t, UniqueFd> stopped, killed;
    // Leaders of their process group found in the tree: whether they are
    // our own children, and whether the group as a whole was stopped.
    struct Leader {
        bool ours = false;
        bool done = false;
    };
    std::map<pid_t, Leader> leaders;
    const pid_t self = ::getpid();
    const pid_t own_group = ::getpgrp();
    const auto spared = [&](pid_t pid) {
        return std::find(spare.begin(), spare.end(), pid) != spare.end();
    };
    // Examines one pid: SIGSTOPs it when it is of the tree and new; true then.
    const auto examine = [&](pid_t pid) -> bool {
        if (pid <= 0 || pid == self || spared(pid)) return false;
        for (auto* seen : {&stopped, &killed}) {
            if (const auto it = seen->find(pid); it != seen->end()) {
                if (alive(it->second)) return false;
                seen->erase(it); // it exited: the pid may be someone new
                leaders.erase(pid);
            }
        }
        // The pidfd first: what is read next is about this process, and
        // a signal through the pidfd can only reach it.
        UniqueFd pidfd = sys::pidfd_open(pid);
        if (!pidfd) return false;
        const Stat st = read_stat(pid);
        // A leader shown as 'Z' may still have living threads: only the
        // pidfd says whether the process as a whole has exited.
        if (st.state == 0 || !alive(pidfd)) return false;
        if (!(parent > 0 && st.ppid == parent) && !process_in_tree(pid, id)) return false;
        if (sys::pidfd_send_signal(pidfd.get(), SIGSTOP) != 0) return false;
        stopped.emplace(pid, std::move(pidfd));
        if (st.pgrp == pid && pid != own_group) leaders.emplace(pid, Leader{st.ppid == self});
        return true;
    };
    // A leader of its group holds the group id: no other process can be
    // given it while the leader is not reaped, so its group may be
    // signalled by id while we know that: the leader is our own child (only
    // we reap it), or it is seen stopped (it cannot exit on its own). One
    // signal then reaches every member at once, including those forked
    // since the last pass over /proc (a fork bomb's new processes). Never
    // the groups of spared processes.
    bool leaders_pending = false; // a leader is not seen stopped yet
    const auto stop_groups = [&]() -> std::size_t {
        std::size_t groups = 0;
        leaders_pending = false;
        for (auto& [pid, leader] : leaders) {
            const auto it = stopped.find(pid);
            if (leader.done || it == stopped.end() || !(leader.ours || alive(it->second)))
                continue;
            if (!leader.ours) {
                const char state = read_stat(pid).state;
                // Not stopped yet: next pass. A leader whose main thread
                // has exited never shows 'T': its group is not signalled
                // by id, its members are found one by one.
                if (state != 'T') {
                    leaders_pending = leaders_pending || state != 'Z';
                    continue;
                }
            }
            if (std::any_of(spare.begin(), spare.end(),
                            [&](pid_t s) { return s > 0 && read_stat(s).pgrp == pid; }))
                continue;
            if (::kill(-pid, SIGSTOP) == 0) ++groups;
            leader.done = true;
        }
        return groups;
    };
    const auto kill_groups = [&] {
        for (auto& [pid, leader] : leaders) {
            const auto it = stopped.find(pid);
            if (leader.done && it != stopped.end() && (leader.ours || alive(it->second)))
                ::kill(-pid, SIGKILL);
        }
    };
    // One pass over /proc: SIGSTOPs what is new; returns how many.
    const auto scan = [&]() -> std::size_t {
        std::size_t found = 0;
        for (pid_t pid : first)
            found += examine(pid) ? 1 : 0;
        found += stop_groups();
        DIR* proc = ::opendir("/proc");
        if (!proc) return found;
        while (const dirent* e = ::readdir(proc)) {
            char* end = nullptr;
            const long number = std::strtol(e->d_name, &end, 10);
            if (number <= 0 || *end != '\0') continue;
            found += examine(static_cast<pid_t>(number)) ? 1 : 0;
        }
        ::closedir(proc);
        return found + stop_groups();
    };
    // A process in the middle of execve shows an empty environment for a
    // moment: "nothing found" counts only when two scans 5 ms apart agree.
    const auto pause = [] {
        const timespec t{0, 5'000'000};
        ::nanosleep(&t, nullptr);
    };
    const auto kill_stopped = [&] {
        kill_groups(); // while their leaders still hold the group ids
        for (auto& [pid, pidfd] : stopped) {
            if (sys::pidfd_send_signal(pidfd.get(), SIGKILL) == 0) ++result.killed;
            killed.emplace(pid, std::move(pidfd));
        }
        stopped.clear();
        leaders.clear();
    };
    int quiet = 0;
    while (Clock::now() < until) {
        if (scan() > 0) {
            quiet = 0;
            continue; // stop what the stopped ones forked before they stopped
        }
        if (leaders_pending) {
            pause(); // its group is stopped whole before anything is killed
            continue;
        }
        if (stopped.empty()) {
            if (++quiet == 2) {
                result.complete = true;
                break;
            }
            pause();
            continue;
        }
        // Nothing new: everything found is stopped and cannot fork any more.
        kill_stopped();
        quiet = 0;
    }
    // Out of time: nothing may stay stopped for ever.
    kill_stopped();
    return result;
}

namespace {

// Our children from /proc/self/task/*/children (every thread's: the
// forkserver thread's children are ours too): O(children), where the
// /proc/N/stat scan below is O(processes on the machine), 6-10 ms on a
// busy host at every exit. proc(5) warns the list can miss a child that
// is created or exits during the read; kill_escaped reads until it is
// empty twice in a row. Empty optional: a kernel without these files.
std::optional<std::vector<pid_t>> children_from_task_lists() {
    DIR* tasks = ::opendir("/proc/self/task");
    if (!tasks) return std::nullopt;
    std::vector<pid_t> out;
    bool listed = false;
    while (dirent* t = ::readdir(tasks)) {
        if (t->d_name[0] == '.') continue;
        const std::string path = fmt::format("/proc/self/task/{}/children", t->d_name);
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT && std::atoi(t->d_name) == ::getpid()) break; // no such file
            continue; // that thread exited meanwhile
        }
        listed = true;
        const std::string text = sys::read_all(fd.get());
        const char* p = text.c_str();
        for (;;) {
            char* end = nullptr;
            const long pid = std::strtol(p, &end, 10);
            if (end == p) break;
            out.push_back(static_cast<pid_t>(pid));
            p = end;
        }
    }
    ::closedir(tasks);
    if (!listed) return std::nullopt;
    return out;
}
} // namespace

std::vector<pid_t> living_children() {
    if (auto listed = children_from_task_lists()) return std::move(*listed);
    std::vector<pid_t> out;
    const pid_t self = ::getpid();
    DIR* proc = ::opendir("/proc");
    if (!proc) return out;
    while (dirent* entry = ::readdir(proc)) {
        const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
        if (pid <= 0) continue;
        char path[64];
        std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
        UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
        if (!fd) continue;
        char buf[512];
        const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
        if (n <= 0) continue;
        buf[n] = '\0';
        const char* paren = std::strrchr(buf, ')');
        if (!paren) continue;
        char state = 0;
        int ppid = 0;
        if (std::sscanf(paren + 1, " %c %d", &state, &ppid) == 2 && ppid == self)
            out.push_back(pid);
    }
    ::closedir(proc);
    return out;
}


bool kill_escaped(std::string_view id, const std::function<std::vector<pid_t>()>& spared,
                  TimePoint until, const std::function<void()>& reap,
                  const std::function<void(std::size_t)>& killed) {
    int empty_reads = 0;
    for (;;) {
        reap();
        const std::vector<pid_t> spare = spared();
        auto children = living_children();
        for (pid_t pid : spare)
            std::erase(children, pid);
        // A child that exited, listed before its reap, is no survivor.
        std::erase_if(children, [](pid_t pid) { return exited(pid); });
        empty_reads = children.empty() ? empty_reads + 1 : 0;
        if (empty_reads == 2) return true;
        if (Clock::now() >= until) return false;
        if (children.empty()) continue;
        const SweepResult swept = sweep_tree(id, ::getpid(), spare, until, children);
        if (swept.killed > 0) killed(swept.killed);
        // Wait (bounded) for the deaths of this round, all of them, so the
        // reap above finds them and the next round does not find the dying
        // again.
        std::vector<pollfd> waits;
        std::vector<UniqueFd> handles;
        for (pid_t pid : children)
            if (UniqueFd h = sys::pidfd_open(pid)) {
                waits.push_back({h.get(), POLLIN, 0});
                handles.push_back(std::move(h));
            }
        const TimePoint round_end =
            std::min<TimePoint>(until, Clock::now() + std::chrono::milliseconds(100));
        while (!waits.empty()) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(round_end - Clock::now());
            if (left.count() <= 0 ||
                ::poll(waits.data(), waits.size(), static_cast<int>(left.count())) <= 0)
                break;
            std::erase_if(waits, [](const pollfd& p) { return p.revents != 0; });
        }
    }
}

} // namespace forkspawn::supervise
