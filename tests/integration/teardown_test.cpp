// SPDX-License-Identifier: MIT
// The kill paths that are hard to reach: an internal error of forkspawn (a
// failing syscall, injected by tests/shim/fault_shim.cpp), a fork bomb left
// running when the work is done, nested forkspawns killed from outside, a
// dead guardian. Each run must leave nothing behind and say what happened.
//
// Synchronisation: actors say "ready" once their set-up is done (the test
// waits for "root/x | ready" on forkspawn's stderr); pids come from
// forkspawn's -v log.
#include "harness.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace forkspawn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr auto k_ready = 20s; // generous, for a loaded 2-core box

json sh(const std::string& name, const std::string& script) {
    return {{"name", name}, {"cmd", {"sh", "-c", script}}};
}

RunOptions run_opts(const std::vector<json>& actors, std::vector<std::string> args = {}) {
    args.insert(args.begin(), {"run", "--report=json", "-v"});
    args.push_back("-");
    return {.args = args, .stdin_data = json{{"actors", actors}}.dump()};
}

bool wait_ready(Process& p, const std::vector<std::string>& paths) {
    for (const auto& path : paths)
        if (!p.wait_for_stderr(path + " | ready\n", k_ready)) return false;
    return true;
}

// The pid forkspawn -v logged for `path` ("root/x spawned, pid N").
pid_t spawned_pid(const std::string& err, const std::string& path) {
    std::smatch m;
    const std::regex re(path + " spawned, pid (\\d+)");
    return std::regex_search(err, m, re) ? std::stoi(m[1]) : -1;
}


// The environment that preloads the fault shim: epoll_wait fails in the
// process whose pid the test writes into `trigger`. A sanitizer runtime
// wants to come first among the preloaded libraries; the shim may.
std::vector<std::pair<std::string, std::string>> shim_env(const std::string& name,
                                                          const std::string& value) {
    std::string asan = std::getenv("ASAN_OPTIONS") ? std::getenv("ASAN_OPTIONS") : "";
    asan += std::string(asan.empty() ? "" : ":") + "verify_asan_link_order=0";
    return {{"LD_PRELOAD", FORKSPAWN_FAULT_SHIM}, {name, value}, {"ASAN_OPTIONS", asan}};
}

std::vector<std::pair<std::string, std::string>> fault_env(const std::string& trigger) {
    return shim_env("FORKSPAWN_FAULT_EPOLL", trigger);
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

// Workers that each keep a child in their process group, and one that
// leaves a daemon in a session of its own: what PDEATHSIG alone leaves.
std::vector<json> workers_with_children(std::size_t n) {
    std::vector<json> out;
    for (std::size_t i = 0; i < n; ++i)
        out.push_back(sh("w" + std::to_string(i), "sleep 1000 & echo ready; wait"));
    out.push_back(sh("e", "setsid sh -c 'echo ready; exec sleep 1000' & wait"));
    return out;
}

std::vector<std::string> ready_paths(const std::vector<json>& actors, const std::string& under) {
    std::vector<std::string> out;
    for (const auto& a : actors)
        out.push_back(under + "/" + a["name"].get<std::string>());
    return out;
}

} // namespace

TEST_CASE("teardown: an internal error kills every actor and what it started, and exits 70") {
    TempDir dir;
    const std::string trigger = dir / "fault";
    const auto actors = workers_with_children(12);
    // With a control socket: it is removed after the internal error too.
    const std::string control = dir / "ctl.sock";
    auto options = run_opts(actors, {"--control=" + control});
    options.env = fault_env(trigger);
    Process p(options);
    REQUIRE(wait_ready(p, ready_paths(actors, "root")));
    struct stat st;
    CHECK(::lstat(control.c_str(), &st) == 0);
    std::vector<pid_t> started = tagged_processes(p.tag());
    CHECK(started.size() >= 2 * actors.size() + 1); // forkspawn, actors, their children
    // The next epoll_wait of forkspawn fails; SIGUSR1 (a dump) wakes it.
    write_file(trigger, std::to_string(p.pid()));
    p.signal(SIGUSR1);
    const auto r = p.wait();
    INFO(r.err);
    // Nothing is left the moment forkspawn has exited: not the workers'
    // children, not the setsid daemon.
    CHECK(tagged_processes(r.tag).empty());
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 70);
    CHECK(r.err.find("internal error in root: epoll_wait") != std::string::npos);
    CHECK(::lstat(control.c_str(), &st) < 0);
    const json report = parse_report(r.out);
    CHECK(report["result"] == "internal_error");
    CHECK(report["exit_code"] == 70);
    for (const auto& [path, a] : by_path(report)) {
        INFO(path);
        CHECK(a["outcome"] == "killed");
        CHECK(a["cancel_reason"] == "internal_error");
        CHECK(a["signal"] == "SIGKILL");
    }
    check_nothing_left(r.tag);
}

