// SPDX-License-Identifier: MIT
// The command line without traps: paths relative to the spec's directory,
// ${NAME} in env values, signals by number and real-time signals, global
// flags anywhere, a mistyped command, errors that name the environment
// variable they came from, and the warnings of `check`.
#include "harness.hpp"

#include <chrono>
#include <csignal>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/stat.h>
#include <thread>

using namespace forkspawn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

json sh(const std::string& name, const std::string& script) {
    return {{"name", name}, {"cmd", {"sh", "-c", script}}};
}

RunResult run_args(std::vector<std::string> args, const std::string& stdin_data = "",
                   std::vector<std::pair<std::string, std::string>> env = {}) {
    return run({.args = std::move(args), .stdin_data = stdin_data, .env = std::move(env)});
}

} // namespace

TEST_CASE("cli: relative cwd, output file and ./program resolve against the spec's directory") {
    TempDir dir;
    std::filesystem::create_directories(dir / "project/work");
    {
        std::ofstream script(dir / "project/hello.sh");
        script << "#!/bin/sh\necho \"hello from $(pwd)\"\n";
    }
    ::chmod((dir / "project/hello.sh").c_str(), 0755);
    {
        std::ofstream script(dir / "project/work/here.sh");
        script << "#!/bin/sh\necho here\n";
    }
    ::chmod((dir / "project/work/here.sh").c_str(), 0755);
    const json spec = {{"actors",
                        {{{"name", "a"},
                          {"cmd", {"../hello.sh"}},
                          {"cwd", "work"},
                          {"output", {{"file", "logs.txt"}}}},
                         // With a cwd, ./x is relative to it: where the actor runs.
                         {{"name", "b"}, {"cmd", {"./here.sh"}}, {"cwd", "work"}},
                         {{"name", "c"}, {"cmd", {"./hello.sh"}}}}}};
    const std::string path = dir / "project/spec.json";
    std::ofstream(path) << spec.dump();
    // forkspawn runs from elsewhere: "/".
    const auto r = run_args({"run", "--report=json", path});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(slurp_file(dir / "project/logs.txt") ==
          "hello from " + std::filesystem::canonical(dir / "project/work").string() + "\n");
    CHECK(r.err.find("root/b | here") != std::string::npos);
    CHECK(r.err.find("root/c | hello from ") != std::string::npos);
    // check shows them resolved.
    const auto c = run_args({"check", path});
    CHECK(c.exit_code == 0);
    CHECK(c.out.find("file:" + (dir / "project/logs.txt")) != std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("cli: a spec on stdin resolves relative paths against the current directory") {
    TempDir dir;
    const json spec = {{"actors", {sh("a", "echo out")}}, {"output", {{"file", "x.log"}}}};
    // The harness runs forkspawn in the test's own directory.
    const std::string here = std::filesystem::current_path().string();
    const auto r = run_args({"run", "--report=json", "-"}, spec.dump());
    CHECK(r.exit_code == 0);
    CHECK(slurp_file(here + "/x.log") == "out\n");
    std::filesystem::remove(here + "/x.log");
    check_nothing_left(r.tag);
}

TEST_CASE("cli: ${NAME} in env values expands from forkspawn's environment, $$ is a '$'") {
    json a = sh("a", "echo \"[$X] [$P]\"");
    a["env"] = {{"X", "${FS_TEST_VALUE}-$$-${FS_TEST_UNSET}-$HOME-${FS_TEST_VALUE}"},
                {"P", "/opt/x/bin:${PATH}"}};
    const auto r = run_args({"run", "--report=json", "-"}, json{{"actors", {a}}}.dump(),
                            {{"FS_TEST_VALUE", "v a l"}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    CHECK(r.err.find("root/a | [v a l-$--$HOME-v a l] [/opt/x/bin:" + path + "]") !=
          std::string::npos);
    check_nothing_left(r.tag);

    // A '${' that is not ${NAME}: an error at its place, nothing run.
    a["env"] = {{"X", "${1BAD}"}};
    const auto bad = run_args({"check", "-"}, json{{"actors", {a}}}.dump());
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("/actors/0/env/X: '${1BAD}' is not a variable name") != std::string::npos);
    a["env"] = {{"X", "abc${OPEN"}};
    const auto open = run_args({"check", "-"}, json{{"actors", {a}}}.dump());
    CHECK(open.exit_code == 2);
    CHECK(open.err.find("has no closing '}'") != std::string::npos);
}

TEST_CASE("cli: signals by number and real-time signals, and a lone signal as --stop") {
    // The actor ends on SIGRTMIN+3 only (bash names it so), then on 15.
    json rt = {{"name", "rt"},
               {"cmd",
                {"bash", "-c",
                 "trap 'echo got-rt; exit 0' RTMIN+3; trap '' TERM; "
                 "echo ready; while :; do sleep 0.1; done"}},
               {"daemon", true},
               {"stop", "SIGRTMIN+3, 20s, SIGKILL"}};
    json num = {{"name", "num"},
                {"cmd",
                 {"sh", "-c",
                  "trap 'echo got-15; exit 0' 15; echo ready; "
                  "while :; do sleep 0.1; done"}},
                {"daemon", true},
                {"stop", "15"}};
    json done = sh("done", "echo finished");
    done["after"] = {{"rt", "started"}, {"num", "started"}};
    const auto r = run_args({"run", "--report=json", "--stop=TERM", "-"},
                            json{{"actors", {rt, num, done}}}.dump());
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json report = parse_report(r.out);
    CHECK(entry(report, "root/rt")["stop"]["sent"] == json({"SIGRTMIN+3"}));
    CHECK(entry(report, "root/num")["stop"]["sent"] == json({"SIGTERM"}));
    // `check` shows the lone signal's full sequence.
    const auto c = run_args({"check", "-"}, json{{"actors", {num}}}.dump());
    CHECK(c.out.find("SIGTERM,1.6s,SIGKILL") != std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("cli: -v and -q before or after the command, -q still prints failures, -vv more") {
    const std::string spec = json{{"actors", {sh("bad", "exit 3")}}}.dump();
    for (const auto& args :
         {std::vector<std::string>{"-q", "run", "-"}, {"run", "-q", "-"}, {"-q", "-"}}) {
        const auto r = run_args(args, spec);
        CAPTURE(r.err);
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("forkspawn: root/bad failed (rc=3)") != std::string::npos);
        CHECK(r.err.find("cancelling") == std::string::npos); // notable events: not with -q
    }
    const std::string ok = json{{"actors", {sh("a", "true")}}}.dump();
    const auto v = run_args({"-v", "run", "-"}, ok);
    CHECK(v.exit_code == 0);
    CHECK(v.err.find("root/a spawned, pid ") != std::string::npos);
    CHECK(v.err.find("argv [") == std::string::npos);
    const auto vv = run_args({"run", "-vv", "-"}, ok);
    CHECK(vv.exit_code == 0);
    CHECK(
        vv.err.find(
            R"(argv ["sh","-c","true"], cwd (forkspawn's), fd 0 /dev/null, fds 1 and 2 a pipe to forkspawn)") !=
        std::string::npos);
    check_nothing_left(v.tag);
    check_nothing_left(vv.tag);
}

TEST_CASE("cli: a mistyped command is named, with what was meant") {
    const auto r = run_args({"chek", "spec.json"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("forkspawn: error: unknown command 'chek'; did you mean 'check'?") == 0);
    CHECK(run_args({"bakends"}).err.find("did you mean 'backends'?") != std::string::npos);
    // A file of that name is a spec, not a typo.
    TempDir dir;
    const std::string spec = dir / "chek";
    std::ofstream(spec) << json{{"actors", {sh("a", "true")}}}.dump();
    CHECK(run_args({spec, "--report=none"}).exit_code == 0);
    // Far from every command: the missing spec is what is said.
    const auto far = run_args({"zzzzzz"});
    CHECK(far.exit_code == 2);
    CHECK(far.err.find("cannot open spec zzzzzz") != std::string::npos);
}

TEST_CASE("cli: errors from FORKSPAWN_SPAWN_BACKEND and FORKSPAWN_CGROUP name the variable") {
    const std::string spec = json{{"actors", {sh("a", "true")}}}.dump();
    const auto b = run_args({"run", "-"}, spec, {{"FORKSPAWN_SPAWN_BACKEND", "nope"}});
    CHECK(b.exit_code == 2);
    CHECK(b.err.find("forkspawn: error: FORKSPAWN_SPAWN_BACKEND: unknown spawn backend 'nope'") ==
          0);
    const auto flag = run_args({"run", "--spawn-backend=nope", "-"}, spec);
    CHECK(flag.err.find("forkspawn: error: unknown spawn backend 'nope'") == 0);
    const auto c = run_args({"run", "-"}, spec, {{"FORKSPAWN_CGROUP", "maybe"}});
    CHECK(c.exit_code == 2);
    CHECK(c.err.find("FORKSPAWN_CGROUP: unknown mode 'maybe'") != std::string::npos);
}

TEST_CASE("cli: top-level --help shows the run options") {
    const auto r = run_args({"--help"});
    CHECK(r.exit_code == 0);
    for (const char* option :
         {"--spawn-backend", "--report", "--stop", "--timeout", "--control", "-j", "-v", "-q"})
        CHECK(r.out.find(option) != std::string::npos);
}

TEST_CASE("cli: check warns of what may fail at run time, and hides env values") {
    TempDir dir;
    json missing = {{"name", "missing"}, {"cmd", {"no-such-program-anywhere"}}};
    json nocwd = {{"name", "nocwd"}, {"cmd", {"true"}}, {"cwd", dir / "absent"}};
    json secret = {{"name", "secret"}, {"cmd", {"true"}}, {"env", {{"API_KEY", "hunter2-abc"}}}};
    json daemons = {{"name", "services"},
                    {"actors", {{{"name", "d"}, {"cmd", {"sleep", "1"}}, {"daemon", true}}}}};
    const auto r =
        run_args({"check", "-"}, json{{"actors", {missing, nocwd, secret, daemons}}}.dump());
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("<stdin>:1:") != std::string::npos);
    CHECK(r.err.find("/actors/0/cmd/0: warning: 'no-such-program-anywhere' is not found in the "
                     "actor's PATH") != std::string::npos);
    CHECK(r.err.find("/actors/1/cwd: warning: cwd " + (dir / "absent") + " is not a directory") !=
          std::string::npos);
    CHECK(r.err.find("/actors/3: warning: every actor of this nursery is a daemon") !=
          std::string::npos);
    CHECK(r.out.find("hunter2") == std::string::npos);
    CHECK(r.out.find("env:API_KEY=<11 bytes>") != std::string::npos);
    // A daemon nursery of daemons is fine; so is the root.
    daemons["daemon"] = true;
    const auto quiet = run_args({"check", "-"}, json{{"actors", {daemons}}}.dump());
    CHECK(quiet.err.empty());
}

namespace {

// The state letter of /proc/PID/stat ('T': stopped), or '?' when gone.
char process_state(pid_t pid) {
    const std::string stat = slurp_file("/proc/" + std::to_string(pid) + "/stat");
    const auto paren = stat.rfind(')');
    return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

bool wait_state(pid_t pid, char state, std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (process_state(pid) != state)
        if (std::chrono::steady_clock::now() > until) return false;
    return true;
}

pid_t pid_after(const std::string& err, const std::string& prefix) {
    const auto at = err.find(prefix);
    return at == std::string::npos ? -1 : std::stoi(err.substr(at + prefix.size()));
}

} // namespace

TEST_CASE("cli: SIGTSTP stops the tree with forkspawn, SIGCONT resumes both, deadlines moved") {
    json a = sh("a", "echo ready $$; exec sleep 30");
    a["timeout"] = "3s";
    const json spec = {
        {"actors", {a, {{"name", "n"}, {"actors", {sh("b", "echo ready $$; exec sleep 30")}}}}}};
    Process p({.args = {"run", "--report=json", "-"}, .stdin_data = spec.dump()});
    REQUIRE(p.read_until(
        [](const std::string&, const std::string& err) {
            return err.find("root/a | ready ") != std::string::npos &&
                   err.find("root/n/b | ready ") != std::string::npos;
        },
        20s));
    const pid_t pa = pid_after(p.err_so_far(), "root/a | ready ");
    const pid_t pb = pid_after(p.err_so_far(), "root/n/b | ready ");
    REQUIRE(pa > 0);
    REQUIRE(pb > 0);
    p.signal(SIGTSTP);
    CHECK(wait_state(p.pid(), 'T', 10s));
    CHECK(wait_state(pa, 'T', 10s));
    CHECK(wait_state(pb, 'T', 10s)); // through its sub-supervisor
    // The tree stays stopped for as long as it is left so: 2.5 s here,
    // nearly all of a's 3 s timeout.
    std::this_thread::sleep_for(2500ms);
    CHECK(process_state(pa) == 'T');
    p.signal(SIGCONT);
    CHECK(wait_state(pb, 'S', 10s));
    const auto r = p.wait();
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("got SIGTSTP; stopping the tree") != std::string::npos);
    const json report = parse_report(r.out);
    const json ea = entry(report, "root/a");
    CHECK(ea["cancel_reason"] == "timeout");
    // Never early: its 3 s, plus the 2.5 s the tree was stopped.
    CHECK(ea["runtime_ms"].get<double>() >= 5500.0);
    CHECK(entry(report, "root/n/b")["cancel_reason"] == "sibling_failed");
    check_nothing_left(r.tag);
}
