// SPDX-License-Identifier: MIT
// Nested nurseries: sub-supervisors, the cancel cascade, and a complete
// report for any tree, on the real binary.
#include "harness.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace forkspawn::test;
using nlohmann::json;

namespace {

// The pid forkspawn -v logged for `path` ("root/x spawned, pid N").
pid_t spawned_pid(const std::string& err, const std::string& path) {
    std::smatch m;
    const std::regex re(path + " spawned, pid (\\d+)");
    return std::regex_search(err, m, re) ? std::stoi(m[1]) : -1;
}

// After forkspawn itself was killed, its orphans (sub-supervisors, the
// guardian) are adopted by the test process: wait until every tagged process
// is gone, then reap what was adopted.
void reap_adopted(const std::string& tag) {
    // Reap nothing until every tagged process, the guardian included, is
    // gone: a leader reaped early frees its pid (= its group id) for reuse
    // while the guardian may still be about to kill that group.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!tagged_processes(tag).empty() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling with a deadline
    // A process in the middle of exiting is neither tagged (its environ reads
    // empty) nor a zombie yet: reap until no child is left.
    for (;;) {
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        if (child_processes().empty() || std::chrono::steady_clock::now() > until) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling with a deadline
    }
}

// depth 3: root/a/b/c, every level with a sleeping sibling; c/fail exits 7
// once s3 ignores SIGTERM (s3 leaves a marker file when its trap is set).
std::string depth3_spec(const std::string& marker, const std::string& fail_cmd) {
    return fmt::format(R"({{"actors": [
  {{"name": "s0", "cmd": ["sh", "-c", "exec sleep 100"]}},
  {{"name": "a", "actors": [
    {{"name": "s1", "cmd": ["sh", "-c", "exec sleep 100"]}},
    {{"name": "b", "actors": [
      {{"name": "s2", "cmd": ["sh", "-c", "sleep 100 & wait"]}},
      {{"name": "c", "actors": [
        {{"name": "s3", "cmd": ["sh", "-c", "trap '' TERM; touch {0}; sleep 100"], "stop": ["SIGTERM", "300ms"]}},
        {{"name": "fail", "cmd": ["sh", "-c", "while [ ! -e {0} ]; do sleep 0.01; done; echo ready; {1}"]}}
      ]}}
    ]}}
  ]}}
]}})",
                       marker, fail_cmd);
}

// `options` with the fault shim (integration/fault_shim.cpp) in forkspawn's
// processes, injecting `fault`.
RunOptions with_fault(RunOptions options, const std::string& fault) {
    options.env.emplace_back("LD_PRELOAD", FORKSPAWN_FAULT_SHIM);
    options.env.emplace_back("FORKSPAWN_FAULT_EXE", binary());
    options.env.emplace_back("FORKSPAWN_FAULT", fault);
    // Under ASan the shim comes before the ASan runtime in the library list.
    const char* asan = std::getenv("ASAN_OPTIONS");
    options.env.emplace_back("ASAN_OPTIONS", (asan && *asan ? std::string(asan) + ":" : "") +
                                                 "verify_asan_link_order=0");
    return options;
}

constexpr const char* k_one_nursery =
    R"({"actors": [{"name": "n", "actors": [{"name": "a", "cmd": ["true"]}]}]})";

std::string marker_path() {
    static int n = 0;
    return fmt::format("/tmp/forkspawn-nested-{}-{}", ::getpid(), ++n);
}

} // namespace