TEST_CASE("teardown: an internal error in a sub-supervisor kills its subtree, the tree fails") {
    TempDir dir;
    const std::string trigger = dir / "fault";
    const auto inner = workers_with_children(6);
    auto options =
        run_opts({json{{"name", "n"}, {"actors", inner}}, sh("s", "echo ready; exec sleep 1000")});
    options.env = fault_env(trigger);
    Process p(options);
    auto paths = ready_paths(inner, "root/n");
    paths.push_back("root/s");
    REQUIRE(wait_ready(p, paths));
    const pid_t sub = spawned_pid(p.err_so_far(), "root/n");
    REQUIRE(sub > 0);
    write_file(trigger, std::to_string(sub));
    ::kill(sub, SIGUSR1); // wakes the sub-supervisor (it prints its part)
    const auto r = p.wait();
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("internal error in root/n: epoll_wait") != std::string::npos);
    const json report = parse_report(r.out);
    const auto all = by_path(report);
    CHECK(all.at("root/n")["outcome"] == "failed");
    CHECK(all.at("root/n")["status"] == "rc=70");
    CHECK(all.at("root/s")["cancel_reason"] == "sibling_failed");
    for (const auto& a : inner) {
        const auto& e = all.at("root/n/" + a["name"].get<std::string>());
        CHECK(e["outcome"] == "killed");
        CHECK(e["cancel_reason"] == "internal_error");
    }
    check_nothing_left(r.tag);
}

TEST_CASE("teardown: a setsid fork bomb left running when the work is done is killed whole") {
    if (::geteuid() != 0) {
        MESSAGE("skipped: needs root to run forkspawn as a uid of its own (RLIMIT_NPROC)");
        return;
    }
    // The actor starts six bombs and exits 0 at once. Each leaves for a
    // session of its own and forks until RLIMIT_NPROC stops it, then retries
    // every millisecond: every death makes room for a new process.
    const std::string bomb =
        "use POSIX; for (1 .. 6) { my $p = fork; next unless defined $p; next if $p; "
        "close STDOUT; close STDERR; setsid(); "
        "while (1) { defined(fork()) or select(undef, undef, undef, 0.001) } } exit 0";
    const json actors = json::array({json{{"name", "a"}, {"cmd", {"perl", "-e", bomb}}}});
    // A uid no other test runs processes as (one per backend): the limit
    // counts this run's tasks only.
    const std::string b = backend();
    const uid_t uid = 47200 + (b == "subint_forkserver" ? 0 : b == "trio" ? 1 : 2);
    const auto began = std::chrono::steady_clock::now();
    const auto r = run({.args = {"run", "--report=json", "-"},
                        .stdin_data = json{{"actors", actors}}.dump(),
                        .deadline = 60s,
                        .rlimits = {{RLIMIT_NPROC, rlimit{400, 400}}},
                        .uid = uid});
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    INFO(r.err);
    INFO("took ", took, " s");
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 0);
    const json report = parse_report(r.out);
    CHECK(entry(report, "root/a")["outcome"] == "completed");
    CHECK(tagged_processes(r.tag).empty()); // gone when forkspawn exits, not later
    check_nothing_left(r.tag);
}

namespace {

// An actor that leaves a process behind whose main thread has exited while
// another thread runs on (see helpers/main_thread_exits.cpp), says "ready"
// once /proc shows that process as a zombie, then runs `then`.
json leaves_zombie_leader(const std::string& name, const std::string& then) {
    return sh(name, std::string(FORKSPAWN_MAIN_THREAD_EXITS) +
                        " & p=$!; until grep -q ') Z' /proc/$p/stat; do sleep 0.01; done; "
                        "echo ready; " +
                        then);
}

} // namespace

