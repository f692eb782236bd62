// SPDX-License-Identifier: MIT
// Resource exhaustion on the real binary: RLIMIT_NOFILE and RLIMIT_NPROC so
// low that spawning fails part-way. The failing actors must be spawn_failed
// with the errno, the rest torn down (cancelled or not_started), the exit 1
// with a report that lists every actor once, and nothing left behind. And
// forkspawn's own soft fd limit is raised to the hard limit, so a soft limit
// far below what the tree needs does not stop it.
#include "harness.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <doctest/doctest.h>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

using namespace forkspawn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

json sleepers(int n, const std::string& prefix = "s") {
    json actors = json::array();
    for (int i = 0; i < n; ++i)
        actors.push_back({{"name", prefix + std::to_string(i)},
                          {"cmd", {"sh", "-c", "echo ready; exec sleep 100"}}});
    return actors;
}

struct Tally {
    int started = 0;      // has a pid and was then stopped by forkspawn
    int spawn_failed = 0; // with the expected errno in its error
    int not_started = 0;
};

// Every actor of a tree whose spawning ran out of a resource part-way:
// spawn_failed naming `errno_name`, or stopped/never started because of
// that failure. Nothing completed or failed on its own.
Tally check_exhausted(const json& report, const std::vector<std::string>& paths,
                      const std::string& errno_name) {
    Tally t;
    const auto actors = by_path(report);
    CHECK(actors.size() == paths.size());
    for (const auto& path : paths) {
        INFO(path);
        REQUIRE(actors.count(path) == 1);
        const json& a = actors.at(path);
        INFO(a.dump());
        const std::string outcome = a["outcome"];
        if (outcome == "spawn_failed") {
            REQUIRE(a["error"].is_string());
            CHECK(a["error"].get<std::string>().find("(" + errno_name + ")") != std::string::npos);
            CHECK(a["status"].is_null());
            ++t.spawn_failed;
        } else if (outcome == "not_started") {
            CHECK(a["pid"].is_null());
            CHECK(a["cancel_reason"] == "sibling_failed");
            ++t.not_started;
        } else {
            CHECK((outcome == "cancelled" || outcome == "killed"));
            CHECK(a["pid"].is_number_integer());
            CHECK(a["cancel_reason"] == "sibling_failed");
            CHECK(a["error"].is_null());
            ++t.started;
        }
    }
    return t;
}

std::vector<std::string> paths_of(const json& actors, const std::string& parent = "root") {
    std::vector<std::string> out;
    for (const auto& a : actors) {
        out.push_back(parent + "/" + a["name"].get<std::string>());
        if (a.contains("actors")) {
            const auto below = paths_of(a["actors"], out.back());
            out.insert(out.end(), below.begin(), below.end());
        }
    }
    return out;
}

// A uid no one else runs processes as, one per backend (the suites of the
// backends run in parallel): RLIMIT_NPROC then counts this run's tasks only.
uid_t spare_uid() {
    const std::string b = backend();
    return 47100 + (b == "subint_forkserver" ? 0 : b == "trio" ? 1 : 2);
}

} // namespace

TEST_CASE("limits: RLIMIT_NOFILE exhausted part-way: spawn_failed with EMFILE, clean teardown") {
    const auto fds = open_fds();
    // 100 actors need at least 200 fds while they all run (a pidfd and an
    // output pipe each); 128 in all (the hard limit too, so forkspawn cannot
    // raise it) is enough for its own fds and the first spawns in flight
    // (a few fds each until the spawn is reported), then runs out.
    const json actors = sleepers(100);
    const rlimit limit{128, 128};
    // Process groups, then cgroups (each actor holds its cgroup's fd too,
    // and its child writes cgroup.procs: the first spawns may not be done
    // before the fds run out, so "part-way" is asked of the first only).
    for (const std::string mode : {"off", "auto"}) {
        CAPTURE(mode);
        const auto r = run(
            {.args = {"run", "--report=json", "--stop=SIGTERM,2s,SIGKILL", "--cgroup=" + mode, "-"},
             .stdin_data = json{{"actors", actors}}.dump(),
             .rlimits = {{RLIMIT_NOFILE, limit}}});
        INFO(r.err);
        CHECK_FALSE(r.timed_out);
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("forkspawn: error") == std::string::npos); // not a fatal error: a report
        const json rep = parse_report(r.out);
        CHECK(rep["result"] == "failed");
        CHECK(rep["exit_code"] == 1);
        const Tally t = check_exhausted(rep, paths_of(actors), "EMFILE");
        if (mode == "off") CHECK(t.started > 0); // part-way: some did start
        CHECK(t.spawn_failed > 0);
        check_nothing_left(r.tag);
    }
    CHECK(open_fds() == fds);
}

