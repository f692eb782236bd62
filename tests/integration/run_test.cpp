// SPDX-License-Identifier: MIT
// `forkspawn run` on the real binary: outcomes, one_for_all, daemons,
// timeouts, signals, no survivors, fd hygiene, output, scale, reports and
// usage errors. Each test parses the JSON report and ends by proving that
// nothing it started is left (check_nothing_left) and no fd leaked.
//
// Synchronisation is never a sleep: actors announce readiness on their
// output ("root/x | ready" on forkspawn's stderr), or rendezvous with each
// other over a FIFO (opening one end blocks until the other end is open).
#include "harness.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <set>
#include <sstream>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace forkspawn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

extern char** environ;

namespace {

// How long to wait for a readiness line: generous, for a loaded 2-core box.
constexpr auto k_ready = 20s;

// ---- specs -----------------------------------------------------------------

json actor(const std::string& name, const std::vector<std::string>& cmd) {
    return {{"name", name}, {"cmd", cmd}};
}
json sh(const std::string& name, const std::string& script) {
    return actor(name, {"sh", "-c", script});
}
json tree(const std::vector<json>& actors) {
    return {{"actors", actors}};
}

// `forkspawn run [args] -` with the spec on stdin.
RunOptions run_opts(const json& spec, std::vector<std::string> args = {"--report=json"},
                    std::chrono::milliseconds deadline = 60'000ms) {
    args.insert(args.begin(), "run");
    args.push_back("-");
    return {.args = args, .stdin_data = spec.dump(), .deadline = deadline};
}
RunResult run_spec(const json& spec, std::vector<std::string> args = {"--report=json"}) {
    return run(run_opts(spec, std::move(args)));
}

// ---- the report --------------------------------------------------------------

// Lines an actor printed, from forkspawn's stderr ("path | line").
std::vector<std::string> actor_lines(const std::string& err, const std::string& path) {
    std::vector<std::string> out;
    const std::string prefix = path + " | ";
    for (const auto& line : lines(err))
        if (line.rfind(prefix, 0) == 0) out.push_back(line.substr(prefix.size()));
    return out;
}

// ---- files -------------------------------------------------------------------

// ---- a run whose report reader is gone -----------------------------------------

struct ClosedReaderResult {
    int exit_code = -1;
    int term_signal = 0;
    bool timed_out = false;
    std::string err;
};

// Runs forkspawn with stdout a pipe whose read end is closed before it starts
// (the `forkspawn ... | head -c1` case, after head exited). SIGPIPE gets its
// default disposition back, as in a shell pipeline: forkspawn must handle
// EPIPE itself. The exit is awaited on a pidfd with a deadline.
ClosedReaderResult run_with_closed_stdout(const std::vector<std::string>& args,
                                          const std::string& tag, const TempDir& dir) {
    ClosedReaderResult result;
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    ::close(out[0]);
    const std::string err_path = dir / "closed-reader.err";
    const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(err_fd >= 0);
    REQUIRE(null_fd >= 0);

    std::vector<std::string> argv_s{binary()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e)
        if (std::string_view(*e).rfind("FORKSPAWN_", 0) != 0) env_s.emplace_back(*e);
    env_s.push_back("FORKSPAWN_TEST_TAG=" + tag);
    std::vector<char*> envp;
    for (auto& e : env_s)
        envp.push_back(e.data());
    envp.push_back(nullptr);

    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::setpgid(0, 0);
        ::dup2(null_fd, 0);
        ::dup2(out[1], 1);
        ::dup2(err_fd, 2);
        ::signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    ::setpgid(pid, pid);
    ::close(out[1]);
    ::close(err_fd);
    ::close(null_fd);
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    REQUIRE(pidfd >= 0);
    pollfd p{pidfd, POLLIN, 0};
    int n;
    do {
        n = ::poll(&p, 1, 20'000);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        result.timed_out = true;
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(pidfd);
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
    result.err = slurp_file(err_path);
    return result;
}

} // namespace

// =============================================================================
// 1. Outcomes
// =============================================================================

TEST_CASE("run: an actor that exits 0 completed") {
    const auto fds = open_fds();
    const auto r = run_spec(tree({actor("a", {"true"})}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "completed");
    CHECK(rep["exit_code"] == 0);
    CHECK(rep["backend"] == backend());
    CHECK(rep["forkspawn_version"] == FORKSPAWN_VERSION);
    REQUIRE(rep["actors"].size() == 1);
    const json a = entry(rep, "root/a");
    CHECK(a["name"] == "a");
    CHECK(a["kind"] == "cmd");
    CHECK(a["backend"] == backend());
    CHECK(a["pid"].is_number_integer());
    CHECK(a["pid"].get<long>() > 0);
    CHECK(a["outcome"] == "completed");
    CHECK(a["status"] == "rc=0");
    CHECK(a["exit_code"] == 0);
    CHECK(a["signal"].is_null());
    CHECK(a["cancel_reason"].is_null());
    CHECK(a["error"].is_null());
    CHECK(a["stop"].is_null());
    CHECK(a["started_ms"].is_number());
    CHECK(a["ended_ms"].is_number());
    CHECK(a["runtime_ms"].is_number());
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: an actor that exits 3 failed and forkspawn exits 1") {
    const auto fds = open_fds();
    const auto r = run_spec(tree({sh("a", "exit 3")}));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "failed");
    CHECK(rep["exit_code"] == 1);
    const json a = entry(rep, "root/a");
    CHECK(a["outcome"] == "failed");
    CHECK(a["status"] == "rc=3");
    CHECK(a["exit_code"] == 3);
    CHECK(a["signal"].is_null());
    CHECK(a["cancel_reason"].is_null());
    CHECK(a["stop"].is_null());
    CHECK(r.err.find("root/a failed (rc=3)") != std::string::npos);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: an actor killed by a signal forkspawn did not send failed") {
    const auto fds = open_fds();
    const auto r = run_spec(tree({sh("a", "ulimit -c 0; kill -ABRT $$")}));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "failed");
    const json a = entry(rep, "root/a");
    CHECK(a["outcome"] == "failed");
    CHECK(a["status"] == "signal=SIGABRT");
    CHECK(a["signal"] == "SIGABRT");
    CHECK(a["exit_code"].is_null());
    CHECK(a["cancel_reason"].is_null());
    CHECK(a["stop"].is_null());
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: a missing binary is spawn_failed with the exec error") {
    const auto fds = open_fds();
    for (const std::string program :
         {"/nonexistent/forkspawn-no-such-program", "forkspawn-no-such-program"}) {
        INFO(program);
        const auto r = run_spec(tree({actor("a", {program, "arg"})}));
        INFO(r.err);
        CHECK(r.exit_code == 1);
        const json rep = parse_report(r.out);
        CHECK(rep["result"] == "failed");
        const json a = entry(rep, "root/a");
        CHECK(a["outcome"] == "spawn_failed");
        REQUIRE(a["error"].is_string());
        const std::string error = a["error"];
        CHECK(error.find("failed to execute") != std::string::npos);
        CHECK(error.find(program) != std::string::npos);
        CHECK(error.find("No such file or directory (ENOENT)") != std::string::npos);
        CHECK(a["pid"].is_null());
        CHECK(a["status"].is_null());
        CHECK(a["exit_code"].is_null());
        CHECK(a["signal"].is_null());
        check_nothing_left(r.tag);
    }
    CHECK(open_fds() == fds);
}

TEST_CASE("run: a bad cwd is spawn_failed naming the chdir") {
    const auto fds = open_fds();
    json a_spec = actor("a", {"true"});
    a_spec["cwd"] = "/nonexistent";
    const auto r = run_spec(tree({a_spec}));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json a = entry(parse_report(r.out), "root/a");
    CHECK(a["outcome"] == "spawn_failed");
    REQUIRE(a["error"].is_string());
    const std::string error = a["error"];
    CHECK(error.find("chdir /nonexistent") != std::string::npos);
    CHECK(error.find("ENOENT") != std::string::npos);
    CHECK(a["pid"].is_null());
    CHECK(a["status"].is_null());
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: an actor cancelled by a failing sibling") {
    const auto fds = open_fds();
    const auto r = run_spec(tree({sh("s", "exec sleep 100"), sh("f", "exit 1")}));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "failed");
    const json s = entry(rep, "root/s");
    CHECK(s["outcome"] == "cancelled");
    CHECK(s["status"] == "signal=SIGTERM");
    CHECK(s["signal"] == "SIGTERM");
    CHECK(s["cancel_reason"] == "sibling_failed");
    REQUIRE(s["stop"].is_object());
    CHECK(s["stop"]["sent"] == json::array({"SIGTERM"}));
    CHECK(s["stop"]["escalated"] == false);
    CHECK(s["stop"]["exit_after_ms"].get<double>() >= 0);
    CHECK(s["stop"]["exit_after_ms"].get<double>() < 1600);
    const json f = entry(rep, "root/f");
    CHECK(f["outcome"] == "failed");
    CHECK(f["cancel_reason"].is_null());
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: an actor that ignores SIGTERM is killed when the grace runs out") {
    const auto fds = open_fds();
    TempDir dir;
    // f fails only once k has set its trap: k opens the FIFO after `trap`,
    // and f's read returns only when k has opened it.
    const std::string fifo = dir.fifo("k-ready");
    json spec = tree({sh("k", "trap '' TERM; echo > '" + fifo + "'; exec sleep 100"),
                      sh("f", "read x < '" + fifo + "'; exit 1")});
    spec["stop"] = {"SIGTERM", "300ms", "SIGKILL"};
    const auto r = run_spec(spec);
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    const json k = entry(rep, "root/k");
    CHECK(k["outcome"] == "killed");
    CHECK(k["status"] == "signal=SIGKILL");
    CHECK(k["signal"] == "SIGKILL");
    CHECK(k["cancel_reason"] == "sibling_failed");
    REQUIRE(k["stop"].is_object());
    CHECK(k["stop"]["sent"] == json::array({"SIGTERM", "SIGKILL"}));
    CHECK(k["stop"]["escalated"] == true);
    const double after = k["stop"]["exit_after_ms"];
    CHECK(after >= 300);
    CHECK(after < 300 + 2000);
    // When each signal went out, on the report's clock: SIGKILL never early,
    // and both inside the actor's lifetime.
    const json& sent_ms = k["stop"]["sent_ms"];
    REQUIRE(sent_ms.size() == 2);
    const double term = sent_ms[0], kill = sent_ms[1];
    CHECK(kill - term >= 300 - 0.1); // rounded to 0.1 ms
    CHECK(kill - term < 300 + 2000);
    CHECK(term >= k["started_ms"].get<double>());
    CHECK(kill <= k["ended_ms"].get<double>());
    CHECK(entry(rep, "root/f")["outcome"] == "failed");
    CHECK(r.err.find("root/k did not stop within 300ms; sent SIGKILL") != std::string::npos);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: actors after a synchronous spawn failure are not_started") {
    // An output file that cannot be opened fails the actor before any fork,
    // while the rest of the tree is still pending.
    const auto fds = open_fds();
    TempDir dir;
    const std::string marker = dir / "b-ran";
    json a = actor("a", {"true"});
    a["output"] = {{"file", "/nonexistent/forkspawn-out.log"}};
    const auto r = run_spec(tree({a, sh("b", "touch '" + marker + "'")}));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    const json ja = entry(rep, "root/a");
    CHECK(ja["outcome"] == "spawn_failed");
    CHECK(ja["error"].get<std::string>().find("/nonexistent/forkspawn-out.log") !=
          std::string::npos);
    const json jb = entry(rep, "root/b");
    CHECK(jb["outcome"] == "not_started");
    CHECK(jb["cancel_reason"] == "sibling_failed");
    CHECK(jb["pid"].is_null());
    CHECK(jb["status"].is_null());
    CHECK_FALSE(std::filesystem::exists(marker));
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

// =============================================================================
// 2. one_for_all
// =============================================================================

TEST_CASE("run: one_for_all: one failure cancels every sibling") {
    const auto fds = open_fds();
    const auto r =
        run_spec(tree({sh("a", "exec sleep 100"), sh("b", "exec sleep 100"), sh("c", "exit 1")}));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "failed");
    CHECK(rep["exit_code"] == 1);
    for (const char* path : {"root/a", "root/b"}) {
        INFO(path);
        const json a = entry(rep, path);
        CHECK(a["outcome"] == "cancelled");
        CHECK(a["cancel_reason"] == "sibling_failed");
    }
    CHECK(entry(rep, "root/c")["outcome"] == "failed");
    CHECK(r.err.find("root/c failed; cancelling 2 siblings (one_for_all)") != std::string::npos);
    // Cancelled at once, not after the sleepers' 100s.
    CHECK(rep["duration_ms"].get<double>() < 10'000);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: one_for_all: 25 failures at once among 25 sleepers") {
    const auto fds = open_fds();
    std::vector<json> actors;
    std::set<std::string> sleepers, failers;
    // Sleepers first: each is running before any failure can be seen.
    for (int i = 0; i < 25; ++i) {
        const std::string name = "sleep" + std::to_string(i);
        actors.push_back(sh(name, "exec sleep 100"));
        sleepers.insert("root/" + name);
    }
    for (int i = 0; i < 25; ++i) {
        const std::string name = "fail" + std::to_string(i);
        actors.push_back(sh(name, "exit 1"));
        failers.insert("root/" + name);
    }
    const auto r = run_spec(tree(actors));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "failed");
    REQUIRE(rep["actors"].size() == 50);
    std::map<std::string, int> seen;
    for (const auto& a : rep["actors"]) {
        const std::string path = a["path"];
        ++seen[path];
        INFO(a.dump());
        if (sleepers.count(path)) {
            CHECK((a["outcome"] == "cancelled" || a["outcome"] == "killed"));
            CHECK(a["cancel_reason"] == "sibling_failed");
        } else {
            REQUIRE(failers.count(path) == 1);
            // A failer reaped after the first failure may have been signalled
            // too (then it exited 1 or died by that signal), and failers
            // ones not yet forked when it was seen are not_started.
            CHECK((a["outcome"] == "failed" || a["outcome"] == "cancelled" ||
                   a["outcome"] == "killed" || a["outcome"] == "not_started"));
        }
    }
    CHECK(seen.size() == 50);
    for (const auto& [path, n] : seen) {
        INFO(path);
        CHECK(n == 1);
    }
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

// =============================================================================
// 3. Daemons
// =============================================================================

TEST_CASE("run: a daemon is cancelled when the work is done") {
    const auto fds = open_fds();
    json d = sh("d", "exec sleep 100");
    d["daemon"] = true;
    const auto r = run_spec(tree({d, sh("w", "echo working")}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "completed");
    const json jd = entry(rep, "root/d");
    CHECK(jd["outcome"] == "cancelled");
    CHECK(jd["cancel_reason"] == "nursery_done");
    CHECK(jd["signal"] == "SIGTERM");
    const json jw = entry(rep, "root/w");
    CHECK(jw["outcome"] == "completed");
    CHECK(jw["cancel_reason"].is_null());
    CHECK(r.err.find("root/w | working") != std::string::npos);
    CHECK(rep["duration_ms"].get<double>() < 10'000);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

// =============================================================================
// 4. Timeouts
// =============================================================================

TEST_CASE("run: --timeout cancels the tree and exits 124") {
    const auto fds = open_fds();
    const auto start = std::chrono::steady_clock::now();
    const auto r = run_spec(tree({sh("a", "exec sleep 100"), sh("b", "exec sleep 100")}),
                            {"--report=json", "--timeout=300ms"});
    const auto elapsed = std::chrono::steady_clock::now() - start;
    INFO(r.err);
    CHECK(r.exit_code == 124);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "timeout");
    CHECK(rep["exit_code"] == 124);
    for (const char* path : {"root/a", "root/b"}) {
        INFO(path);
        const json a = entry(rep, path);
        CHECK(a["outcome"] == "cancelled");
        CHECK(a["cancel_reason"] == "tree_timeout");
    }
    CHECK(rep["duration_ms"].get<double>() >= 300);
    CHECK(elapsed < 10s);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: runtime_ms is never shorter than the actor ran, however many start at once") {
    // 40 actors that each live at least 50ms, spawned in one burst: the
    // loop takes their spawns late, but started_ms is from before each fork.
    std::vector<json> actors;
    for (int i = 0; i < 40; ++i)
        actors.push_back(actor("s" + std::to_string(i), {"sleep", "0.05"}));
    const auto r = run_spec(tree(actors));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json rep = parse_report(r.out);
    REQUIRE(rep["actors"].size() == 40);
    std::string short_ones;
    for (const auto& a : rep["actors"]) {
        const double runtime = a["runtime_ms"].get<double>();
        CHECK(runtime ==
              doctest::Approx(a["ended_ms"].get<double>() - a["started_ms"].get<double>())
                  .epsilon(0.01));
        if (runtime < 50)
            short_ones += " " + a["path"].get<std::string>() + "=" + std::to_string(runtime);
    }
    INFO("shorter than they ran:", short_ones);
    CHECK(short_ones.empty());
    check_nothing_left(r.tag);
}

TEST_CASE("run: the root's timeout in the spec is the tree's deadline, like --timeout") {
    json spec = tree({sh("a", "exec sleep 100")});
    spec["timeout"] = "300ms";
    const auto r = run_spec(spec);
    INFO(r.err);
    CHECK(r.exit_code == 124);
    CHECK(entry(parse_report(r.out), "root/a")["cancel_reason"] == "tree_timeout");
    // No --timeout was given: the message does not name it.
    CHECK(r.err.find("forkspawn: the tree's timeout of 300ms ran out; cancelling the tree") !=
          std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("run: an actor past its own timeout is cancelled and fails the tree") {
    const auto fds = open_fds();
    json a = sh("a", "exec sleep 100");
    a["timeout"] = "200ms";
    const auto r = run_spec(tree({a, sh("b", "exec sleep 100")}));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "failed");
    const json ja = entry(rep, "root/a");
    CHECK(ja["cancel_reason"] == "timeout");
    CHECK(ja["outcome"] == "cancelled");
    CHECK(ja["runtime_ms"].get<double>() >= 200);
    const json jb = entry(rep, "root/b");
    CHECK(jb["cancel_reason"] == "sibling_failed");
    CHECK(jb["outcome"] == "cancelled");
    CHECK(rep["duration_ms"].get<double>() < 10'000);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

// =============================================================================
// 5. Signals to forkspawn
// =============================================================================

TEST_CASE("run: SIGINT, SIGTERM and SIGHUP cancel the tree with exit 128+N") {
    const auto fds = open_fds();
    for (const auto& [signo, name] : std::vector<std::pair<int, std::string>>{
             {SIGINT, "SIGINT"}, {SIGTERM, "SIGTERM"}, {SIGHUP, "SIGHUP"}}) {
        INFO(name);
        Process p(run_opts(
            tree({sh("a", "echo ready; exec sleep 100"), sh("b", "echo ready; exec sleep 100")})));
        REQUIRE(p.read_until(
            [](const std::string&, const std::string& err) {
                return err.find("root/a | ready") != std::string::npos &&
                       err.find("root/b | ready") != std::string::npos;
            },
            k_ready));
        p.signal(signo);
        const auto r = p.wait();
        INFO(r.err);
        CHECK_FALSE(r.timed_out);
        CHECK(r.exit_code == 128 + signo);
        const json rep = parse_report(r.out);
        CHECK(rep["result"] == "cancelled");
        CHECK(rep["exit_code"] == 128 + signo);
        for (const char* path : {"root/a", "root/b"}) {
            INFO(path);
            const json a = entry(rep, path);
            CHECK(a["outcome"] == "cancelled");
            CHECK(a["cancel_reason"] == "signal:" + name);
        }
        check_nothing_left(p.tag());
    }
    CHECK(open_fds() == fds);
}

TEST_CASE("run: a second SIGINT kills at once") {
    const auto fds = open_fds();
    json spec = tree({sh("x", "trap '' TERM; echo ready; exec sleep 100")});
    spec["stop"] = {"SIGTERM", "30s", "SIGKILL"};
    Process p(run_opts(spec));
    REQUIRE(p.wait_for_stderr("root/x | ready", k_ready));
    const auto start = std::chrono::steady_clock::now();
    p.signal(SIGINT);
    // Two pending SIGINTs would merge into one: send the second only once
    // forkspawn has taken the first.
    REQUIRE(p.wait_for_stderr("got SIGINT", k_ready));
    p.signal(SIGINT);
    const auto r = p.wait();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(elapsed < 10s);
    CHECK(r.exit_code == 130);
    const json x = entry(parse_report(r.out), "root/x");
    CHECK(x["outcome"] == "killed");
    CHECK(x["status"] == "signal=SIGKILL");
    CHECK(x["cancel_reason"] == "signal:SIGINT");
    REQUIRE(x["stop"].is_object());
    CHECK(x["stop"]["sent"] == json::array({"SIGTERM", "SIGKILL"}));
    CHECK(x["stop"]["escalated"] == true);
    CHECK(x["stop"]["exit_after_ms"].get<double>() < 10'000);
    check_nothing_left(p.tag());
    CHECK(open_fds() == fds);
}

TEST_CASE("run: a signal during a failure's teardown keeps exit 1") {
    // The first cause decides the exit: k's 30s grace is running because f
    // failed when SIGINT comes; a second SIGINT ends the grace at once.
    const auto fds = open_fds();
    TempDir dir;
    const std::string fifo = dir.fifo("k-ready");
    json spec = tree({sh("k", "trap '' TERM; echo > '" + fifo + "'; exec sleep 100"),
                      sh("f", "read x < '" + fifo + "'; exit 1")});
    spec["stop"] = {"SIGTERM", "30s", "SIGKILL"};
    Process p(run_opts(spec));
    REQUIRE(p.wait_for_stderr("root/f failed; cancelling 1 sibling", k_ready));
    p.signal(SIGINT);
    REQUIRE(p.wait_for_stderr("got SIGINT", k_ready));
    p.signal(SIGINT);
    const auto r = p.wait();
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "failed");
    const json k = entry(rep, "root/k");
    CHECK(k["outcome"] == "killed");
    CHECK(k["cancel_reason"] == "sibling_failed");
    CHECK(k["stop"]["exit_after_ms"].get<double>() < 10'000);
    check_nothing_left(p.tag());
    CHECK(open_fds() == fds);
}

TEST_CASE("run: SIGUSR1 prints the live tree and disturbs nothing") {
    const auto fds = open_fds();
    json a = sh("a", "echo ready; exec sleep 100");
    a["timeout"] = "60s";
    Process p(run_opts(tree({a})));
    REQUIRE(p.wait_for_stderr("root/a | ready", k_ready));
    p.signal(SIGUSR1);
    REQUIRE(p.wait_for_stderr("live tree", k_ready));
    REQUIRE(p.wait_for_stderr("timeout in", k_ready));
    p.signal(SIGTERM);
    const auto r = p.wait();
    INFO(r.err);
    CHECK(r.exit_code == 143);
    const json ja = entry(parse_report(r.out), "root/a");
    CHECK(ja["outcome"] == "cancelled");
    CHECK(ja["cancel_reason"] == "signal:SIGTERM");
    const std::string live =
        "root/a  cmd  pid " + std::to_string(ja["pid"].get<long>()) + "  running";
    CHECK(r.err.find(live) != std::string::npos);
    check_nothing_left(p.tag());
    CHECK(open_fds() == fds);
}

// =============================================================================
// 6. No survivors
// =============================================================================

TEST_CASE("run: an actor's own children go down with it") {
    const auto fds = open_fds();
    TempDir dir;
    const std::string fifo = dir.fifo("a-ready");
    // `a` forks a sleeper and waits for it; f fails once a's sleeper exists.
    const auto r = run_spec(tree({sh("a", "sleep 100 & echo > '" + fifo + "'; wait"),
                                  sh("f", "read x < '" + fifo + "'; exit 1")}));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json a = entry(parse_report(r.out), "root/a");
    CHECK(a["cancel_reason"] == "sibling_failed");
    CHECK((a["outcome"] == "cancelled" || a["outcome"] == "killed"));
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: an actor that left its group while its child stayed still gets the signal") {
    const auto fds = open_fds();
    // The actor forks a sleeper (which keeps the actor's group alive), then
    // moves itself into forkspawn's group: a signal to its group alone
    // would reach only the sleeper, and the actor would wait for SIGKILL.
    json a = actor("a", {"perl", "-e",
                         "if (fork() == 0) { exec 'sleep', '100' } "
                         "setpgrp(0, getpgrp(getppid())) or die; $| = 1; "
                         "print \"moved\\n\"; sleep 100"});
    a["stop"] = {"SIGTERM", "30s", "SIGKILL"};
    Process p(run_opts(tree({a})));
    REQUIRE(p.wait_for_stderr("root/a | moved", k_ready));
    p.signal(SIGINT);
    const auto r = p.wait();
    INFO(r.err);
    CHECK(r.exit_code == 130);
    const json e = entry(parse_report(r.out), "root/a");
    CHECK(e["status"] == "signal=SIGTERM");
    CHECK(e["outcome"] == "cancelled");
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: without cgroups, a double-forked setsid escapee is found and killed at the end") {
    const auto fds = open_fds();
    TempDir dir;
    const std::string left_group = dir.fifo("left-group");
    const std::string escaped = dir.fifo("escaped");
    // The escapee leaves the actor's process group and session, then lets e
    // exit 0 (so it is orphaned, not killed with e's group), then tells w,
    // which keeps the tree alive until then.
    const auto r =
        run_spec(tree({sh("e", "setsid sh -c \"echo > '" + left_group + "'; echo > '" + escaped +
                                   "'; exec sleep 100\" & read x < '" + left_group + "'; exit 0"),
                       sh("w", "read x < '" + escaped + "'")}),
                 {"--report=json", "-v", "--cgroup=off"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json rep = parse_report(r.out);
    CHECK(entry(rep, "root/e")["outcome"] == "completed");
    CHECK(entry(rep, "root/w")["outcome"] == "completed");
    CHECK(r.err.find("killed escaped process") != std::string::npos);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

namespace {

// The state letter of a process in /proc/PID/stat, 0 once it is gone.
char process_state(pid_t pid) {
    std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(stat_file, stat);
    const std::size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size()) return 0;
    return stat[paren + 2];
}

// "pid (comm) state ... cmdline" of each process, for failure messages.
std::string describe(const std::vector<pid_t>& pids) {
    std::string out;
    for (pid_t pid : pids) {
        std::string stat = slurp_file("/proc/" + std::to_string(pid) + "/stat");
        std::string cmdline = slurp_file("/proc/" + std::to_string(pid) + "/cmdline");
        std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
        out += "\n  " + stat.substr(0, stat.find(')') + 3) + " ppid/pgid " +
               stat.substr(stat.find(')') + 4, 16) + " cmd: " + cmdline;
    }
    return out;
}

} // namespace

TEST_CASE("run: SIGKILL of forkspawn takes every actor down") {
    const auto fds = open_fds();
    Process p(
        run_opts(tree({sh("a", "echo ready; exec sleep 100"), sh("b", "echo ready; exec sleep 100"),
                       sh("c", "trap '' TERM; echo ready; exec sleep 100"),
                       // A grandchild in the actor's group goes down too.
                       sh("d", "sleep 100 & echo ready; wait"),
                       // And one that left the group and session (it says
                       // ready itself, so it exists when forkspawn dies).
                       sh("e", "setsid sh -c 'echo ready; exec sleep 100' & wait")})));
    REQUIRE(p.read_until(
        [](const std::string&, const std::string& err) {
            return err.find("root/a | ready") != std::string::npos &&
                   err.find("root/b | ready") != std::string::npos &&
                   err.find("root/c | ready") != std::string::npos &&
                   err.find("root/d | ready") != std::string::npos &&
                   err.find("root/e | ready") != std::string::npos;
        },
        k_ready));
    std::vector<pid_t> started = tagged_processes(p.tag());
    std::erase(started, p.pid());
    INFO("started:", describe(started));
    CHECK(started.size() >= 7); // the actors, d's child and e's escapee
    p.signal(SIGKILL);
    const auto r = p.wait();
    CHECK(r.term_signal == SIGKILL);
    // With forkspawn gone, what it started is reparented to the test process
    // (a subreaper): here, and only here, zombies of the test are expected.
    // Wait until every process seen running is dead (a zombie or gone; an
    // exiting process is neither yet), then reap them.
    const auto until = std::chrono::steady_clock::now() + 5s;
    const auto dead = [&] {
        return std::all_of(started.begin(), started.end(), [](pid_t pid) {
            const char state = process_state(pid);
            return state == 0 || state == 'Z';
        });
    };
    while (!dead() && std::chrono::steady_clock::now() < until)
        ::usleep(20'000); // polling with a deadline, not synchronising
    std::vector<pid_t> alive;
    for (pid_t pid : started)
        if (const char state = process_state(pid); state != 0 && state != 'Z') alive.push_back(pid);
    INFO("still alive:", describe(alive));
    CHECK(alive.empty());
    for (pid_t zombie : zombie_children())
        ::waitpid(zombie, nullptr, 0);
    check_nothing_left(p.tag());
    CHECK(open_fds() == fds);
}

// =============================================================================
// 7. fd hygiene
// =============================================================================

namespace {

std::set<int> fd_numbers(const std::vector<std::string>& printed) {
    std::set<int> out;
    for (const auto& line : printed) {
        INFO(line);
        CHECK(line.find_first_not_of("0123456789") == std::string::npos);
        if (!line.empty()) out.insert(std::atoi(line.c_str()));
    }
    return out;
}

} // namespace

TEST_CASE("run: an actor gets only stdin, stdout and stderr") {
    const auto fds = open_fds();
    const auto r = run_spec(tree({actor("l", {"ls", "/proc/self/fd"})}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const std::set<int> seen = fd_numbers(actor_lines(r.err, "root/l"));
    INFO("fds: ", json(seen).dump());
    // 3 is ls's own handle on /proc/self/fd.
    CHECK(std::includes(std::set<int>{0, 1, 2, 3}.begin(), std::set<int>{0, 1, 2, 3}.end(),
                        seen.begin(), seen.end()));
    CHECK(seen.count(0) == 1);
    CHECK(seen.count(1) == 1);
    CHECK(seen.count(2) == 1);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: an fd forkspawn inherited does not reach the actors") {
    const auto fds = open_fds();
    // Not close-on-exec, at a number no actor would use for itself.
    const int opened = ::open("/dev/null", O_RDONLY);
    REQUIRE(opened >= 0);
    const int leaked = ::fcntl(opened, F_DUPFD, 57);
    ::close(opened);
    REQUIRE(leaked >= 57);
    CHECK((::fcntl(leaked, F_GETFD) & FD_CLOEXEC) == 0);
    const auto r = run_spec(tree({actor("l", {"ls", "/proc/self/fd"})}));
    ::close(leaked);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const std::set<int> seen = fd_numbers(actor_lines(r.err, "root/l"));
    INFO("fds: ", json(seen).dump());
    CHECK(seen.count(leaked) == 0);
    CHECK(std::includes(std::set<int>{0, 1, 2, 3}.begin(), std::set<int>{0, 1, 2, 3}.end(),
                        seen.begin(), seen.end()));
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

// =============================================================================
// 8. Output
// =============================================================================

TEST_CASE("run: a 2 MB flood of output is prefixed line by line") {
    const auto fds = open_fds();
    const auto r = run_spec(tree({sh("a", "head -c 2000000 /dev/zero | tr '\\0' x | fold -w 100")}),
                            {"--report=json"});
    CHECK(r.exit_code == 0);
    CHECK(entry(parse_report(r.out), "root/a")["outcome"] == "completed");
    const auto printed = actor_lines(r.err, "root/a");
    CHECK(printed.size() == 20000);
    const std::string full(100, 'x');
    std::size_t bad = 0;
    for (const auto& line : printed)
        bad += line != full;
    CHECK(bad == 0);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: a last line without a newline is still printed") {
    const auto fds = open_fds();
    const auto r = run_spec(tree({actor("a", {"printf", "first\\nno newline"})}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("root/a | first\nroot/a | no newline\n") != std::string::npos);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: env replaces or adds variables, the rest is inherited") {
    json a = sh("a", "echo \"$FS_T_A|$FS_T_B|$FS_T_AB\"; env | grep -c '^FS_T_A='");
    a["env"] = {{"FS_T_A", "new"}, {"FS_T_AB", "added"}};
    auto options = run_opts(tree({a}));
    options.env = {{"FS_T_A", "old"}, {"FS_T_B", "inherited"}};
    const auto r = run(options);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("root/a | new|inherited|added\nroot/a | 1\n") != std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("run: env_clear starts from an empty environment, PATH comes from env") {
    json a = actor("a", {"env"});
    a["env_clear"] = true;
    a["env"] = {{"PATH", "/usr/bin:/bin"}, {"ONLY", "1"}};
    auto options = run_opts(tree({a}));
    options.env = {{"FS_T_B", "inherited"}};
    const auto r = run(options);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    std::vector<std::string> seen;
    for (const auto& line : lines(r.err))
        if (line.starts_with("root/a | ")) seen.push_back(line.substr(9));
    std::sort(seen.begin(), seen.end());
    CHECK(seen == std::vector<std::string>{"ONLY=1", "PATH=/usr/bin:/bin"});
    check_nothing_left(r.tag);
}

namespace {

// A program that leaves `marker` behind when it runs.
void write_marker_script(const std::string& path, const std::string& marker) {
    {
        std::ofstream f(path);
        f << "#!/bin/sh\n: > '" << marker << "'\necho ran\n"; // builtins only: any PATH
    }
    REQUIRE(::chmod(path.c_str(), 0755) == 0);
}

} // namespace

TEST_CASE("run: a command not in the actor's PATH is ENOENT, even when its cwd holds one") {
    const auto fds = open_fds();
    TempDir dir;
    const std::string marker = dir / "ran";
    write_marker_script(dir / "forkspawn-t-cwd-only", marker);
    for (const std::string path : {"/usr/bin:/bin", ":/usr/bin:/bin", "/usr/bin:.:/bin"}) {
        INFO("PATH=", path);
        json a = actor("a", {"forkspawn-t-cwd-only"});
        a["cwd"] = dir / ".";
        a["env"] = {{"PATH", path}};
        const auto r = run_spec(tree({a}));
        INFO(r.err);
        CHECK(r.exit_code == 1);
        const json ja = entry(parse_report(r.out), "root/a");
        CHECK(ja["outcome"] == "spawn_failed");
        REQUIRE(ja["error"].is_string());
        CHECK(ja["error"] == "failed to execute forkspawn-t-cwd-only: No such file or "
                             "directory (ENOENT)");
        CHECK(ja["pid"].is_null());
        CHECK_FALSE(std::filesystem::exists(marker));
        check_nothing_left(r.tag);
    }
    CHECK(open_fds() == fds);
}

TEST_CASE("run: a command is looked up in the PATH of the actor's own env") {
    const auto fds = open_fds();
    TempDir dir;
    REQUIRE(::mkdir((dir / "bin").c_str(), 0755) == 0);
    const std::string marker = dir / "ran";
    write_marker_script(dir / "bin/forkspawn-t-own-path", marker);
    json a = actor("a", {"forkspawn-t-own-path"});
    a["env"] = {{"PATH", "/nonexistent:" + dir / "bin" + ":/usr/bin:/bin"}};
    // env_clear: the spec's PATH is the only one.
    json b = actor("b", {"forkspawn-t-own-path"});
    b["env_clear"] = true;
    b["env"] = {{"PATH", dir / "bin"}};
    const auto r = run_spec(tree({a, b}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(actor_lines(r.err, "root/a") == std::vector<std::string>{"ran"});
    CHECK(actor_lines(r.err, "root/b") == std::vector<std::string>{"ran"});
    CHECK(std::filesystem::exists(marker));
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: a relative PATH entry is ignored") {
    const auto fds = open_fds();
    TempDir dir;
    REQUIRE(::mkdir((dir / "bin").c_str(), 0755) == 0);
    const std::string marker = dir / "ran";
    write_marker_script(dir / "bin/forkspawn-t-relative", marker);
    // Relative, yet naming that directory from forkspawn's cwd and from the
    // actor's alike (".." of "/" is "/"): only being relative rules it out.
    std::string relative;
    for (int k = 0; k < 64; ++k)
        relative += "../";
    relative += (dir / "bin").substr(1);
    json a = actor("a", {"forkspawn-t-relative"});
    a["cwd"] = dir / ".";
    a["env"] = {{"PATH", relative + ":/usr/bin:/bin"}};
    const auto r = run_spec(tree({a}));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json ja = entry(parse_report(r.out), "root/a");
    CHECK(ja["outcome"] == "spawn_failed");
    CHECK(ja["error"] == "failed to execute forkspawn-t-relative: No such file or "
                         "directory (ENOENT)");
    CHECK_FALSE(std::filesystem::exists(marker));
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: every actor carries the tree's FORKSPAWN_TREE, a forkspawn inside adds its own") {
    TempDir dir;
    const std::string inner = dir / "inner.json";
    {
        std::ofstream f(inner);
        f << tree({sh("i", "echo \"$FORKSPAWN_TREE\"")}).dump();
    }
    auto options =
        run_opts(tree({sh("a", "echo \"$FORKSPAWN_TREE\""), sh("b", "echo \"$FORKSPAWN_TREE\""),
                       actor("n", {binary(), "run", "--report=none", inner})}));
    options.env = {{"FORKSPAWN_TREE", "from-outside"}};
    const auto r = run(options);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto a = actor_lines(r.err, "root/a");
    const auto b = actor_lines(r.err, "root/b");
    // The inner forkspawn prefixes its actor's lines too.
    const auto i = actor_lines(r.err, "root/n | root/i");
    REQUIRE(a.size() == 1);
    REQUIRE(b.size() == 1);
    REQUIRE(i.size() == 1);
    CHECK(a[0].size() == 32);
    CHECK(a[0].find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(a[0] == b[0]);
    // The inner tree's own id first, then the outer tree's: a sweep of the
    // outer tree finds the inner one's processes too.
    CHECK(i[0].size() == 65);
    CHECK(i[0].substr(0, 32) != a[0]);
    CHECK(i[0].substr(0, 32).find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(i[0].substr(32) == ":" + a[0]);
    check_nothing_left(r.tag);
}

TEST_CASE("run: output null discards the actor's output") {
    const auto fds = open_fds();
    json n = sh("n", "echo hidden; echo hidden >&2");
    n["output"] = "null";
    auto r = run_spec(tree({n, sh("v", "echo visible")}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(actor_lines(r.err, "root/n").empty());
    CHECK(r.err.find("hidden") == std::string::npos);
    CHECK(r.err.find("root/v | visible") != std::string::npos);
    check_nothing_left(r.tag);

    // --output=null is the default for every actor that does not say.
    r = run_spec(tree({sh("a", "echo hidden; echo hidden >&2")}),
                 {"--report=json", "--output=null"});
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("hidden") == std::string::npos);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: output to a file appends") {
    const auto fds = open_fds();
    TempDir dir;
    const std::string path = dir / "out.log";
    { std::ofstream(path) << "existing\n"; }
    json f = sh("f", "echo one; echo two >&2");
    f["output"] = {{"file", path}};
    const auto r = run_spec(tree({f}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(entry(parse_report(r.out), "root/f")["outcome"] == "completed");
    CHECK(slurp_file(path) == "existing\none\ntwo\n");
    CHECK(actor_lines(r.err, "root/f").empty());
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: an output FIFO without a reader is a spawn failure, not a hung supervisor") {
    // A plain open(O_WRONLY) of a FIFO waits for a reader: on the event loop
    // it would stop everything, the sibling's failure, --timeout and signals.
    const auto fds = open_fds();
    TempDir dir;
    const std::string fifo = dir.fifo("out.fifo");
    json f = actor("f", {"true"});
    f["output"] = {{"file", fifo}};
    const auto r = run(run_opts(tree({sh("s", "exec sleep 100"), f}),
                                {"--report=json", "--timeout=10s"}, 30'000ms));
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    const json jf = entry(rep, "root/f");
    CHECK(jf["outcome"] == "spawn_failed");
    CHECK(jf["error"] ==
          "failed to set up f (open output " + fifo + "): no reader on the FIFO (ENXIO)");
    const json js = entry(rep, "root/s");
    CHECK(js["cancel_reason"] == "sibling_failed");
    CHECK(rep["duration_ms"].get<double>() < 10'000); // not ended by --timeout
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: an output FIFO with a reader gets the actor's output, blocking as a FIFO does") {
    const auto fds = open_fds();
    TempDir dir;
    const std::string fifo = dir.fifo("out.fifo");
    // The reader is open before forkspawn starts, so the writer's open
    // succeeds; the data waits in the FIFO until the test reads it.
    const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    REQUIRE(reader >= 0);
    // The actor's stdout must not be left non-blocking: its flags (octal,
    // from fdinfo) are printed into the FIFO too.
    json f = sh("f", "echo hello-fifo; sed -n 's/^flags:[[:space:]]*//p' /proc/$$/fdinfo/1");
    f["output"] = {{"file", fifo}};
    const auto r = run_spec(tree({f}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(entry(parse_report(r.out), "root/f")["outcome"] == "completed");
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(reader, buf, sizeof buf)) > 0)
        got.append(buf, static_cast<std::size_t>(n));
    ::close(reader);
    const auto out = lines(got);
    REQUIRE(out.size() == 2);
    CHECK(out[0] == "hello-fifo");
    const unsigned long flags = std::stoul(out[1], nullptr, 8);
    CHECK((flags & O_NONBLOCK) == 0);
    CHECK((flags & O_APPEND) != 0);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: a stderr nobody reads never delays a deadline") {
    // The test does not read forkspawn's stderr until t was reaped: the
    // flood fills the pipe and forkspawn's buffer, and t's timeout must still
    // fire on time. Progress is seen in the jsonl report file instead.
    const auto fds = open_fds();
    TempDir dir;
    const std::string spec_file = dir / "spec.json";
    const std::string report_file = dir / "report.jsonl";
    json t = sh("t", "exec sleep 100");
    t["timeout"] = "300ms";
    std::ofstream(spec_file) << tree({actor("flood", {"yes", "flooding stderr"}), t}).dump();
    Process p({.args = {"run", "--report=jsonl", "--report-file=" + report_file, spec_file},
               .deadline = 60'000ms});
    const auto until = std::chrono::steady_clock::now() + k_ready;
    while (slurp_file(report_file).find("\"root/t\"") == std::string::npos &&
           std::chrono::steady_clock::now() < until)
        ::usleep(20'000); // polling a file with a deadline, not synchronising
    const std::string reaped = slurp_file(report_file);
    const auto r = p.wait();
    INFO(reaped);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("root/flood | flooding stderr") != std::string::npos);
    CHECK(r.out.empty());
    json jt;
    for (const auto& line : lines(slurp_file(report_file))) {
        const json j = json::parse(line, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        if (j.value("path", "") == "root/t") jt = j;
    }
    REQUIRE(jt.is_object());
    CHECK(jt["cancel_reason"] == "timeout");
    CHECK(jt["runtime_ms"].get<double>() >= 300);
    CHECK(jt["runtime_ms"].get<double>() < 300 + 2000);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

// =============================================================================
// 9. Scale
// =============================================================================

// 1000 spawns at once once deadlocked mp_forkserver: the supervisor blocked
// sending requests while the server blocked sending it replies.
TEST_CASE("run: 1000 actors in a flat tree all complete") {
    const auto fds = open_fds();
    std::vector<json> actors;
    for (int i = 0; i < 1000; ++i)
        actors.push_back(actor("t" + std::to_string(i), {"true"}));
    const auto r = run_spec(tree(actors));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "completed");
    REQUIRE(rep["actors"].size() == 1000);
    std::set<std::string> paths;
    std::size_t completed = 0;
    for (const auto& a : rep["actors"]) {
        paths.insert(a["path"].get<std::string>());
        completed += a["outcome"] == "completed";
    }
    CHECK(paths.size() == 1000);
    CHECK(completed == 1000);
    // Depth-first in spec order.
    CHECK(rep["actors"][0]["path"] == "root/t0");
    CHECK(rep["actors"][999]["path"] == "root/t999");
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

// =============================================================================
// 10. Reports
// =============================================================================

TEST_CASE("run: --report=jsonl streams a spawned and a reaped line per actor, then a summary") {
    const auto fds = open_fds();
    const auto r = run_spec(tree({actor("a", {"true"}), sh("b", "exit 0"), actor("c", {"true"})}),
                            {"--report=jsonl"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto out = lines(r.out);
    REQUIRE(out.size() == 7);
    std::multiset<std::string> reaped;
    std::map<std::string, long> spawned; // path -> pid
    for (std::size_t i = 0; i < out.size(); ++i) {
        INFO(out[i]);
        const json j = json::parse(out[i], nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        REQUIRE(j.is_object());
        if (i + 1 == out.size()) {
            CHECK(j["event"] == "summary");
            CHECK(j["result"] == "completed");
            CHECK(j["exit_code"] == 0);
            CHECK(j["backend"] == backend());
            CHECK(j["duration_ms"].is_number());
        } else if (j["event"] == "spawned") {
            CHECK(j["attempt"] == 1);
            CHECK(j["ms"].is_number());
            spawned[j["path"].get<std::string>()] = j["pid"].get<long>();
        } else {
            CHECK(j["event"] == "reaped");
            CHECK(j["outcome"] == "completed");
            CHECK(j.contains("status"));
            CHECK(j.contains("stop"));
            // Its spawn was streamed first, with the same pid.
            const std::string path = j["path"].get<std::string>();
            REQUIRE(spawned.count(path) == 1);
            CHECK(spawned.at(path) == j["pid"].get<long>());
            reaped.insert(path);
        }
    }
    CHECK(reaped == std::multiset<std::string>{"root/a", "root/b", "root/c"});
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: --report=none prints nothing on stdout") {
    const auto fds = open_fds();
    const auto r = run_spec(tree({actor("a", {"true"})}), {"--report=none"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: --report-file writes the report there, nothing on stdout") {
    const auto fds = open_fds();
    TempDir dir;
    const std::string path = dir / "report.json";
    { std::ofstream(path) << "stale content that must be replaced\n"; }
    const auto r = run(
        {.args = {"run", "--report=json", "--report-file=" + path, spec_path("run_hello.json")}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());
    const json rep = parse_report(slurp_file(path));
    CHECK(rep["result"] == "completed");
    CHECK(rep["actors"].size() == 2);
    CHECK(entry(rep, "root/hello")["outcome"] == "completed");
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: a report reader that went away gives exit 141, not a death by SIGPIPE") {
    const auto fds = open_fds();
    TempDir dir;
    // jsonl: the first reaped line fails with EPIPE while a sleeper still runs.
    {
        const std::string tag = "fst-closed-jsonl-" + std::to_string(::getpid());
        const auto r = run_with_closed_stdout(
            {"run", "--report=jsonl", spec_path("run_closed_reader.json")}, tag, dir);
        INFO(r.err);
        CHECK_FALSE(r.timed_out);
        CHECK(r.term_signal == 0);
        CHECK(r.exit_code == 141);
        CHECK(r.err.find("the report's reader went away") != std::string::npos);
        check_nothing_left(tag);
    }
    // json: the report is written at the end, and fails then.
    {
        const std::string tag = "fst-closed-json-" + std::to_string(::getpid());
        const auto r =
            run_with_closed_stdout({"run", "--report=json", spec_path("run_hello.json")}, tag, dir);
        INFO(r.err);
        CHECK_FALSE(r.timed_out);
        CHECK(r.term_signal == 0);
        CHECK(r.exit_code == 141);
        check_nothing_left(tag);
    }
    CHECK(open_fds() == fds);
}

TEST_CASE("run: a report that cannot be written to stdout exits 74 and says why") {
    const auto fds = open_fds();
    // /dev/full: every write fails with ENOSPC. The report is written at the end.
    for (const std::string format : {"json", "table"}) {
        INFO("format ", format);
        const auto r = run({.args = {"run", "--report=" + format, spec_path("run_hello.json")},
                            .stdout_path = "/dev/full"});
        INFO(r.err);
        CHECK_FALSE(r.timed_out);
        CHECK(r.exit_code == 74);
        CHECK(r.err.find("forkspawn: error: cannot write the report to stdout: No space left on "
                         "device (ENOSPC)\n") != std::string::npos);
        check_nothing_left(r.tag);
    }
    CHECK(open_fds() == fds);
}

TEST_CASE("run: a jsonl report that cannot be written cancels the running tree, exit 74") {
    // quick's reaped line fails with ENOSPC while sleeper still runs: the tree
    // is cancelled then, not when sleeper would end.
    const auto fds = open_fds();
    const auto r =
        run({.args = {"run", "--report=jsonl", "-v", spec_path("run_closed_reader.json")},
             .deadline = 30'000ms,
             .stdout_path = "/dev/full"});
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 74);
    CHECK(r.err.find("root/sleeper stopping (report_error): SIGTERM") != std::string::npos);
    CHECK(r.err.find("the report's reader went away") == std::string::npos);
    CHECK(r.err.find("forkspawn: error: cannot write the report to stdout: No space left on "
                     "device (ENOSPC)\n") != std::string::npos);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: a --report-file on a full filesystem exits 74 and names the file") {
    if (::geteuid() != 0) {
        MESSAGE("skipped: mounting a small tmpfs needs root");
        return;
    }
    const auto fds = open_fds();
    TempDir dir;
    const std::string mnt = dir / "full";
    REQUIRE(::mkdir(mnt.c_str(), 0700) == 0);
    if (::mount("forkspawn-test", mnt.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") != 0) {
        MESSAGE("skipped: cannot mount a tmpfs here: ", std::strerror(errno));
        return;
    }
    struct Unmount {
        std::string path;
        ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{mnt};
    {
        // Fill it: the report file can still be created, not written.
        const std::string filler = mnt + "/filler";
        const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        const std::string block(4096, 'x');
        while (::write(fd, block.data(), block.size()) > 0) {
        }
        const std::string byte = "x";
        while (::write(fd, byte.data(), 1) > 0) {
        }
        CHECK(errno == ENOSPC);
        ::close(fd);
    }
    const std::string path = mnt + "/report.json";
    const auto r = run(
        {.args = {"run", "--report=json", "--report-file=" + path, spec_path("run_hello.json")}});
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 74);
    CHECK(r.err.find("forkspawn: error: cannot write the report to " + path +
                     ": No space left on device (ENOSPC)\n") != std::string::npos);
    CHECK(r.out.empty());
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

// =============================================================================
// 11. Command line
// =============================================================================

TEST_CASE("run: usage errors exit 2 and name what is allowed") {
    const auto fds = open_fds();
    const json spec = tree({actor("a", {"true"})});

    auto r = run_spec(spec, {"--spawn-backend=nope"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("nope") != std::string::npos);
    CHECK(r.err.find("subint_forkserver") != std::string::npos);
    CHECK(r.out.empty());
    check_nothing_left(r.tag);

    r = run({.args = {"run", "-"},
             .stdin_data = spec.dump(),
             .env = {{"FORKSPAWN_SPAWN_BACKEND", "nope"}}});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("subint_forkserver") != std::string::npos);
    check_nothing_left(r.tag);

    r = run_spec(spec, {"--stop=SIGTERM,SIGKILL"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--stop") != std::string::npos);
    check_nothing_left(r.tag);

    r = run_spec(spec, {"--timeout=5"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--timeout") != std::string::npos);
    CHECK(r.err.find("ms") != std::string::npos); // names the units
    check_nothing_left(r.tag);

    r = run_spec(spec, {"--report=xml"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("jsonl") != std::string::npos);
    check_nothing_left(r.tag);

    TempDir dir;
    const std::string marker = dir / "ran";
    r = run_spec(tree({sh("m", "touch '" + marker + "'")}),
                 {"--report=json", "--report-file=/nonexistent/report.json"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("/nonexistent/report.json") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(marker));
    check_nothing_left(r.tag);

    r = run_spec(spec, {"--stop=SIGNOPE,1s,SIGKILL"});
    CHECK(r.exit_code == 2);
    check_nothing_left(r.tag);

    // Empty values are mistakes, not defaults; `--stop=` must not swallow
    // the next argument as its value.
    r = run_spec(spec, {"--report=json", "--stop="});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("forkspawn: error: --stop needs a value after the '='") != std::string::npos);
    check_nothing_left(r.tag);
    r = run_spec(spec, {"--report=json", "--timeout", ""});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("forkspawn: error: --timeout: must not be empty") != std::string::npos);
    check_nothing_left(r.tag);

    // CLI11's own errors carry the same prefix as the others.
    r = run_spec(spec, {"--report=json", "--no-such-option"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.starts_with("forkspawn: error: "));
    check_nothing_left(r.tag);

    r = run({.args = {}});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("forkspawn: error: nothing to run: give a SPEC") != std::string::npos);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: an alias backend runs like the default") {
    const auto fds = open_fds();
    const auto r = run_spec(tree({actor("a", {"true"})}),
                            {"--report=json", "--spawn-backend=main_thread_forkserver"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "completed");
    CHECK(rep["backend"] == "subint_forkserver");
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: an invalid spec exits 2 and spawns nothing") {
    const auto fds = open_fds();
    TempDir dir;
    const std::string marker = dir / "ran";
    json bad = actor("typo", {"true"});
    bad["deamon"] = true;
    const auto r = run_spec(tree({sh("m", "touch '" + marker + "'"), bad}));
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.find("/actors/1/deamon") != std::string::npos);
    CHECK(r.err.find("nothing was run") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(marker));
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("run: backends lists the registered backends") {
    auto r = run({.args = {"backends"}});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("subint_forkserver") != std::string::npos);
    CHECK(r.out.find("main_thread_forkserver") != std::string::npos);
    check_nothing_left(r.tag);

    r = run({.args = {"backends", "--json"}});
    CHECK(r.exit_code == 0);
    const json j = json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    REQUIRE(j.is_array());
    std::map<std::string, json> by_key;
    for (const auto& b : j)
        by_key[b.at("key").get<std::string>()] = b;
    REQUIRE(by_key.count("subint_forkserver") == 1);
    REQUIRE(by_key.count("main_thread_forkserver") == 1);
    CHECK(by_key["subint_forkserver"]["default"] == true);
    CHECK(by_key["subint_forkserver"]["available"] == true);
    CHECK(by_key["main_thread_forkserver"]["alias_of"] == "subint_forkserver");
    for (const auto& b : j) {
        INFO(b.dump());
        CHECK(b["description"].is_string());
        CHECK(b["available"].is_boolean());
    }
    check_nothing_left(r.tag);
}

TEST_CASE("run: `forkspawn SPEC` without run works like run") {
    const auto fds = open_fds();
    const auto r = run({.args = {"--report=json", spec_path("run_hello.json")}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "completed");
    CHECK(entry(rep, "root/hello")["outcome"] == "completed");
    CHECK(r.err.find("root/hello | hello") != std::string::npos);
    check_nothing_left(r.tag);

    const auto r2 = run({.args = {spec_path("run_hello.json"), "--report=json"}});
    CHECK(r2.exit_code == 0);
    CHECK(parse_report(r2.out)["result"] == "completed");
    check_nothing_left(r2.tag);
    CHECK(open_fds() == fds);
}
