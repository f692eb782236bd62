// SPDX-License-Identifier: MIT
// Containment and accounting (DESIGN "Containment", the report's `usage`),
// end to end on every backend: what the report says an actor used against
// what the actor measured itself. Nothing is left behind after each.
#include "forkspawn/cgroup.hpp"
#include "harness.hpp"

#include <cmath>
#include <csignal>
#include <doctest/doctest.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/stat.h>
#include <thread>

using namespace forkspawn::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

RunResult run_json(const json& spec, std::vector<std::string> extra = {}) {
    RunOptions options;
    options.args = {"run", "--report=json"};
    options.args.insert(options.args.end(), extra.begin(), extra.end());
    options.args.push_back("-");
    options.stdin_data = spec.dump();
    return run(options);
}

// The numbers an actor wrote to `path`, one per word.
std::vector<double> numbers(const std::string& path) {
    std::istringstream in(slurp_file(path));
    std::vector<double> out;
    double x;
    while (in >> x)
        out.push_back(x);
    return out;
}

bool within(double reported, double measured, double fraction) {
    return std::abs(reported - measured) <= fraction * measured;
}

// Whether forkspawn's --cgroup=auto uses cgroups here (asked the way its
// command line does); when not, why.
std::optional<std::string> no_cgroups() {
    const auto where = forkspawn::cgroup::locate();
    if (where.dir.empty()) return where.why;
    return forkspawn::cgroup::unusable(where.dir);
}

// The cgroup v2 directory of `pid` (empty when it is gone).
std::string cgroup_dir_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with("0::")) return forkspawn::cgroup::locate().dir + line.substr(3);
    return {};
}

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

// Whether `pid` is dead: gone, or a zombie (of the test process, a
// subreaper, which adopts what outlives forkspawn).
bool dead(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) return true;
    const auto close = stat.rfind(')');
    return close != std::string::npos && stat.size() > close + 2 && stat[close + 2] == 'Z';
}

// Polls `done` every 10ms until it holds or `limit` passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(10ms); // polling with a deadline
    }
    return true;
}

long read_pid(const std::string& path) {
    const auto n = numbers(path);
    return n.size() == 1 ? static_cast<long>(n[0]) : -1;
}

} // namespace

TEST_CASE("usage: a busy loop's CPU time is what it measured itself, within 20%") {
    TempDir dir("usage");
    json busy = {{"name", "busy"}, {"cmd", {FORKSPAWN_USAGE_PROBE, "cpu", "400", dir / "self"}}};
    const auto r = run_json({{"actors", {busy}}});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const json e = entry(parse_report(r.out), "root/busy");
    const auto self = numbers(dir / "self");
    REQUIRE(self.size() == 2);
    const json& u = e["usage"];
    REQUIRE(u.is_object());
    INFO(u.dump());
    const double reported = u["cpu_user_ms"].get<double>() + u["cpu_system_ms"].get<double>();
    CHECK(self[0] + self[1] >= 400);
    CHECK(within(reported, self[0] + self[1], 0.2));
    CHECK(u["source"].is_string());
    check_nothing_left(r.tag);
}

TEST_CASE("usage: a 100 MiB allocator's peak memory is what it measured itself, within 20%") {
    TempDir dir("usage");
    json alloc = {{"name", "alloc"},
                  {"cmd", {FORKSPAWN_USAGE_PROBE, "alloc", "100", dir / "self"}}};
    const auto r = run_json({{"actors", {{{"name", "n"}, {"actors", {alloc}}}}}});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto all = by_path(parse_report(r.out));
    const auto self = numbers(dir / "self");
    REQUIRE(self.size() == 1);
    CHECK(self[0] >= 100 * 1024);
    const json& u = all.at("root/n/alloc")["usage"];
    REQUIRE(u.is_object());
    INFO(u.dump());
    REQUIRE(u["max_rss_kib"].is_number());
    CHECK(within(u["max_rss_kib"].get<double>(), self[0], 0.2));
    // The nursery's usage covers its actors: at least the allocator's peak.
    const json& n = all.at("root/n")["usage"];
    REQUIRE(n.is_object());
    CHECK(n["max_rss_kib"].get<double>() >= 0.8 * self[0]);
    check_nothing_left(r.tag);
}