TEST_CASE("teardown: an escaped process whose main thread exited is killed at the end of the run") {
    // /proc shows it as a zombie with an empty environment: it must not
    // pass for one that is only waiting for its reap.
    const auto r = run(run_opts({leaves_zombie_leader("a", "exit 0")}));
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 0);
    CHECK(entry(parse_report(r.out), "root/a")["outcome"] == "completed");
    CHECK(tagged_processes(r.tag).empty()); // gone when forkspawn exits, not later
    check_nothing_left(r.tag);
}

TEST_CASE("teardown: kill -9 of forkspawn: the guardian kills a process whose main thread exited") {
    Process p(run_opts({leaves_zombie_leader("a", "exec sleep 1000")}));
    REQUIRE(wait_ready(p, {"root/a"}));
    p.signal(SIGKILL);
    const auto r = p.wait();
    CHECK(r.term_signal == SIGKILL);
    CHECK(wait_tagged_gone(p.tag(), 10s));
    check_nothing_left(p.tag());
}

TEST_CASE("teardown: kill -9 of a forkspawn that runs another one leaves neither tree's daemons") {
    // The outer guardian's sweep may kill the inner guardian before it swept
    // (its environment shows the outer tree's id): the inner tree's
    // processes must carry the outer id too. Three rounds: the race is lost
    // in most runs, not every one.
    TempDir dir;
    const std::string inner = dir / "inner.json";
    std::vector<json> daemons;
    for (int i = 0; i < 4; ++i)
        daemons.push_back(
            sh("d" + std::to_string(i), "setsid sh -c 'echo ready; exec sleep 1000' & wait"));
    write_file(inner, json{{"actors", daemons}}.dump());
    for (int round = 0; round < 3; ++round) {
        CAPTURE(round);
        Process p(run_opts({json{{"name", "n"},
                                 {"cmd",
                                  {forkspawn::test::binary(), "run", "--report=none",
                                   "--spawn-backend=" + backend(), inner}}}}));
        REQUIRE(wait_ready(p, ready_paths(daemons, "root/n | root")));
        p.signal(SIGKILL);
        const auto r = p.wait();
        CHECK(r.term_signal == SIGKILL);
        CHECK(wait_tagged_gone(p.tag(), 10s));
        check_nothing_left(p.tag());
    }
}

namespace {

// The name in /proc/PID/comm, empty once it is gone.
std::string comm_of(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(f, name);
    return name;
}

// forkspawn's own lines of its stderr, without the actors' output.
std::string log_of_forkspawn(const std::string& err) {
    std::string out;
    for (const auto& line : lines(err))
        if (line.rfind("forkspawn", 0) == 0) out += line + "\n";
    return out.size() > 20000 ? out.substr(out.size() - 20000) : out;
}

// forkspawn's guardian: its child named forkspawn-guard (0: none yet).
pid_t guardian_of(pid_t forkspawn) {
    const std::string dir = "/proc/" + std::to_string(forkspawn) + "/task";
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator(dir, ec)) {
        std::ifstream f(task.path() / "children");
        pid_t pid = 0;
        while (f >> pid)
            if (comm_of(pid) == "forkspawn-guard") return pid;
    }
    return 0;
}

// A zombie, or gone.
bool dead(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(f, stat)) return true;
    const auto paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

// Polls with a deadline (not synchronisation: the state has no event).
template <typename F> bool eventually(F&& done, std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) return false;
        ::usleep(5'000);
    }
    return true;
}

} // namespace