TEST_CASE("a failing leaf at depth 3 cancels every other actor in the tree") {
    const std::string marker = marker_path();
    const auto r =
        run({.args = {"run", "--report=json", "-"}, .stdin_data = depth3_spec(marker, "exit 7")});
    ::unlink(marker.c_str());
    CHECK(r.exit_code == 1);
    const auto report = json::parse(r.out);
    CHECK(report["result"] == "failed");
    const auto actors = by_path(report);
    // Every path, depth-first in spec order.
    std::vector<std::string> order;
    for (const auto& a : report["actors"])
        order.push_back(a["path"]);
    CHECK(order == std::vector<std::string>{"root/s0", "root/a", "root/a/s1", "root/a/b",
                                            "root/a/b/s2", "root/a/b/c", "root/a/b/c/s3",
                                            "root/a/b/c/fail"});
    CHECK(actors.at("root/a/b/c/fail")["outcome"] == "failed");
    CHECK(actors.at("root/a/b/c/fail")["status"] == "rc=7");
    for (const char* nursery : {"root/a", "root/a/b", "root/a/b/c"}) {
        INFO(nursery);
        CHECK(actors.at(nursery)["kind"] == "nursery");
        CHECK(actors.at(nursery)["outcome"] == "failed");
        CHECK(actors.at(nursery)["status"] == "rc=1");
        CHECK(actors.at(nursery)["pid"].is_number());
    }
    for (const char* sleeper : {"root/s0", "root/a/s1", "root/a/b/s2"}) {
        INFO(sleeper);
        CHECK(actors.at(sleeper)["outcome"] == "cancelled");
        CHECK(actors.at(sleeper)["cancel_reason"] == "sibling_failed");
    }
    CHECK(actors.at("root/a/b/c/s3")["outcome"] == "killed");
    CHECK(actors.at("root/a/b/c/s3")["stop"]["sent"] == json::array({"SIGTERM", "SIGKILL"}));
    // Failure travels up at once: the sleepers above are cancelled in
    // parallel with s3's grace, not after it.
    CHECK(actors.at("root/s0")["ended_ms"].get<double>() <
          actors.at("root/a/b/c/s3")["ended_ms"].get<double>());
    check_nothing_left(r.tag);
}

TEST_CASE("SIGINT tears down a depth-8 tree and exits 130") {
    json level = {{"name", "leaf"}, {"cmd", {"sh", "-c", "echo ready; exec sleep 100"}}};
    for (int d = 1; d <= 8; ++d)
        level = {{"name", fmt::format("n{}", d)},
                 {"actors", {{{"name", "s"}, {"cmd", {"sh", "-c", "exec sleep 100"}}}, level}}};
    const json spec = {{"actors", {level}}};
    Process p({.args = {"run", "--report=json", "-"}, .stdin_data = spec.dump()});
    REQUIRE(p.wait_for_stderr("/leaf | ready", std::chrono::seconds(20)));
    const auto sent = std::chrono::steady_clock::now();
    p.signal(SIGINT);
    const auto r = p.wait();
    const auto took = std::chrono::steady_clock::now() - sent;
    CHECK(r.exit_code == 130);
    CHECK(took < std::chrono::seconds(10)); // generous: it takes tens of ms
    const auto report = json::parse(r.out);
    CHECK(report["actors"].size() == 17);
    for (const auto& a : report["actors"]) {
        INFO(a["path"]);
        CHECK(a["outcome"] == "cancelled");
        CHECK(a["cancel_reason"] == "signal:SIGINT");
    }
    check_nothing_left(r.tag);
}

TEST_CASE("a sub-supervisor killed mid-run: its subtree is killed and reported") {
    Process p({.args = {"run", "-v", "--report=json", "-"}, .stdin_data = R"({"actors": [
      {"name": "top", "cmd": ["sh", "-c", "exec sleep 100"]},
      {"name": "a", "actors": [
        {"name": "s", "cmd": ["sh", "-c", "exec sleep 100"]},
        {"name": "b", "actors": [
          {"name": "s", "cmd": ["sh", "-c", "sleep 100 & echo ready; wait"]},
          {"name": "t", "cmd": ["sh", "-c", "echo ready; exec sleep 100"]}
        ]}
      ]}
    ]})"});
    // b logs a spawn right after telling its parent about it; "ready" says
    // the actor runs its command (a child killed with b before its execve
    // exits 127 on its own when it sees its parent gone).
    std::string err;
    REQUIRE(p.read_until(
        [&](const std::string&, const std::string& e) {
            err = e;
            return spawned_pid(e, "root/a/b") > 0 && spawned_pid(e, "root/a/b/t") > 0 &&
                   spawned_pid(e, "root/a/b/s") > 0 &&
                   e.find("root/a/b/t | ready") != std::string::npos &&
                   e.find("root/a/b/s | ready") != std::string::npos;
        },
        std::chrono::seconds(20)));
    const pid_t b = spawned_pid(err, "root/a/b");
    REQUIRE(b > 0);
    ::kill(b, SIGKILL);
    const auto r = p.wait();
    CHECK(r.exit_code == 1);
    INFO(r.out);
    INFO(r.err);
    const auto actors = by_path(json::parse(r.out));
    CHECK(actors.at("root/a/b")["outcome"] == "failed");
    CHECK(actors.at("root/a/b")["status"] == "signal=SIGKILL");
    for (const char* orphan : {"root/a/b/s", "root/a/b/t"}) {
        INFO(orphan);
        CHECK(actors.at(orphan)["outcome"] == "killed");
        CHECK(actors.at(orphan)["status"] == "signal=SIGKILL");
        CHECK(actors.at(orphan)["cancel_reason"] == "supervisor_killed");
        CHECK(actors.at(orphan)["pid"].is_number());
    }
    // The rest of the tree reacts as to a failure.
    CHECK(actors.at("root/a")["outcome"] == "failed");
    CHECK(actors.at("root/a/s")["cancel_reason"] == "sibling_failed");
    CHECK(actors.at("root/top")["cancel_reason"] == "sibling_failed");
    check_nothing_left(r.tag);
}

