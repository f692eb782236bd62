// SPDX-License-Identifier: MIT
// 10,000 actors in a flat tree, per backend (the long stress pass only: a
// run takes 10-30 s). forkspawn starts with the usual soft fd limit of 1024
// and raises it to the hard limit; it prepares only a bounded number of
// spawns at a time, so the tree runs with fds to spare.
#include "../integration/harness.hpp"

#include <chrono>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/resource.h>
#include <unordered_set>

using namespace forkspawn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int k_actors = 10'000;

// The usual default soft limit, the hard limit as it is.
rlimit usual_fd_limit() {
    rlimit lim{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
    lim.rlim_cur = std::min<rlim_t>(1024, lim.rlim_max);
    return lim;
}

// Runs the spec; checks that forkspawn, once in its final report write,
// holds nothing but its stdio; returns the parsed report.
json run_big(const json& spec, const std::string& what, RunResult& r) {
    Process p({.args = {"run", "--report=json", "-"},
               .stdin_data = spec.dump(),
               .deadline = 600s,
               .rlimits = {{RLIMIT_NOFILE, usual_fd_limit()}}});
    // The report is far larger than the pipe: forkspawn waits in its write.
    if (p.wait_stdout_pending(580s)) {
        const std::string leaked = fds_beyond_stdio(p.pid(), p.inherited_fds());
        INFO(what, ": fds forkspawn still holds after its teardown:", leaked);
        CHECK(leaked.empty());
    }
    r = p.wait();
    CHECK_FALSE(r.timed_out);
    INFO(what, ": stderr tail: ", r.err.substr(r.err.size() > 4000 ? r.err.size() - 4000 : 0));
    const json rep = json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(rep.is_discarded());
    REQUIRE(rep.is_object());
    REQUIRE(rep["actors"].is_array());
    return rep;
}

} // namespace

TEST_CASE("stress: a flat tree of 10000 actors completes") {
    const auto fds = open_fds();
    json actors = json::array();
    for (int i = 0; i < k_actors; ++i)
        actors.push_back(
            {{"name", fmt::format("a{}", i)}, {"cmd", {"echo", fmt::format("hi {}", i)}}});
    RunResult r;
    const json rep = run_big({{"actors", actors}}, "10000 echo", r);
    CHECK(r.exit_code == 0);
    CHECK(rep["result"] == "completed");
    REQUIRE(rep["actors"].size() == k_actors);
    int completed = 0, in_order = 0;
    for (int i = 0; i < k_actors; ++i) {
        const json& a = rep["actors"][static_cast<std::size_t>(i)];
        in_order += a["path"] == fmt::format("root/a{}", i);
        completed += a["outcome"] == "completed";
    }
    CHECK(in_order == k_actors);
    CHECK(completed == k_actors);
    // Every actor's line arrived, once.
    std::unordered_set<std::string> seen;
    int duplicates = 0;
    for (const auto& line : lines(r.err))
        if (line.rfind("root/a", 0) == 0 && !seen.insert(line).second) ++duplicates;
    CHECK(seen.size() == static_cast<std::size_t>(k_actors));
    CHECK(duplicates == 0);
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

TEST_CASE("stress: 10000 actors alive at once are all cancelled when the work is done") {
    // 9999 daemons that run until cancelled, then one worker: started in
    // order, the worker comes last, so all are alive together, each holding
    // a pidfd in forkspawn; then all are stopped at once.
    const auto fds = open_fds();
    json actors = json::array();
    for (int i = 0; i < k_actors - 1; ++i)
        actors.push_back({{"name", fmt::format("d{}", i)},
                          {"cmd", {"sleep", "100"}},
                          {"daemon", true},
                          {"output", "null"}});
    actors.push_back({{"name", "worker"}, {"cmd", {"true"}}});
    RunResult r;
    const json rep = run_big({{"actors", actors}}, "9999 daemons", r);
    CHECK(r.exit_code == 0);
    CHECK(rep["result"] == "completed");
    REQUIRE(rep["actors"].size() == k_actors);
    int cancelled = 0;
    for (int i = 0; i < k_actors - 1; ++i) {
        const json& a = rep["actors"][static_cast<std::size_t>(i)];
        cancelled += a["path"] == fmt::format("root/d{}", i) && a["outcome"] == "cancelled" &&
                     a["cancel_reason"] == "nursery_done" && a["status"] == "signal=SIGTERM";
    }
    CHECK(cancelled == k_actors - 1);
    CHECK(rep["actors"][k_actors - 1]["outcome"] == "completed");
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}
