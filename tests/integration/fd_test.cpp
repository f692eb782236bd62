// SPDX-License-Identifier: MIT
// Fd hygiene of every kind of process forkspawn makes, seen from outside
// through /proc while a tree runs: an actor, a sub-supervisor (forked
// without exec, or a re-executed image), the mp_forkserver server and the
// guardian each hold exactly the fds they need, nothing of their parent's;
// also on the close_range of an older kernel (a preloaded shim fakes it).
#include "forkspawn/cgroup.hpp"
#include "harness.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace forkspawn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// The children of `pid`, from every thread's /proc/PID/task/TID/children.
std::vector<pid_t> children_of(pid_t pid) {
    std::vector<pid_t> out;
    const std::string tasks = fmt::format("/proc/{}/task", pid);
    DIR* dir = ::opendir(tasks.c_str());
    if (!dir) return out;
    while (const dirent* e = ::readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream in(tasks + "/" + e->d_name + "/children");
        for (pid_t child; in >> child;)
            out.push_back(child);
    }
    ::closedir(dir);
    return out;
}

struct TreeProcess {
    pid_t pid;
    pid_t parent;
    std::string comm;
    std::map<int, std::string> fds;
};

// Every process below `root`, depth first.
std::vector<TreeProcess> process_tree(pid_t root) {
    std::vector<TreeProcess> out;
    std::vector<std::pair<pid_t, pid_t>> todo;
    for (pid_t child : children_of(root))
        todo.emplace_back(child, root);
    while (!todo.empty()) {
        const auto [pid, parent] = todo.back();
        todo.pop_back();
        out.push_back(
            {pid, parent, first_line(fmt::format("/proc/{}/comm", pid)), fd_targets(pid)});
        for (pid_t child : children_of(pid))
            todo.emplace_back(child, pid);
    }
    return out;
}

// Whether forkspawn (--cgroup=auto) contains actors in cgroups here: what
// the command line decides, asked the same way.
bool uses_cgroups() {
    const auto where = forkspawn::cgroup::locate();
    return !where.dir.empty() && !forkspawn::cgroup::unusable(where.dir);
}

std::string describe(const TreeProcess& p) {
    std::string fds;
    for (const auto& [fd, target] : p.fds)
        fds += fmt::format(" {}->{}", fd, target);
    return fmt::format("{} ({}, child of {}):{}", p.pid, p.comm, p.parent, fds);
}

// "pipe:[123]" -> "pipe", "socket:[9]" -> "socket"; anon inodes and paths as they are.
std::string kind(const std::string& target) {
    for (const char* k : {"pipe", "socket"})
        if (target.starts_with(std::string(k) + ":[")) return k;
    return target;
}