TEST_CASE("kill -9 of the root with a depth-3 tree leaves nothing") {
    const std::string marker = marker_path();
    Process p({.args = {"run", "-"}, .stdin_data = depth3_spec(marker, "exec sleep 100")});
    REQUIRE(p.wait_for_stderr("root/a/b/c/fail | ready", std::chrono::seconds(20)));
    const std::string tag = p.tag();
    CHECK(tagged_processes(tag).size() >= 6); // the tree is up (some may be mid-exec)
    p.signal(SIGKILL);
    const auto r = p.wait();
    CHECK(r.term_signal == SIGKILL);
    reap_adopted(tag);
    ::unlink(marker.c_str());
    check_nothing_left(tag);
}

TEST_CASE("a sub-supervisor holds only its own fds") {
    // The root holds many fds (40 actors: pidfds and output pipes) and the
    // report file; the sub-supervisor must hold none of them.
    json actors = json::array();
    for (int i = 0; i < 40; ++i)
        actors.push_back(
            {{"name", fmt::format("s{}", i)}, {"cmd", {"sh", "-c", "exec sleep 100"}}});
    actors.push_back(
        {{"name", "n"},
         {"actors", {{{"name", "t"}, {"cmd", {"sh", "-c", "echo ready; exec sleep 100"}}}}}});
    const std::string report_file = fmt::format("/tmp/forkspawn-fd-test-{}.json", ::getpid());
    Process p({.args = {"run", "-v", "--report-file=" + report_file, "-"},
               .stdin_data = json{{"actors", actors}}.dump()});
    REQUIRE(p.wait_for_stderr("root/n/t | ready", std::chrono::seconds(20)));
    std::string err;
    p.read_until(
        [&](const std::string&, const std::string& e) {
            err = e;
            return spawned_pid(e, "root/n") > 0;
        },
        std::chrono::seconds(5));
    const pid_t sub = spawned_pid(err, "root/n");
    REQUIRE(sub > 0);
    std::vector<std::string> targets;
    const std::string dir = fmt::format("/proc/{}/fd", sub);
    DIR* d = ::opendir(dir.c_str());
    REQUIRE(d);
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        char buf[512];
        const ssize_t n = ::readlink((dir + "/" + e->d_name).c_str(), buf, sizeof buf - 1);
        if (n > 0) targets.emplace_back(buf, static_cast<std::size_t>(n));
    }
    ::closedir(d);
    INFO(fmt::format("{}", fmt::join(targets, " ")));
    CHECK(targets.size() < 20);
    for (const auto& t : targets)
        CHECK(t.find("forkspawn-fd-test") == std::string::npos);
    p.signal(SIGTERM);
    const auto r = p.wait();
    CHECK(r.exit_code == 143);
    ::unlink(report_file.c_str());
    check_nothing_left(r.tag);
}

