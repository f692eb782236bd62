// SPDX-License-Identifier: MIT
// Hostile actors on the real binary: an actor that closes its stdout and
// stderr at once, one that writes without newlines forever, one that stops
// itself with SIGSTOP, one that changes its process group, one that ignores
// every catchable signal, one that exits between forkspawn's stop signals;
// and forkspawn itself stopped in the middle of a stop sequence. Each actor
// must be stopped on time, reaped, reported with the right outcome and
// status, and leave nothing behind.
//
// Synchronisation: actors say "ready" once their hostile setup is done (the
// test waits for "root/x | ready" on forkspawn's stderr); a stopped actor is
// seen in /proc/PID/stat, its pid taken from forkspawn's -v log.
#include "harness.hpp"

#include <chrono>
#include <csignal>
#include <doctest/doctest.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace forkspawn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr auto k_ready = 20s; // generous, for a loaded 2-core box

json sh(const std::string& name, const std::string& script) {
    return {{"name", name}, {"cmd", {"sh", "-c", script}}};
}
json perl(const std::string& name, const std::string& script) {
    return {{"name", name}, {"cmd", {"perl", "-e", script}}};
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

char proc_state(pid_t pid) {
    std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(stat_file, stat);
    const std::size_t paren = stat.rfind(')');
    return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}

bool wait_stopped(pid_t pid) {
    const auto until = std::chrono::steady_clock::now() + k_ready;
    while (proc_state(pid) != 'T') {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(10ms); // polling a state with a deadline
    }
    return true;
}

double exit_after(const json& a) {
    REQUIRE(a["stop"].is_object());
    return a["stop"]["exit_after_ms"].get<double>();
}

// Every catchable signal ignored (1-64 but SIGKILL and SIGSTOP); SIG_IGN
// survives execve, so the sleep that follows ignores them too.
std::string ignore_everything() {
    std::string trap = "trap ''";
    for (int signo = 1; signo <= 64; ++signo)
        if (signo != SIGKILL && signo != SIGSTOP) trap += " " + std::to_string(signo);
    return trap + "; ";
}

} // namespace