// What is wrong with the fds of the processes below forkspawn `root`,
// running a tree of one command actor and one nursery of one command actor
// (both `sleep`), under `backend`: empty when each holds exactly its own.
std::string fd_problems(pid_t root, const std::string& backend) {
    const auto tree = process_tree(root);
    std::string problems;
    const auto problem = [&](const TreeProcess& p, const std::string& what) {
        problems += fmt::format("{}: {}\n", describe(p), what);
    };
    const TreeProcess* guardian = nullptr;
    for (const auto& p : tree)
        if (p.comm == "forkspawn-guard") guardian = &p;
    if (!guardian) return "no guardian found\n";
    const auto root_fds = fd_targets(root);
    // forkspawn's end of the guardian's socket, which its helpers inherit:
    // a socket of the root's that a child holds too (a socketpair's two
    // ends are two inodes, so the guardian's own end never matches).
    const auto is_guardian_socket = [&](const std::string& target) {
        return kind(target) == "socket" &&
               std::any_of(root_fds.begin(), root_fds.end(),
                           [&](const auto& f) { return f.second == target; });
    };

    // The tree's page of started pids (a memfd every supervisor maps).
    const auto is_page = [](const std::string& target) {
        return target.starts_with("/memfd:forkspawn-started");
    };

    int actors = 0, servers = 0, subs = 0;
    for (const auto& p : tree) {
        const auto has = [&](int fd) { return p.fds.count(fd) == 1; };
        if (&p == guardian) {
            // Its end of the socket forkspawn registers process groups on,
            // as fd 3 (a fresh image of forkspawn's).
            if (p.fds.size() != 1 || !has(3) || kind(p.fds.at(3)) != "socket")
                problem(p, "the guardian holds more than its end of its socket (fd 3)");
        } else if (p.comm == "sleep") {
            ++actors;
            if (p.fds.size() != 3 || !has(0) || !has(1) || !has(2))
                problem(p, "an actor holds more than 0, 1 and 2");
        } else if (p.comm == "forkspawn-mpfs") {
            ++servers;
            // Stdio, its socket (3), the guardian's socket (4) and the
            // page of started pids (5).
            if (p.fds.size() != 6 || !has(0) || !has(1) || !has(2) || !has(3) || !has(4) ||
                !has(5) || kind(p.fds.at(3)) != "socket" || !is_guardian_socket(p.fds.at(4)) ||
                !is_page(p.fds.at(5)))
                problem(p, "the mp_forkserver server holds more than 0-2, its socket, the "
                           "guardian's socket and the page of started pids");
        } else {
            ++subs;
            // A sub-supervisor running one command actor.
            std::vector<std::string> outputs; // its actors' stdout
            for (const auto& q : tree)
                if (q.parent == p.pid && q.comm == "sleep" && q.fds.count(1))
                    outputs.push_back(q.fds.at(1));
            std::vector<std::string> seen;
            for (const auto& [fd, target] : p.fds) {
                if (fd <= 2 || !has(1) || !has(2)) continue;
                if (is_guardian_socket(target))
                    seen.push_back("the guardian's socket");
                else if (is_page(target))
                    seen.push_back("the page of started pids");
                else if (target == p.fds.at(1) || target == p.fds.at(2))
                    seen.push_back("stderr reopened"); // non-blocking, for its log
                else if (std::find(outputs.begin(), outputs.end(), target) != outputs.end())
                    seen.push_back("an actor's output");
                else if (target.find("/forkspawn-") != std::string::npos &&
                         target.ends_with("/n/t"))
                    seen.push_back("its actor's cgroup");
                else if (target.find("/forkspawn-") != std::string::npos && target.ends_with("/n"))
                    seen.push_back("its nursery's cgroup");
                else
                    seen.push_back(kind(target));
            }
            std::vector<std::string> expected = {
                "socket",                // the channel to its parent
                "stderr reopened",       //
                "the guardian's socket", //
                "the page of started pids",
                "anon_inode:[eventpoll]", // its event loop
                "anon_inode:[signalfd]",  //
                "anon_inode:[timerfd]",   //
                "anon_inode:[eventfd]",   // the backend's completions
                "/dev/null",              // actors' stdin
                "an actor's output",      //
                "anon_inode:[pidfd]",     // the actor
            };
            if (uses_cgroups()) {
                expected.push_back("its nursery's cgroup"); // where it makes its actors'
                expected.push_back("its actor's cgroup");   // to kill, watch, remove
            }
            if (backend == "mp_forkserver") {
                expected.push_back("socket");                 // to its own server
                expected.push_back("anon_inode:[eventpoll]"); // the backend's ready set
            }
            std::sort(seen.begin(), seen.end());
            std::sort(expected.begin(), expected.end());
            if (!has(0) || !has(1) || !has(2) || seen != expected)
                problem(p, fmt::format("a sub-supervisor holds [{}] beyond stdio, not [{}]",
                                       fmt::join(seen, ", "), fmt::join(expected, ", ")));
        }
    }
    const int want_servers = backend == "mp_forkserver" ? 2 : 0;
    if (actors != 2 || subs != 1 || servers != want_servers)
        problems +=
            fmt::format("found {} actors, {} sub-supervisors, {} servers\n", actors, subs, servers);
    return problems;
}

// Waits (with a deadline) until every process of the tree holds exactly its
// own fds: a spawn in progress holds an exec-error pipe for a moment.
std::string settled_fd_problems(pid_t root, const std::string& backend) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    std::string problems = fd_problems(root, backend);
    while (!problems.empty() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(20ms); // polling with a deadline
        problems = fd_problems(root, backend);
    }
    return problems;
}

const char* const k_tree = R"({"actors": [
  {"name": "s", "cmd": ["sh", "-c", "echo ready; exec sleep 100"]},
  {"name": "n", "actors": [{"name": "t", "cmd": ["sh", "-c", "echo ready; exec sleep 100"]}]}
]})";

} // namespace