TEST_CASE("mp_forkserver: the server dying is noticed and the tree ends cleanly") {
    // A property of that backend only: chosen explicitly, whatever the label.
    Process p(
        {.args = {"run", "--spawn-backend=mp_forkserver", "--report=json", "-"},
         .stdin_data =
             R"({"actors": [{"name": "a", "cmd": ["sh", "-c", "echo ready; exec sleep 100"]}]})"});
    REQUIRE(p.wait_for_stderr("root/a | ready", std::chrono::seconds(20)));
    // The server: the tagged process named forkspawn-mpfs.
    pid_t server = -1;
    for (pid_t pid : tagged_processes(p.tag())) {
        std::ifstream comm(fmt::format("/proc/{}/comm", pid));
        std::string name;
        std::getline(comm, name);
        if (name == "forkspawn-mpfs") server = pid;
    }
    REQUIRE(server > 0);
    ::kill(server, SIGKILL);
    REQUIRE(p.wait_for_stderr("helper process exited", std::chrono::seconds(20)));
    p.signal(SIGTERM);
    const auto r = p.wait();
    CHECK(r.exit_code == 143);
    const auto actors = by_path(json::parse(r.out));
    CHECK(actors.at("root/a")["outcome"] == "cancelled"); // running actors are unaffected
    check_nothing_left(r.tag);
}

TEST_CASE("a sub-supervisor never leaves SIGTERM unblocked, not even for a moment") {
    // The shim sends SIGTERM the moment any signal mask change in a
    // forkspawn process lets it through: a sub-supervisor that installed an
    // empty mask before blocking the supervised signals again would die by
    // it, as it would by a SIGTERM to its group at that moment.
    const auto r =
        run(with_fault({.args = {"run", "--report=json", "-"}, .stdin_data = k_one_nursery},
                       "sigterm_when_unblocked"));
    INFO(r.err);
    CHECK(r.err.find("fault shim: sigterm_when_unblocked") != std::string::npos);
    CHECK(r.exit_code == 0);
    const auto actors = by_path(parse_report(r.out));
    CHECK(actors.at("root/n")["outcome"] == "completed");
    CHECK(actors.at("root/n")["status"] == "rc=0");
    CHECK(actors.at("root/n/a")["outcome"] == "completed");
    check_nothing_left(r.tag);
}

TEST_CASE("a fork without exec is refused while forkspawn has a thread it did not make") {
    const auto r = run(with_fault(
        {.args = {"run", "--report=json", "-"}, .stdin_data = k_one_nursery}, "extra_thread"));
    INFO(r.err);
    CHECK(r.err.find("fault shim: extra_thread") != std::string::npos);
    const auto actors = by_path(parse_report(r.out));
    if (backend() == "subint_forkserver") {
        // The nursery would be a fork of a process with a third thread.
        CHECK(r.exit_code == 1);
        CHECK(actors.at("root/n")["outcome"] == "spawn_failed");
        const std::string error = actors.at("root/n")["error"].is_string()
                                      ? actors.at("root/n")["error"].get<std::string>()
                                      : "";
        CHECK(error.find("the forkserver thread and the parked event loop thread are the "
                         "process's only threads") != std::string::npos);
        CHECK(actors.at("root/n/a")["outcome"] == "not_started");
    } else {
        // A fresh image for every nursery: no fork without exec to refuse.
        CHECK(r.exit_code == 0);
        CHECK(actors.at("root/n")["outcome"] == "completed");
        CHECK(actors.at("root/n/a")["outcome"] == "completed");
    }
    check_nothing_left(r.tag);
}