TEST_CASE("hostile: an actor that closes stdout and stderr at once is still supervised") {
    const auto fds = open_fds();
    // c closes both output fds and lives on: the EOF on its output pipe is
    // not its end. d does the same and exits 0 later: it completed.
    const json c = sh("c", "echo ready; exec >&- 2>&-; exec sleep 100");
    const json d = sh("d", "exec >&- 2>&-; sleep 0.05; exit 0");
    json stubborn = c;
    stubborn["stop"] = {"SIGTERM", "30s", "SIGKILL"};
    {
        const auto r = run(run_opts({d}));
        INFO(r.err);
        CHECK(r.exit_code == 0);
        const json jd = entry(parse_report(r.out), "root/d");
        CHECK(jd["outcome"] == "completed");
        CHECK(jd["status"] == "rc=0");
        check_nothing_left(r.tag);
    }
    Process p(run_opts({stubborn, d}));
    REQUIRE(wait_ready(p, {"root/c"}));
    // d has closed its output and exited meanwhile; c still runs.
    REQUIRE(p.wait_for_stderr("root/d completed", k_ready));
    p.signal(SIGINT);
    const auto r = p.wait();
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 130);
    const json rep = parse_report(r.out);
    const json jc = entry(rep, "root/c");
    CHECK(jc["outcome"] == "cancelled");
    CHECK(jc["status"] == "signal=SIGTERM");
    CHECK(jc["cancel_reason"] == "signal:SIGINT");
    CHECK(jc["stop"]["sent"] == json::array({"SIGTERM"}));
    CHECK(exit_after(jc) < 10'000);
    CHECK(entry(rep, "root/d")["outcome"] == "completed");
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("hostile: endless output without a newline is cut into 64 KiB pieces and stopped") {
    const auto fds = open_fds();
    constexpr std::size_t k_piece = 64 * 1024;
    const std::string prefix = "root/nl | ";
    Process p(run_opts({sh("nl", "exec tr '\\0' x < /dev/zero")}));
    // Wait for a few pieces: the line is never held whole.
    const bool flowing = p.read_until(
        [&](const std::string&, const std::string& err) {
            std::size_t pieces = 0;
            for (std::size_t pos = 0; (pos = err.find(prefix, pos)) != std::string::npos; ++pos)
                ++pieces;
            return pieces >= 8;
        },
        k_ready);
    p.signal(SIGINT);
    const auto r = p.wait();
    CHECK(flowing);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 130);
    const json nl = entry(parse_report(r.out), "root/nl");
    CHECK(nl["outcome"] == "cancelled");
    CHECK(nl["status"] == "signal=SIGTERM");
    std::vector<std::string> pieces;
    for (const auto& line : lines(r.err))
        if (line.rfind(prefix, 0) == 0) pieces.push_back(line.substr(prefix.size()));
    REQUIRE(pieces.size() >= 8);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        const bool last = i + 1 == pieces.size();
        const bool all_x = pieces[i].find_first_not_of('x') == std::string::npos;
        // Every piece is exactly the limit; the last is what was left.
        bad += !all_x || (last ? pieces[i].size() > k_piece : pieces[i].size() != k_piece);
    }
    CHECK(bad == 0);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("hostile: an actor that stops itself with SIGSTOP is continued and stopped") {
    const auto fds = open_fds();
    // self: stops itself (it would exit 0 if continued without a signal).
    // group: stops its whole group, its child included.
    // deaf: ignores SIGTERM, then stops itself: killed when the grace runs out.
    json self = sh("self", "kill -STOP $$; exit 0");
    json group = sh("group", "sleep 100 & kill -STOP 0; wait");
    json deaf = sh("deaf", "trap '' TERM; kill -STOP $$; exec sleep 100");
    self["stop"] = {"SIGTERM", "30s", "SIGKILL"};
    group["stop"] = {"SIGTERM", "30s", "SIGKILL"};
    deaf["stop"] = {"SIGTERM", "150ms", "SIGKILL"};
    Process p(run_opts({self, group, deaf}));
    for (const char* path : {"root/self", "root/group", "root/deaf"}) {
        INFO(path);
        REQUIRE(p.wait_for_stderr(std::string(path) + " spawned, pid", k_ready));
        const pid_t pid = spawned_pid(p.err_so_far(), path);
        REQUIRE(pid > 0);
        REQUIRE(wait_stopped(pid));
    }
    p.signal(SIGTERM);
    const auto r = p.wait();
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 143);
    const json rep = parse_report(r.out);
    // SIGCONT follows SIGTERM: the stopped actors act on it at once, not
    // after 30s.
    for (const char* path : {"root/self", "root/group"}) {
        INFO(path);
        const json a = entry(rep, path);
        CHECK(a["outcome"] == "cancelled");
        CHECK(a["status"] == "signal=SIGTERM");
        CHECK(a["cancel_reason"] == "signal:SIGTERM");
        CHECK(a["stop"]["sent"] == json::array({"SIGTERM"}));
        CHECK(a["stop"]["escalated"] == false);
        CHECK(exit_after(a) < 10'000);
    }
    const json d = entry(rep, "root/deaf");
    CHECK(d["outcome"] == "killed");
    CHECK(d["status"] == "signal=SIGKILL");
    CHECK(d["stop"]["sent"] == json::array({"SIGTERM", "SIGKILL"}));
    CHECK(d["stop"]["escalated"] == true);
    CHECK(exit_after(d) >= 150);
    CHECK(exit_after(d) < 150 + 2000);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("hostile: without cgroups, actors that change their process group are stopped, their "
          "children too") {
    const auto fds = open_fds();
    // child_pg: its child moves to a group of its own, out of reach of a
    //   signal to the actor's group; the actor waits for it.
    // joined: moves itself into its child's new group, leaving its own
    //   group empty: only its pidfd reaches it.
    // child_sid: its child starts a session of its own (setsid).
    // Each child outlives its actor's stop and must be found and killed.
    const std::string fork_child =
        "my $c = fork; if (!$c) { setpgrp(0, 0); exec 'sleep', '100' } setpgrp($c, $c); ";
    json child_pg = perl("child_pg", fork_child + "$| = 1; print \"ready\\n\"; waitpid($c, 0)");
    json joined = perl("joined", fork_child + "setpgrp(0, $c) or die \"setpgrp: $!\"; "
                                              "$| = 1; print \"ready\\n\"; sleep 100");
    json child_sid = sh("child_sid", "setsid sleep 100 & echo ready; wait");
    std::vector<json> actors{child_pg, joined, child_sid};
    for (auto& a : actors)
        a["stop"] = {"SIGTERM", "30s", "SIGKILL"};
    // Process groups only: with cgroups the children die with each actor.
    Process p(run_opts(actors, {"--cgroup=off"}));
    REQUIRE(wait_ready(p, {"root/child_pg", "root/joined", "root/child_sid"}));
    p.signal(SIGINT);
    const auto r = p.wait();
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 130);
    const json rep = parse_report(r.out);
    for (const char* path : {"root/child_pg", "root/joined", "root/child_sid"}) {
        INFO(path);
        const json a = entry(rep, path);
        CHECK(a["outcome"] == "cancelled");
        CHECK(a["status"] == "signal=SIGTERM");
        CHECK(a["cancel_reason"] == "signal:SIGINT");
        CHECK(exit_after(a) < 10'000);
    }
    // The three children were adopted by forkspawn and killed at the end.
    CHECK(r.err.find("killed escaped process") != std::string::npos);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("hostile: an actor that ignores every catchable signal is killed on time") {
    const auto fds = open_fds();
    json deaf = sh("deaf", ignore_everything() + "echo ready; exec sleep 100");
    json deaf3 = sh("deaf3", ignore_everything() + "echo ready; exec sleep 100");
    deaf["stop"] = {"SIGTERM", "150ms", "SIGKILL"};
    // A sequence of several signals: each is sent on time, then SIGKILL.
    deaf3["stop"] = {"SIGINT", "100ms", "SIGHUP", "100ms", "SIGTERM", "100ms"};
    Process p(run_opts({deaf, deaf3}));
    REQUIRE(wait_ready(p, {"root/deaf", "root/deaf3"}));
    p.signal(SIGINT);
    const auto r = p.wait();
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 130);
    const json rep = parse_report(r.out);
    const json d = entry(rep, "root/deaf");
    CHECK(d["outcome"] == "killed");
    CHECK(d["status"] == "signal=SIGKILL");
    CHECK(d["cancel_reason"] == "signal:SIGINT");
    CHECK(d["stop"]["sent"] == json::array({"SIGTERM", "SIGKILL"}));
    CHECK(d["stop"]["escalated"] == true);
    CHECK(exit_after(d) >= 150);
    CHECK(exit_after(d) < 150 + 2000);
    const json d3 = entry(rep, "root/deaf3");
    CHECK(d3["outcome"] == "killed");
    CHECK(d3["status"] == "signal=SIGKILL");
    CHECK(d3["stop"]["sent"] == json::array({"SIGINT", "SIGHUP", "SIGTERM", "SIGKILL"}));
    CHECK(d3["stop"]["escalated"] == true);
    CHECK(exit_after(d3) >= 300);
    CHECK(exit_after(d3) < 300 + 2000);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("hostile: an actor that exits between forkspawn's signals was cancelled, not failed") {
    const auto fds = open_fds();
    // late: ignores the first signal, exits 7 on the second, long before
    //   SIGKILL would come. quick: exits 0 on the first signal.
    // A non-zero exit during its stop is the stop's result, not a failure:
    // the run ends with the signal's exit code, not 1.
    json late = sh("late", "trap '' USR1; trap 'exit 7' TERM; echo ready; "
                           "while :; do sleep 0.05; done");
    json quick = sh("quick", "trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done");
    late["stop"] = {"SIGUSR1", "150ms", "SIGTERM", "30s", "SIGKILL"};
    quick["stop"] = {"SIGTERM", "30s", "SIGKILL"};
    Process p(run_opts({late, quick}));
    REQUIRE(wait_ready(p, {"root/late", "root/quick"}));
    p.signal(SIGHUP);
    const auto r = p.wait();
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 129);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "cancelled");
    const json l = entry(rep, "root/late");
    CHECK(l["outcome"] == "cancelled");
    CHECK(l["status"] == "rc=7");
    CHECK(l["exit_code"] == 7);
    CHECK(l["cancel_reason"] == "signal:SIGHUP");
    CHECK(l["stop"]["sent"] == json::array({"SIGUSR1", "SIGTERM"}));
    CHECK(l["stop"]["escalated"] == false);
    CHECK(exit_after(l) >= 150);
    CHECK(exit_after(l) < 10'000);
    const json q = entry(rep, "root/quick");
    CHECK(q["outcome"] == "cancelled");
    CHECK(q["status"] == "rc=0");
    CHECK(q["stop"]["sent"] == json::array({"SIGTERM"}));
    CHECK(q["stop"]["escalated"] == false);
    CHECK(exit_after(q) < 10'000);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("hostile: a signal while a deaf daemon is stopped after the work is done keeps exit 0") {
    const auto fds = open_fds();
    // The work completes once the daemon ignores SIGTERM (a FIFO handshake:
    // opening it blocks until both ends are open), so the daemon's teardown
    // waits out a long grace. SIGINT then cancels nothing new: every
    // non-daemon actor completed, the exit stays 0. A second SIGINT kills
    // the daemon at once.
    std::string dir = "/tmp/forkspawn-hostile-XXXXXX";
    REQUIRE(::mkdtemp(dir.data()) != nullptr);
    const std::string fifo = dir + "/ready";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    json daemon = sh("d", "trap '' TERM; echo > '" + fifo + "'; exec sleep 100");
    daemon["daemon"] = true;
    daemon["stop"] = {"SIGTERM", "30s", "SIGKILL"};
    Process p(run_opts({daemon, sh("w", "read x < '" + fifo + "'; exit 0")}));
    const bool stopping = p.wait_for_stderr("root/d stopping (nursery_done): SIGTERM", k_ready);
    p.signal(SIGINT);
    const bool got = p.wait_for_stderr("got SIGINT", k_ready);
    const auto second = std::chrono::steady_clock::now();
    p.signal(SIGINT);
    const auto r = p.wait();
    ::unlink(fifo.c_str());
    ::rmdir(dir.c_str());
    INFO(r.err);
    CHECK(stopping);
    CHECK(got);
    // Said as it is: nothing new is cancelled.
    CHECK(r.err.find("got SIGINT; the tree is being torn down already") != std::string::npos);
    CHECK_FALSE(r.timed_out);
    CHECK(std::chrono::steady_clock::now() - second < 10s);
    CHECK(r.exit_code == 0);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "completed");
    CHECK(entry(rep, "root/w")["outcome"] == "completed");
    const json d = entry(rep, "root/d");
    CHECK(d["outcome"] == "killed");
    CHECK(d["cancel_reason"] == "nursery_done");
    CHECK(d["stop"]["sent"] == json::array({"SIGTERM", "SIGKILL"}));
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE(
    "hostile: a supervisor stopped past several waits sends the next step, then waits again") {
    const auto fds = open_fds();
    // forkspawn is stopped right after its SIGTERM, for longer than both
    // waits of the sequence. When it continues, SIGINT goes out, and SIGKILL
    // only a full wait later: the actor's INT handler runs, and no two
    // signals go out together. Its TERM handler keeps it running past
    // SIGTERM; one process without children, so a handler runs as soon as
    // its signal interrupts the sleep.
    json actor = perl("a", "$| = 1; $SIG{TERM} = sub { print \"got TERM\\n\" }; "
                           "$SIG{INT} = sub { print \"got INT\\n\" }; "
                           "print \"ready\\n\"; sleep 1 while 1");
    actor["stop"] = {"SIGTERM", "1s", "SIGINT", "1s", "SIGKILL"};
    Process p(run_opts({actor}));
    REQUIRE(wait_ready(p, {"root/a"}));
    p.signal(SIGTERM);
    REQUIRE(p.wait_for_stderr("root/a | got TERM\n", k_ready));
    p.signal(SIGSTOP);
    // The fault itself, not a synchronisation: forkspawn stays stopped past
    // both 1s waits (it was stopped well within the first one).
    std::this_thread::sleep_for(2500ms);
    p.signal(SIGCONT);
    const auto r = p.wait();
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 143);
    CHECK(r.err.find("root/a | got INT\n") != std::string::npos);
    const json a = entry(parse_report(r.out), "root/a");
    CHECK(a["outcome"] == "killed");
    CHECK(a["cancel_reason"] == "signal:SIGTERM");
    CHECK(a["stop"]["sent"] == json::array({"SIGTERM", "SIGINT", "SIGKILL"}));
    const json sent_ms = a["stop"]["sent_ms"];
    REQUIRE(sent_ms.size() == 3);
    // Each wait is a minimum from the signal before it (0.1: the report's
    // rounding of each time).
    const double term_to_int = sent_ms[1].get<double>() - sent_ms[0].get<double>();
    const double int_to_kill = sent_ms[2].get<double>() - sent_ms[1].get<double>();
    CHECK(term_to_int >= 1000 - 0.1);
    CHECK(int_to_kill >= 1000 - 0.1);
    // SIGINT waited for the stall: forkspawn was stopped before it was due.
    if (term_to_int < 2000) MESSAGE("forkspawn was stopped only after its SIGINT went out");
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}
