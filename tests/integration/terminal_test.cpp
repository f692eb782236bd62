// SPDX-License-Identifier: MIT
// forkspawn started in a terminal's foreground, as an interactive shell
// starts a job: an actor with stdin "inherit" gets the terminal's foreground
// group while it runs, one such actor at a time, and forkspawn takes the
// terminal back when it ends. Without that, the actor (a background group
// of the terminal) is stopped by SIGTTIN at its first read, for ever.
#include "harness.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace forkspawn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {


json reader(const std::string& name) {
    return {{"name", name},
            {"cmd", {"sh", "-c", "echo " + name + "-ready; read x; echo " + name + ":$x"}},
            {"stdin", "inherit"}};
}

RunOptions in_terminal(const TempDir& dir, const json& spec, std::vector<std::string> args) {
    const std::string path = dir / "spec.json";
    std::ofstream(path) << spec.dump();
    args.insert(args.begin(), {"run", "--report=json", "-v"});
    args.push_back(path);
    return {.args = args, .terminal = true};
}

// Waits (bounded) until the terminal's foreground group is `group`.
bool foreground_becomes(const Process& p, pid_t group, std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (p.terminal_foreground() != group) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

} // namespace

TEST_CASE("terminal: actors with stdin inherit read the terminal one at a time, and forkspawn "
          "takes it back") {
    TempDir dir;
    // w ends the run when the test says so, through a FIFO the test holds
    // open for reading and writing (its open never waits, and what is
    // written stays until w reads it).
    const std::string go = dir / "go";
    REQUIRE(::mkfifo(go.c_str(), 0600) == 0);
    const int go_fd = ::open(go.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(go_fd >= 0);
    const json spec = {
        {"actors",
         {reader("a"), reader("b"),
          {{"name", "w"}, {"cmd", {"sh", "-c", "read x < " + go + "; echo w:$x"}}}}}};
    Process p(in_terminal(dir, spec, {}));
    REQUIRE(p.wait_for_stderr("root/a | a-ready\n", 20s));
    // b waits for a: not started, and the live tree says why.
    p.signal(SIGUSR1);
    CHECK(p.wait_for_stderr("root/b  cmd  pid -  waiting for the terminal", 20s));
    CHECK(p.err_so_far().find("b-ready") == std::string::npos);
    // Lines typed go to the actor in the foreground: a's first, then b's.
    p.terminal_write("one\ntwo\n");
    REQUIRE(p.wait_for_stderr("root/b | b:two\n", 20s));
    // b ended (or is about to): the terminal is forkspawn's again.
    CHECK(foreground_becomes(p, p.pid(), 20s));
    REQUIRE(::write(go_fd, "go\n", 3) == 3);
    const auto r = p.wait();
    ::close(go_fd);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("root/a | a:one\n") != std::string::npos);
    CHECK(r.err.find("root/w | w:go\n") != std::string::npos);
    const json report = parse_report(r.out);
    const auto all = by_path(report);
    for (const char* path : {"root/a", "root/b", "root/w"}) {
        INFO(path);
        CHECK(all.at(path)["outcome"] == "completed");
    }
    // One at a time: b started after a was reaped.
    CHECK(all.at("root/b")["started_ms"].get<double>() >=
          all.at("root/a")["ended_ms"].get<double>());
    check_nothing_left(r.tag);
}

TEST_CASE("terminal: an actor waiting for the terminal when the tree is cancelled never starts") {
    TempDir dir;
    const json spec = {{"actors", {reader("a"), reader("b")}}};
    Process p(in_terminal(dir, spec, {"--timeout=1s"}));
    REQUIRE(p.wait_for_stderr("root/a | a-ready\n", 20s));
    const auto r = p.wait(); // nothing is typed: a reads until the timeout
    INFO(r.err);
    CHECK(r.exit_code == 124);
    const json report = parse_report(r.out);
    CHECK(entry(report, "root/a")["outcome"] == "cancelled");
    CHECK(entry(report, "root/b")["outcome"] == "not_started");
    CHECK(r.err.find("b-ready") == std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("terminal: one actor at a time across nested nurseries") {
    // The root's a holds the terminal first; n's sub-supervisor borrows it
    // for c, then d, and gives it back when neither wants it any more.
    TempDir dir;
    const json nursery = {{"name", "n"}, {"actors", {reader("c"), reader("d")}}};
    const json spec = {{"actors", {reader("a"), nursery}}};
    Process p(in_terminal(dir, spec, {}));
    REQUIRE(p.wait_for_stderr("root/a | a-ready\n", 20s));
    p.terminal_write("one\ntwo\nthree\n");
    const auto r = p.wait();
    INFO(r.err);
    CHECK(r.exit_code == 0);
    for (const char* line : {"root/a | a:one\n", "root/n/c | c:two\n", "root/n/d | d:three\n"}) {
        INFO(line);
        CHECK(r.err.find(line) != std::string::npos);
    }
    const auto all = by_path(parse_report(r.out));
    for (const char* path : {"root/a", "root/n", "root/n/c", "root/n/d"}) {
        INFO(path);
        CHECK(all.at(path)["outcome"] == "completed");
    }
    CHECK(all.at("root/n/c")["started_ms"].get<double>() >=
          all.at("root/a")["ended_ms"].get<double>());
    CHECK(all.at("root/n/d")["started_ms"].get<double>() >=
          all.at("root/n/c")["ended_ms"].get<double>());
    check_nothing_left(r.tag);
}