TEST_CASE("teardown: after the guardian is killed, actors still run and a new guardian guards") {
    // Every child waits at its first step (setpgid) until the gate opens:
    // the actors are forked while the guardian lives and reach the point
    // where they register with it only after it died.
    TempDir dir;
    const std::string gate = dir / "gate";
    std::vector<json> actors;
    for (int i = 0; i < 3; ++i)
        actors.push_back(sh("w" + std::to_string(i), "sleep 1000 & echo ready; wait"));
    // The spec from a file: nothing needs feeding while the test waits.
    const std::string spec = dir / "spec.json";
    write_file(spec, json{{"actors", actors}}.dump());
    Process p({.args = {"run", "--report=json", "-v", spec},
               .env = shim_env("FORKSPAWN_FAULT_GATE", gate)});
    pid_t first = 0;
    REQUIRE(eventually([&] { return (first = guardian_of(p.pid())) > 0; }, 20s));
    REQUIRE(::kill(first, SIGKILL) == 0);
    // Dead (a zombie until forkspawn reaps it, or gone) before the gate opens.
    REQUIRE(eventually([&] { return dead(first); }, 20s));
    write_file(gate, "");
    // Before: each actor died of SIGPIPE, sending to the dead guardian.
    REQUIRE(wait_ready(p, ready_paths(actors, "root")));
    REQUIRE(p.wait_for_stderr("the guardian process died; started a new one", k_ready));
    pid_t second = 0;
    REQUIRE(eventually([&] { return (second = guardian_of(p.pid())) > 0; }, 20s));
    CHECK(second != first);
    // The new guardian does the old one's work: kill -9 of forkspawn takes
    // the actors' children down too.
    p.signal(SIGKILL);
    const auto r = p.wait();
    CHECK(r.term_signal == SIGKILL);
    CHECK(wait_tagged_gone(r.tag, 10s));
    check_nothing_left(r.tag);
}

// A child of the test process whose pid is `pid`, in a process group of
// its own, outside every tree (no FORKSPAWN_TREE): made by setting the pid
// namespace's last pid (root only) and forking, a few tries as other
// processes may take it first. 0 when it could not be had.
pid_t stranger_with_pid(pid_t pid) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        {
            std::ofstream last("/proc/sys/kernel/ns_last_pid");
            last << pid - 1;
            if (!last.flush()) return 0;
        }
        const pid_t child = ::fork();
        if (child == 0) {
            ::setpgid(0, 0);
            for (;;)
                ::pause();
        }
        if (child == pid) {
            ::setpgid(child, child);
            return child;
        }
        if (child > 0) {
            ::kill(child, SIGKILL);
            ::waitpid(child, nullptr, 0);
        }
    }
    return 0;
}

TEST_CASE("teardown: a nested actor's pid taken by a stranger after its reap is never killed") {
    if (::geteuid() != 0) {
        MESSAGE("skipped: needs root to choose a pid (ns_last_pid)");
        return;
    }
    // n's reports of its reaped actors are lost (as when it is killed
    // between a reap and its message): the root still lists x's pid after
    // x is gone. A stranger gets that pid; the guardian is killed, so the
    // root tells a new one every group it knows; then forkspawn is killed.
    // Before: the new guardian killed the stranger's group as x's.
    const json nursery = {{"name", "n"},
                          {"actors", {sh("x", "exit 0"), sh("y", "echo ready; exec sleep 1000")}}};
    auto options = run_opts({nursery});
    options.env = shim_env("FORKSPAWN_FAULT_DROP_SEND", "\"t\":\"reaped\"");
    Process p(options);
    REQUIRE(wait_ready(p, {"root/n/y"}));
    REQUIRE(p.wait_for_stderr("root/n/x completed", k_ready));
    const pid_t x = spawned_pid(p.err_so_far(), "root/n/x");
    REQUIRE(x > 0);
    const pid_t stranger = stranger_with_pid(x);
    if (stranger == 0) {
        MESSAGE("skipped: pid ", x, " could not be had");
        return;
    }
    // Killed and reaped however the test ends.
    const std::unique_ptr<const pid_t, void (*)(const pid_t*)> reap_stranger(
        &stranger, [](const pid_t* pid) {
            ::kill(*pid, SIGKILL);
            ::waitpid(*pid, nullptr, 0);
        });
    pid_t guardian = 0;
    REQUIRE(eventually([&] { return (guardian = guardian_of(p.pid())) > 0; }, 20s));
    REQUIRE(::kill(guardian, SIGKILL) == 0);
    REQUIRE(p.wait_for_stderr("the guardian process died; started a new one", k_ready));
    p.signal(SIGKILL);
    const auto r = p.wait();
    CHECK(r.term_signal == SIGKILL);
    CHECK(wait_tagged_gone(r.tag, 10s));
    check_nothing_left(r.tag);
    // The new guardian has swept (the tree is gone): the stranger lives.
    CHECK_FALSE(dead(stranger));
}