TEST_CASE("usage: CPU time adds up over restarts, and the table shows CPU and MEM") {
    TempDir dir("usage");
    // Each of three attempts spins 150ms of CPU; the first two fail.
    const std::string runs = dir / "runs";
    json a = {
        {"name", "a"},
        {"restart", "on_failure"},
        {"backoff", "10ms"},
        {"cmd",
         {"sh", "-c", "\"$0\" cpu 150 \"$1.self\"; echo x >> \"$1\"; [ $(wc -l < \"$1\") -ge 3 ]",
          FORKSPAWN_USAGE_PROBE, runs}}};
    const auto r = run_json({{"strategy", "one_for_one"}, {"actors", {a}}});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const json e = entry(parse_report(r.out), "root/a");
    CHECK(e["restarts"] == 2);
    const json& u = e["usage"];
    CHECK(u["cpu_user_ms"].get<double>() + u["cpu_system_ms"].get<double>() >= 3 * 150 * 0.95);
    check_nothing_left(r.tag);

    const auto t =
        run({.args = {"run", "-"},
             .stdin_data = json{{"actors", {{{"name", "t"}, {"cmd", {"true"}}}}}}.dump()});
    CHECK(t.exit_code == 0);
    const auto table = lines(t.out);
    REQUIRE(table.size() >= 2);
    CHECK(table[0].find("RUNTIME  CPU") != std::string::npos);
    CHECK(table[0].find("MEM") != std::string::npos);
    check_nothing_left(t.tag);
}