TEST_CASE("limits: RLIMIT_NOFILE exhausted inside a nested nursery") {
    const auto fds = open_fds();
    // The sub-supervisor inherits the limit and runs out first: its actor
    // is spawn_failed, the nursery fails, the root cancels the rest.
    const json actors = json::array({{{"name", "top"}, {"cmd", {"sh", "-c", "exec sleep 100"}}},
                                     {{"name", "n"}, {"actors", sleepers(100)}}});
    const rlimit limit{128, 128};
    // Process groups: see the test above for cgroups.
    const auto r =
        run({.args = {"run", "--report=json", "--stop=SIGTERM,2s,SIGKILL", "--cgroup=off", "-"},
             .stdin_data = json{{"actors", actors}}.dump(),
             .rlimits = {{RLIMIT_NOFILE, limit}}});
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("forkspawn: error") == std::string::npos);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "failed");
    auto actors_by_path = by_path(rep);
    REQUIRE(actors_by_path.count("root/n") == 1);
    const json n = actors_by_path["root/n"];
    INFO(n.dump());
    CHECK(n["kind"] == "nursery");
    CHECK(n["outcome"] == "failed");
    CHECK(n["status"] == "rc=1");
    CHECK(actors_by_path["root/top"]["outcome"] == "cancelled");
    CHECK(actors_by_path["root/top"]["cancel_reason"] == "sibling_failed");
    std::vector<std::string> inner = paths_of(actors[1]["actors"], "root/n");
    json inner_report = {{"actors", json::array()}};
    for (const auto& p : inner)
        inner_report["actors"].push_back(actors_by_path[p]);
    const Tally t = check_exhausted(inner_report, inner, "EMFILE");
    CHECK(t.started > 0);
    CHECK(t.spawn_failed > 0);
    CHECK(rep["actors"].size() == inner.size() + 2);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("limits: the soft fd limit is raised to the hard limit") {
    const auto fds = open_fds();
    // A soft limit of 32 fds, far below the ~200 that 100 running actors
    // need; the hard limit allows them. All 100 must be running at once.
    constexpr int k_actors = 100;
    const rlimit limit{32, 4096};
    Process p({.args = {"run", "--report=json", "--stop=SIGTERM,2s,SIGKILL", "-"},
               .stdin_data = json{{"actors", sleepers(k_actors)}}.dump(),
               .rlimits = {{RLIMIT_NOFILE, limit}}});
    const bool all_ready = p.read_until(
        [](const std::string&, const std::string& err) {
            std::size_t n = 0;
            for (std::size_t pos = 0; (pos = err.find(" | ready\n", pos)) != std::string::npos;
                 ++pos)
                ++n;
            return n == k_actors || err.find("forkspawn: ") != std::string::npos;
        },
        30s);
    p.signal(SIGINT);
    const auto r = p.wait();
    INFO(r.err);
    CHECK(all_ready);
    CHECK(r.exit_code == 130);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "cancelled");
    REQUIRE(rep["actors"].size() == k_actors);
    for (const auto& a : rep["actors"]) {
        INFO(a.dump());
        CHECK(a["outcome"] == "cancelled");
        CHECK(a["cancel_reason"] == "signal:SIGINT");
    }
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("limits: RLIMIT_NPROC exhausted part-way: spawn_failed with EAGAIN, clean teardown") {
    if (::geteuid() != 0) {
        // RLIMIT_NPROC counts every process of the user; only as root can
        // the test run forkspawn as a user of its own, with a known count.
        MESSAGE("skipped: needs root to run forkspawn as a spare uid");
        return;
    }
    const auto fds = open_fds();
    // forkspawn, its threads, its guardian (and a forkserver process) fit in
    // 16 tasks with room for a few actors; 40 do not.
    const json actors = sleepers(40);
    const rlimit limit{16, 16};
    const auto r = run({.args = {"run", "--report=json", "--stop=SIGTERM,2s,SIGKILL", "-"},
                        .stdin_data = json{{"actors", actors}}.dump(),
                        .rlimits = {{RLIMIT_NPROC, limit}},
                        .uid = spare_uid()});
    INFO(r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("forkspawn: error") == std::string::npos);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "failed");
    const Tally t = check_exhausted(rep, paths_of(actors), "EAGAIN");
    CHECK(t.started > 0);
    CHECK(t.spawn_failed > 0);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("limits: actors get the soft fd limit forkspawn was started with") {
    const auto fds = open_fds();
    // Each actor prints its soft limit; the nested nursery runs 40 actors at
    // once, which needs more than 32 fds in its own supervisor.
    auto limit_printer = [](const std::string& name) {
        return json{{"name", name}, {"cmd", {"sh", "-c", "ulimit -Sn; sleep 0.3"}}};
    };
    json inner = json::array();
    for (int i = 0; i < 40; ++i)
        inner.push_back(limit_printer("p" + std::to_string(i)));
    const json spec{{"actors", {limit_printer("top"), {{"name", "n"}, {"actors", inner}}}}};
    const auto r = run({.args = {"run", "--report=json", "-"},
                        .stdin_data = spec.dump(),
                        .rlimits = {{RLIMIT_NOFILE, rlimit{32, 4096}}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    std::size_t printed = 0, wrong = 0;
    for (const auto& line : lines(r.err)) {
        const auto bar = line.find(" | ");
        if (!line.starts_with("root/") || bar == std::string::npos) continue;
        ++printed;
        wrong += line.substr(bar + 3) != "32";
    }
    CHECK(printed == 41);
    CHECK(wrong == 0);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}