TEST_CASE("teardown: an actor that ran is never reported not_started when its sub-supervisor is "
          "killed mid-burst") {
    // n starts 300 actors that each make a file, then sleep; n is SIGKILLed
    // while it starts them. An actor forked but not yet reported up when n
    // died was reported not_started, although its file was there: the root
    // now finds it in the page of started pids when it adopts it. The fault
    // shim drops n's "spawned" messages, so that every actor is in that gap
    // (without it, the gap is hit in some runs only).
    TempDir dir;
    std::vector<json> actors;
    for (int i = 0; i < 300; ++i)
        actors.push_back(sh("a" + std::to_string(i),
                            "touch " + dir / ("a" + std::to_string(i)) + "; exec sleep 1000"));
    auto options = run_opts({json{{"name", "n"}, {"actors", actors}}});
    options.env = shim_env("FORKSPAWN_FAULT_DROP_SEND", "\"t\":\"spawned\"");
    Process p(options);
    // (Its 21st actor's file is there: n is in the middle of its burst.)
    REQUIRE(p.read_stderr_until(
        [&](const std::string&) { return std::filesystem::exists(dir / "a20"); }, k_ready));
    const pid_t n = spawned_pid(p.err_so_far(), "root/n");
    REQUIRE(n > 0);
    REQUIRE(::kill(n, SIGKILL) == 0);
    const auto r = p.wait();
    INFO(log_of_forkspawn(r.err));
    CHECK(r.exit_code == 1);
    const auto all = by_path(parse_report(r.out));
    CHECK(all.at("root/n")["outcome"] == "failed");
    int ran = 0, lied = 0;
    for (int i = 0; i < 300; ++i) {
        const std::string name = "a" + std::to_string(i);
        if (!std::filesystem::exists(dir / name)) continue;
        ++ran;
        const json& a = all.at("root/n/" + name);
        if (a["outcome"] == "not_started") {
            ++lied;
            INFO(a.dump());
            CHECK(a["outcome"] != "not_started");
        }
    }
    INFO(ran, " actors made their file, ", lied, " of them reported not_started");
    CHECK(ran > 0);
    CHECK(lied == 0);
    check_nothing_left(r.tag);
}

TEST_CASE("teardown: a guardian that stops reading never holds the run up") {
    // The guardian is SIGSTOPped while 600 actors start and end: its socket
    // fills with their registrations. Before, a child blocked in its send
    // before execve, and so did the event loop: the run never ended.
    TempDir dir;
    std::vector<json> actors;
    for (int i = 0; i < 600; ++i)
        actors.push_back({{"name", "a" + std::to_string(i)}, {"cmd", {"true"}}});
    const std::string spec = dir / "spec.json";
    write_file(spec, json{{"actors", actors}}.dump());
    Process p({.args = {"run", "--report=json", spec}, .deadline = 90s});
    pid_t guardian = 0;
    REQUIRE(eventually([&] { return (guardian = guardian_of(p.pid())) > 0; }, 20s));
    REQUIRE(::kill(guardian, SIGSTOP) == 0);
    const auto r = p.wait();
    ::kill(guardian, SIGCONT); // (forkspawn killed it when it did not go)
    INFO(log_of_forkspawn(r.err));
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 0);
    const json report = parse_report(r.out);
    CHECK(report["actors"].size() == 600);
    for (const auto& a : report["actors"])
        CHECK(a["outcome"] == "completed");
    check_nothing_left(r.tag);
}

namespace {

// A tree of one actor, "a", whose child is stuck before its execve: the
// shim's gate never opens, so it waits before its setpgid for 30 s (the
// shim's limit), as one stuck in a chdir on a dead mount would. The tree's
// timeout cancels it.
RunOptions stuck_before_exec(TempDir& dir, const std::string& timeout, const std::string& stop) {
    const std::string spec = dir / "spec.json";
    write_file(spec, json{{"actors", {sh("a", "echo never")}}}.dump());
    return {.args = {"run", "--report=json", "--timeout=" + timeout, "--stop=" + stop, spec},
            .env = shim_env("FORKSPAWN_FAULT_GATE", dir / "gate")};
}

} // namespace