TEST_CASE("cgroup: each actor runs in its own cgroup below the run's, removed at the end") {
    if (const auto why = no_cgroups()) {
        MESSAGE("skipped: no usable cgroup v2 hierarchy here: " << *why);
        return;
    }
    TempDir dir("cgroup");
    json a = {{"name", "a"},
              {"cmd", {"sh", "-c", "grep ^0:: /proc/self/cgroup > \"$0\"", dir / "a"}}};
    json b = {{"name", "b"},
              {"cmd", {"sh", "-c", "grep ^0:: /proc/self/cgroup > \"$0\"", dir / "b"}}};
    const auto r = run_json({{"actors", {a, {{"name", "n"}, {"actors", {b}}}}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json rep = parse_report(r.out);
    CHECK(rep["containment"] == "cgroup");
    const std::string ca = lines(slurp_file(dir / "a")).at(0).substr(3);
    const std::string cb = lines(slurp_file(dir / "b")).at(0).substr(3);
    // <forkspawn's cgroup>/forkspawn-<tree id>/a and .../n/b
    const std::string run_dir = ca.substr(0, ca.rfind('/'));
    CHECK(run_dir.substr(run_dir.rfind('/') + 1).starts_with("forkspawn-"));
    CHECK(ca == run_dir + "/a");
    CHECK(cb == run_dir + "/n/b");
    const std::string mount = forkspawn::cgroup::locate().dir;
    const std::string own = mount + run_dir.substr(0, run_dir.rfind('/'));
    CHECK(exists(own));
    CHECK_FALSE(exists(mount + run_dir)); // gone with everything below it
    for (const char* path : {"root/a", "root/n", "root/n/b"}) {
        INFO(path);
        const json u = entry(rep, path)["usage"];
        CHECK(u["source"].get<std::string>().starts_with("cgroup"));
    }
    check_nothing_left(r.tag);

    // off: process groups only, and the report says so.
    const auto off = run_json({{"actors", {{{"name", "t"}, {"cmd", {"true"}}}}}}, {"--cgroup=off"});
    CHECK(off.exit_code == 0);
    CHECK(parse_report(off.out)["containment"] == "process_group");
    CHECK(entry(parse_report(off.out), "root/t")["usage"]["source"] == "rusage");
    check_nothing_left(off.tag);
}

TEST_CASE("cgroup: a setsid escapee dies when its actor exits, before the actor is reported") {
    if (const auto why = no_cgroups()) {
        MESSAGE("skipped: no usable cgroup v2 hierarchy here: " << *why);
        return;
    }
    TempDir dir("cgroup");
    const std::string up = dir.fifo("up");
    const std::string release = dir.fifo("release");
    // The escapee leaves the actor's group and session, says so, and
    // sleeps; the actor then exits 0. w keeps the run going meanwhile.
    json e = {{"name", "e"},
              {"cmd",
               {"sh", "-c",
                "setsid sh -c 'echo $$ > \"$0\"; echo > \"$1\"; exec sleep 100' \"$0\" \"$1\" & "
                "read x < \"$1\"; exit 0",
                dir / "pid", up}}};
    json w = {{"name", "w"}, {"cmd", {"sh", "-c", "read x < \"$0\"", release}}};
    Process p(
        {.args = {"run", "--report=jsonl", "-"}, .stdin_data = json{{"actors", {e, w}}}.dump()});
    // e's final entry: by then the escapee is dead (without cgroups it
    // would live until the end of the run).
    REQUIRE(p.read_until(
        [](const std::string& out, const std::string&) {
            return out.find("\"event\":\"reaped\",\"path\":\"root/e\"") != std::string::npos;
        },
        20s));
    const long pid = read_pid(dir / "pid");
    REQUIRE(pid > 0);
    CHECK(dead(static_cast<pid_t>(pid)));
    { std::ofstream(release) << "go\n"; }
    const auto r = p.wait();
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("killed escaped process") == std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("cgroup: an env_clear actor's setsid escapee dies on kill -9 of forkspawn") {
    if (const auto why = no_cgroups()) {
        MESSAGE("skipped: no usable cgroup v2 hierarchy here: " << *why);
        return;
    }
    TempDir dir("cgroup");
    // No FORKSPAWN_TREE marker and a session of its own: without cgroups
    // nothing can tell it from a stranger once forkspawn is gone.
    json e = {{"name", "e"},
              {"env_clear", true},
              {"cmd",
               {"sh", "-c", "setsid sleep 1000 & echo $! > \"$0\"; echo started; exec sleep 1000",
                dir / "pid"}}};
    Process p({.args = {"run", "--report=json", "-"}, .stdin_data = json{{"actors", {e}}}.dump()});
    REQUIRE(p.wait_for_stderr("root/e | started", 20s));
    const long pid = read_pid(dir / "pid");
    REQUIRE(pid > 0);
    const std::string cg = cgroup_dir_of(static_cast<pid_t>(pid));
    REQUIRE_FALSE(cg.empty());
    const std::string run_dir = cg.substr(0, cg.rfind('/'));
    CHECK(run_dir.substr(run_dir.rfind('/') + 1).starts_with("forkspawn-"));
    p.signal(SIGKILL);
    const auto r = p.wait();
    CHECK(r.term_signal == SIGKILL);
    // The guardian kills the run's cgroup, then removes it.
    CHECK(eventually([&] { return dead(static_cast<pid_t>(pid)); }, 10s));
    CHECK(eventually([&] { return !exists(run_dir); }, 10s));
    CHECK(wait_tagged_gone(r.tag, 10s));
}

TEST_CASE("cgroup: a fork storm that ignores SIGTERM is killed at once by its SIGKILL") {
    if (const auto why = no_cgroups()) {
        MESSAGE("skipped: no usable cgroup v2 hierarchy here: " << *why);
        return;
    }
    // Every process of the storm forks new ones in new sessions as fast as
    // it can: a kill by process group, or pid by pid, chases it.
    const std::string storm =
        "trap '' TERM; echo storming; while :; do setsid sh -c 'trap \"\" TERM; sleep 100 & "
        "sleep 100 &' ; done";
    json a = {{"name", "storm"},
              {"daemon", true},
              {"stop", {"SIGTERM", "300ms", "SIGKILL"}},
              {"ready", {{"output", "storming"}}},
              {"cmd", {"sh", "-c", storm}}};
    json work = {{"name", "work"}, {"cmd", {"true"}}, {"after", {"storm"}}};
    const auto r = run_json({{"actors", {a, work}}}, {"-v"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json s = entry(parse_report(r.out), "root/storm");
    CHECK(s["outcome"] == "killed");
    CHECK(s["stop"]["sent"] == json{"SIGTERM", "SIGKILL"});
    CHECK(s["stop"]["exit_after_ms"].get<double>() >= 299.9);
    CHECK(s["ended_ms"].get<double>() - s["stop"]["sent_ms"][1].get<double>() < 5'000);
    // Nothing of it was left to be hunted down at the end.
    CHECK(r.err.find("killed escaped process") == std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE(
    "cgroup: --cgroup=on where forkspawn cannot make cgroups is a usage error, nothing runs") {
    if (::geteuid() != 0) {
        MESSAGE("skipped: needs root to run forkspawn as an unprivileged user");
        return;
    }
    TempDir dir("cgroup");
    ::chmod((dir / "").c_str(), 0777); // the unprivileged forkspawn writes here
    const uid_t spare = 47300 + (backend() == "subint_forkserver" ? 0
                                 : backend() == "trio"            ? 1
                                                                  : 2);
    json a = {{"name", "a"}, {"cmd", {"touch", dir / "ran"}}};
    RunOptions options;
    options.args = {"run", "--cgroup=on", "-"};
    options.stdin_data = json{{"actors", {a}}}.dump();
    options.uid = spare;
    auto r = run(options);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("forkspawn: error: --cgroup=on: cannot use cgroups: ") != std::string::npos);
    CHECK_FALSE(exists(dir / "ran"));
    check_nothing_left(r.tag);

    // The environment variable says the same; auto falls back and runs.
    options.args = {"run", "--report=json", "-"};
    options.env = {{"FORKSPAWN_CGROUP", "on"}};
    r = run(options);
    CHECK(r.exit_code == 2);
    options.env = {{"FORKSPAWN_CGROUP", "auto"}};
    r = run(options);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(parse_report(r.out)["containment"] == "process_group");
    CHECK(exists(dir / "ran"));
    check_nothing_left(r.tag);
}

TEST_CASE(
    "usage: a small actor's peak memory is null where rusage cannot tell it from forkspawn's") {
    const auto r = run_json({{"actors", {{{"name", "t"}, {"cmd", {"true"}}}}}});
    REQUIRE(r.exit_code == 0);
    const json u = entry(parse_report(r.out), "root/t")["usage"];
    INFO(u.dump());
    // A vfork-style child shares forkspawn's memory until its execve, and
    // the kernel counts it into the child's peak; mp_forkserver's children
    // are forked from its small server.
    if (backend() == "mp_forkserver") {
        CHECK(u["max_rss_kib"].is_number()); // the server's size (larger under ASan) at most
    } else {
        CHECK(u["max_rss_kib"].is_null());
    }
    check_nothing_left(r.tag);
}

TEST_CASE("FORKSPAWN_CGROUP: a bad value is an error of run that names the variable") {
    RunOptions options;
    options.env = {{"FORKSPAWN_CGROUP", "bogus"}};
    options.args = {"--help"};
    CHECK(run(options).exit_code == 0); // nothing else minds it
    options.args = {"check", "-"};
    options.stdin_data = R"({"actors": [{"name": "a", "cmd": ["true"]}]})";
    CHECK(run(options).exit_code == 0);
    options.args = {"run", "-"};
    auto r = run(options);
    CHECK(r.exit_code == 2);
    CHECK(r.err == "forkspawn: error: FORKSPAWN_CGROUP: unknown mode 'bogus'; valid: auto, on, "
                   "off\n");
    options.args = {"run", "--cgroup=nope", "-"};
    r = run(options);
    CHECK(r.exit_code == 2);
    CHECK(r.err == "forkspawn: error: --cgroup: unknown mode 'nope'; valid: auto, on, off\n");
    check_nothing_left(r.tag);
}