TEST_CASE("the hidden __nursery mode ends with a message and an exit code, never an abort") {
    // The mode of a re-executed sub-supervisor (its channel on fd 3, its
    // subtree spec on fd 4), started by hand with input it cannot use.
    const std::string dir = marker_path();
    REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    const std::string subtree = dir + "/subtree.json";
    {
        std::ofstream out(subtree);
        out << R"({"name": "n", "actors": [{"name": "a", "cmd": ["true"]}]})";
    }
    const std::vector<std::pair<int, rlimit>> no_core{{RLIMIT_CORE, rlimit{0, 0}}};
    SUBCASE("options of the wrong type: an internal error") {
        const auto r = run({.args = {"__nursery", R"({"path": "root/n", "verbosity": "loud"})"},
                            .rlimits = no_core,
                            .files = {{3, "/dev/null"}, {4, subtree}}});
        INFO(r.err);
        CHECK(r.term_signal == 0); // not SIGABRT from std::terminate
        CHECK(r.exit_code == 70);
        CHECK(r.err.starts_with("forkspawn: error: __nursery: "));
        check_nothing_left(r.tag);
    }
    SUBCASE("no subtree spec on fd 4") {
        const auto r = run({.args = {"__nursery", R"({"path": "root/n"})"},
                            .rlimits = no_core,
                            .files = {{3, "/dev/null"}}});
        INFO(r.err);
        CHECK(r.term_signal == 0);
        CHECK(r.exit_code == 2);
        CHECK(r.err.starts_with("forkspawn: error: "));
        CHECK(r.err.find("fd 4") != std::string::npos);
        check_nothing_left(r.tag);
    }
    SUBCASE("options that are not JSON") {
        const auto r = run({.args = {"__nursery", "{not json"},
                            .rlimits = no_core,
                            .files = {{3, "/dev/null"}, {4, subtree}}});
        INFO(r.err);
        CHECK(r.term_signal == 0);
        CHECK(r.exit_code == 2);
        CHECK(r.err.starts_with("forkspawn: error: __nursery: the options are not a JSON object"));
        check_nothing_left(r.tag);
    }
    ::unlink(subtree.c_str());
    ::rmdir(dir.c_str());
}

TEST_CASE("a nested spawn failure with a huge error is reported as it happened") {
    // argv[0] of 300,000 bytes: the spawn fails with ENAMETOOLONG, and the
    // error that quotes it used to make the sub-supervisor's "reaped"
    // message too large for its channel (EMSGSIZE): the queue was dropped
    // and the actor reported killed by a supervisor that had not died.
    const std::string program = "/" + std::string(300'000, 'x');
    const json spec = {
        {"name", "root"},
        {"actors",
         {{{"name", "n"},
           {"actors", {{{"name", "a"}, {"cmd", {program}}}, {{"name", "b"}, {"cmd", {"true"}}}}}}}}};
    const auto r = run({.args = {"--report=json", "-"}, .stdin_data = spec.dump()});
    INFO(r.err.substr(0, 2000));
    CHECK(r.exit_code == 1);
    const auto rows = by_path(parse_report(r.out));
    const json& a = rows.at("root/n/a");
    CHECK(a["outcome"] == "spawn_failed");
    CHECK(a["cancel_reason"].is_null());
    REQUIRE(a["error"].is_string());
    const std::string error = a["error"];
    CHECK(error.find("ENAMETOOLONG") != std::string::npos);
    CHECK(error.size() <= 4200);
    CHECK(error.find("bytes cut)") != std::string::npos);
    CHECK(rows.at("root/n")["outcome"] == "failed");
    CHECK(rows.at("root/n")["cancel_reason"].is_null());
    check_nothing_left(r.tag);
}

TEST_CASE("a pidfd that cannot be opened on the forkserver thread fails the spawn, no zombie") {
    // The event loop reaps with __WNOTHREAD and can never reap a child of
    // the forkserver thread: such a child, killed for want of a pidfd, was
    // left a zombie while the loop spun on it.
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = run(with_fault({.args = {"run", "--report=json", "-"},
                                   .stdin_data = R"({"actors": [{"name": "a", "cmd": ["true"]}]})"},
                                  "pidfd_off_main"));
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    INFO(r.err);
    CHECK(r.err.find("fault shim: pidfd_off_main") != std::string::npos);
    const auto actors = by_path(parse_report(r.out));
    if (backend() == "subint_forkserver") {
        CHECK(r.exit_code == 1);
        CHECK(actors.at("root/a")["outcome"] == "spawn_failed");
        const std::string error = actors.at("root/a")["error"].is_string()
                                      ? actors.at("root/a")["error"].get<std::string>()
                                      : "";
        CHECK(error.find("pidfd_open") != std::string::npos);
        CHECK(error.find("EMFILE") != std::string::npos);
    } else {
        // Their pidfds come from clone itself (trio) or the main thread.
        CHECK(r.exit_code == 0);
        CHECK(actors.at("root/a")["outcome"] == "completed");
    }
    CHECK(took < 4.0);
    check_nothing_left(r.tag);
}