TEST_CASE("fds: every process of a tree holds exactly its own fds") {
    const auto fds = open_fds();
    Process p({.args = {"run", "--report=json", "-"}, .stdin_data = k_tree});
    REQUIRE(p.read_until(
        [](const std::string&, const std::string& err) {
            return err.find("root/s | ready") != std::string::npos &&
                   err.find("root/n/t | ready") != std::string::npos;
        },
        20s));
    const std::string problems = settled_fd_problems(p.pid(), backend());
    INFO(problems);
    CHECK(problems.empty());
    p.signal(SIGTERM);
    const auto r = p.wait();
    CHECK(r.exit_code == 143);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

namespace {

// Whether `pid` has the shared object at `path` mapped.
bool maps_contain(pid_t pid, const std::string& path) {
    std::ifstream maps(fmt::format("/proc/{}/maps", pid));
    for (std::string line; std::getline(maps, line);)
        if (line.find(path) != std::string::npos) return true;
    return false;
}

// forkspawn under the close_range shim, seeing the close_range of `kernel`
// (see close_range_shim.cpp).
std::vector<std::pair<std::string, std::string>> old_kernel_env(const std::string& kernel) {
    const char* asan = std::getenv("ASAN_OPTIONS");
    return {{"LD_PRELOAD", FORKSPAWN_CLOSE_RANGE_SHIM},
            {"FORKSPAWN_TEST_KERNEL", kernel},
            // A sanitized build must accept a preloaded library before its runtime.
            {"ASAN_OPTIONS", std::string(asan ? asan : "") + ":verify_asan_link_order=0"}};
}

} // namespace

TEST_CASE("fds: without close_range's CLOSE_RANGE_CLOEXEC (before Linux 5.11) fd sets stay exact") {
    const auto fds = open_fds();
    // An fd forkspawn inherits without close-on-exec, which nothing it
    // starts may get: only a working fallback keeps it from every child.
    const int opened = ::open("/dev/null", O_RDONLY);
    REQUIRE(opened >= 0);
    const int inherited = ::fcntl(opened, F_DUPFD, 57);
    ::close(opened);
    REQUIRE(inherited >= 57);
    // 5.9 and 5.10 have close_range but not the flag; before 5.9 there is none.
    for (const std::string kernel : {"5.9", "5.4"}) {
        INFO("close_range of Linux ", kernel);
        Process p({.args = {"run", "--report=json", "-"},
                   .stdin_data = k_tree,
                   .env = old_kernel_env(kernel)});
        const bool ready = p.read_until(
            [](const std::string&, const std::string& err) {
                return err.find("root/s | ready") != std::string::npos &&
                       err.find("root/n/t | ready") != std::string::npos;
            },
            20s);
        INFO(p.err_so_far());
        CHECK(ready);
        if (ready) {
            CHECK(maps_contain(p.pid(), FORKSPAWN_CLOSE_RANGE_SHIM));
            const std::string problems = settled_fd_problems(p.pid(), backend());
            INFO(problems);
            CHECK(problems.empty());
            p.signal(SIGTERM);
        }
        const auto r = p.wait();
        CHECK(r.exit_code == 143);
        const auto actors = by_path(parse_report(r.out));
        CHECK(actors.at("root/s")["outcome"] == "cancelled");
        CHECK(actors.at("root/n/t")["outcome"] == "cancelled");
        check_nothing_left(r.tag);
    }
    ::close(inherited);
    CHECK(open_fds() == fds);
}

TEST_CASE("fds: a kernel without CLOSE_RANGE_CLOEXEC and no /proc/self/fd is refused at start") {
    const auto fds = open_fds();
    const std::string marker = fmt::format("/tmp/forkspawn-fd-test-{}-ran", ::getpid());
    const json spec = {{"actors", {{{"name", "a"}, {"cmd", {"touch", marker}}}}}};
    const auto r = run({.args = {"run", "--report=json", "-"},
                        .stdin_data = spec.dump(),
                        .env = old_kernel_env("5.4-no-proc")});
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.find("forkspawn: error: ") != std::string::npos);
    CHECK(r.err.find("close_range(CLOSE_RANGE_CLOEXEC) is not supported by this kernel "
                     "(needs Linux 5.11)") != std::string::npos);
    CHECK(r.err.find("/proc/self/fd") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(marker));
    ::unlink(marker.c_str());
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}
