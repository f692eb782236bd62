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

// State and parent of a process, from /proc/PID/stat; state 0 when gone.
struct Stat {
    char state = 0;
    pid_t ppid = 0;
};

Stat read_stat(pid_t pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return {};
    char buf[512];
    const ssize_t n = sys::retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf - 1); });
    if (n <= 0) return {};
    buf[n] = '\0';
    const char* paren = std::strrchr(buf, ')'); // the name may hold spaces and parens
    Stat s;
    if (!paren || std::sscanf(paren + 1, " %c %d", &s.state, &s.ppid) != 2) return {};
    return s;
}

bool alive(const UniqueFd& pidfd) {
    pollfd p{pidfd.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0; // a pidfd is readable once its process exited
}

} // namespace

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

bool process_in_tree(pid_t pid, std::string_view id) {
    if (id.empty()) return false;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/environ", pid);
    UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return false; // gone, or not ours to read
    const std::string text = sys::read_all(fd.get());
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

SweepResult sweep_tree(std::string_view id, pid_t parent, const std::vector<pid_t>& spare,
                       TimePoint until) {
    SweepResult result;
    std::map<pid_t, UniqueFd> stopped, killed;
    const pid_t self = ::getpid();
    // One pass over /proc: SIGSTOPs what is new; returns how many.
    const auto scan = [&]() -> std::size_t {
        DIR* proc = ::opendir("/proc");
        if (!proc) return 0;
        std::size_t found = 0;
        while (const dirent* e = ::readdir(proc)) {
            char* end = nullptr;
            const long number = std::strtol(e->d_name, &end, 10);
            const auto pid = static_cast<pid_t>(number);
            if (number <= 0 || *end != '\0' || pid == self ||
                std::find(spare.begin(), spare.end(), pid) != spare.end())
                continue;
            bool known = false;
            for (auto* seen : {&stopped, &killed}) {
                if (const auto it = seen->find(pid); it != seen->end()) {
                    if (alive(it->second))
                        known = true;
                    else
                        seen->erase(it); // it exited: the pid may be someone new
                }
            }
            if (known) continue;
            // The pidfd first: what is read next is about this process, and
            // a signal through the pidfd can only reach it.
            UniqueFd pidfd = sys::pidfd_open(pid);
            if (!pidfd) continue;
            const Stat st = read_stat(pid);
            if (st.state == 0 || st.state == 'Z' || st.state == 'X') continue;
            if (!(parent > 0 && st.ppid == parent) && !process_in_tree(pid, id)) continue;
            if (sys::pidfd_send_signal(pidfd.get(), SIGSTOP) == 0) {
                stopped.emplace(pid, std::move(pidfd));
                ++found;
            }
        }
        ::closedir(proc);
        return found;
    };
    // A process in the middle of execve shows an empty environment for a
    // moment: "nothing found" counts only when two scans 5 ms apart agree.
    const auto pause = [] {
        const timespec t{0, 5'000'000};
        ::nanosleep(&t, nullptr);
    };
    int quiet = 0;
    while (Clock::now() < until) {
        if (scan() > 0) {
            quiet = 0;
            continue; // stop what the stopped ones forked before they stopped
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
        for (auto& [pid, pidfd] : stopped) {
            if (sys::pidfd_send_signal(pidfd.get(), SIGKILL) == 0) ++result.killed;
            killed.emplace(pid, std::move(pidfd));
        }
        stopped.clear();
        quiet = 0;
    }
    // Out of time: nothing may stay stopped for ever.
    for (auto& [pid, pidfd] : stopped)
        if (sys::pidfd_send_signal(pidfd.get(), SIGKILL) == 0) ++result.killed;
    return result;
}

} // namespace forkspawn::supervise