TEST_CASE("teardown: a cancelled child stuck before its execve is killed on time") {
    if (backend() == "trio") {
        // Its event loop waits in the vfork-style clone until the child
        // reaches execve (man page, SPAWN BACKENDS): nothing to escalate.
        MESSAGE("skipped: trio's loop waits for each child's execve");
        return;
    }
    TempDir dir;
    const auto began = std::chrono::steady_clock::now();
    const auto r = run(stuck_before_exec(dir, "500ms", "SIGTERM,300ms,SIGKILL"));
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    INFO(r.err);
    INFO("took ", took, " s");
    CHECK(r.exit_code == 124);
    CHECK(took < 15); // the tree's 0.5 s and the 0.3 s wait, then SIGKILL; not 30 s
    const json a = entry(parse_report(r.out), "root/a");
    CHECK(a["outcome"] == "killed");
    CHECK(a["cancel_reason"] == "tree_timeout");
    CHECK(a["signal"] == "SIGKILL");
    CHECK(r.err.find("root/a was cancelled before its execve") != std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("teardown: a second SIGINT kills a cancelled child still stuck before its execve") {
    if (backend() == "trio") {
        MESSAGE("skipped: trio's loop waits for each child's execve");
        return;
    }
    // The tree's timeout cancels the actor while it is stuck before its
    // setpgid (the shim's gate never opens); its stop sequence's grace is
    // 30 s. A second SIGINT must not wait for that grace.
    TempDir dir;
    Process p(stuck_before_exec(dir, "300ms", "SIGTERM,30s,SIGKILL"));
    REQUIRE(p.wait_for_stderr("ran out; cancelling the tree", k_ready));
    p.signal(SIGINT);
    REQUIRE(p.wait_for_stderr("got SIGINT", k_ready));
    const auto second = std::chrono::steady_clock::now();
    p.signal(SIGINT);
    const auto r = p.wait();
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - second).count();
    INFO(r.err);
    INFO("took ", took, " s after the second SIGINT");
    CHECK(took < 15); // at once, not after the 30 s grace
    CHECK(r.err.find("second SIGINT: killing now") != std::string::npos);
    const json a = entry(parse_report(r.out), "root/a");
    CHECK(a["outcome"] == "killed");
    CHECK(a["signal"] == "SIGKILL");
    CHECK(a["cancel_reason"] == "tree_timeout");
    check_nothing_left(r.tag);
}

TEST_CASE("teardown: an actor that joins a sibling's process group outlives the sibling's end") {
    // b joins a's group (same session: setpgid allows it); a exits 0 once b
    // is in; b ends on its own after the test has seen a's end. a's cleanup
    // (its group's SIGKILL at its reap) must not reach b.
    TempDir dir;
    const std::string pid_fifo = dir / "pid", joined_fifo = dir / "joined", go_fifo = dir / "go";
    for (const auto& f : {pid_fifo, joined_fifo, go_fifo})
        REQUIRE(::mkfifo(f.c_str(), 0600) == 0);
    const json a = {
        {"name", "a"},
        {"cmd",
         {"perl", "-e",
          "open(F, '>', '" + pid_fifo + "'); print F \"$$\\n\"; close F; open(G, '<', '" +
              joined_fifo + "'); <G>; exit 0"}}};
    const json b = {{"name", "b"},
                    {"cmd",
                     {"perl", "-e",
                      // `go` is opened (read-write: never blocks) before b
                      // says it joined, so the test's probe finds a reader.
                      "use POSIX; open(H, '+<', '" + go_fifo + "') or die; open(F, '<', '" +
                          pid_fifo +
                          "'); my $p = <F>; chomp $p; setpgid(0, $p) or die \"setpgid: $!\"; "
                          "open(G, '>', '" +
                          joined_fifo + "'); print G \"in\\n\"; close G; <H>; exit 0"}}};
    const std::string spec = dir / "spec.json";
    write_file(spec, json{{"actors", {a, b}}}.dump());
    Process p({.args = {"run", "--report=json", "-v", spec}});
    REQUIRE(p.wait_for_stderr("root/a completed", k_ready));
    // b holds `go` open for reading: the open succeeds at once only if b lives.
    const int go = ::open(go_fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(go >= 0); // ENXIO: no reader, b was killed
    if (go >= 0) {
        CHECK(::write(go, "go\n", 3) == 3);
        ::close(go);
    }
    const auto r = p.wait();
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto all = by_path(parse_report(r.out));
    CHECK(all.at("root/a")["outcome"] == "completed");
    CHECK(all.at("root/b")["outcome"] == "completed");
    CHECK(all.at("root/b")["status"] == "rc=0");
    check_nothing_left(r.tag);
}
