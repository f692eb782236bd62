// SPDX-License-Identifier: MIT
// Actors' output when forkspawn's stderr is not being read: what forkspawn
// holds stays bounded whatever the actor count, and the end of a run (a
// sub-supervisor's or the root's) does not wait on a reader that takes
// nothing.
#include "harness.hpp"

#include <chrono>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <string>

using namespace forkspawn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr long k_shadow_factor = 5; // TSan's shadow memory grows with what is touched
#elif defined(__SANITIZE_ADDRESS__)
// ASan keeps freed blocks in quarantine and adds redzones: 49 MiB of growth
// was measured once (about 3 MiB unsanitized; 255 MiB before the bound).
constexpr long k_shadow_factor = 8;
#else
constexpr long k_shadow_factor = 1;
#endif

json writers(int n, const std::string& script) {
    json actors = json::array();
    for (int i = 0; i < n; ++i)
        actors.push_back({{"name", "w" + std::to_string(i)}, {"cmd", {"sh", "-c", script}}});
    return actors;
}

struct Timed {
    RunResult result;
    double seconds = 0;
};

Timed run_unread(const json& spec) {
    RunOptions o;
    o.args = {"--report=json", "-"};
    o.stdin_data = spec.dump();
    o.stderr_unread = true;
    o.deadline = 120s;
    const auto t0 = std::chrono::steady_clock::now();
    Timed t{run(o), 0};
    t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return t;
}

} // namespace

TEST_CASE("output: unfinished lines of 2000 actors keep forkspawn's memory bounded") {
    // Each actor writes 65,000 bytes without a newline (it fits in its pipe)
    // and exits. Held per actor until EOF, that was 254-263 MiB of peak
    // memory; now what is held is bounded whatever the actor count. The
    // same tree writing nothing is the baseline, measured in the same run.
    constexpr int n = 2000;
    const Timed quiet = run_unread({{"name", "t"}, {"actors", writers(n, ":")}});
    REQUIRE(quiet.result.exit_code == 0);
    check_nothing_left(quiet.result.tag);

    const Timed loud =
        run_unread({{"name", "t"}, {"actors", writers(n, "printf '%65000s' x")}});
    CHECK(loud.result.exit_code == 0);
    const json report = parse_report(loud.result.out);
    CHECK(report["actors"].size() == n);
    for (const auto& a : report["actors"])
        CHECK(a["outcome"] == "completed");
    const long grown_kib = loud.result.max_rss_kib - quiet.result.max_rss_kib;
    MESSAGE("peak memory: " << quiet.result.max_rss_kib << " KiB quiet, "
                            << loud.result.max_rss_kib << " KiB with output");
    CHECK(grown_kib <= 16 * 1024 * k_shadow_factor);
    check_nothing_left(loud.result.tag);
}

TEST_CASE("output: a run whose stderr is not read ends without waiting for it") {
    // 300 KB of lines from a nested actor and the root's: stderr fills and
    // nobody reads it. The sub-supervisor used to wait 2 s for it before
    // exiting, the root 10 s.
    const json spec = json::parse(R"({"name": "t", "actors": [
        {"name": "n", "actors": [
            {"name": "w", "cmd": ["sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo \"line $i of a hundred bytes, more or less, written to a stderr nobody reads\"; i=$((i+1)); done"]}]},
        {"name": "r", "cmd": ["sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo \"root line $i\"; i=$((i+1)); done"]}]})");
    const Timed t = run_unread(spec);
    CHECK(t.result.exit_code == 0);
    const auto rows = by_path(parse_report(t.result.out));
    CHECK(rows.at("t/n/w")["outcome"] == "completed");
    CHECK(rows.at("t/n")["outcome"] == "completed");
    CHECK(rows.at("t/r")["outcome"] == "completed");
    CHECK(t.seconds < 8.0);
    check_nothing_left(t.result.tag);
}

TEST_CASE("output: a cancelled nursery whose stderr is not read ends within its grace") {
    // The nested writer never stops; a sibling fails at 0.5 s and the
    // nursery is cancelled with a grace of 1.2 s. Waiting on the full
    // stderr, its sub-supervisor was SIGKILLed at the grace and the root
    // then waited 10 s more: about 11.8 s for a run of 0.5 s. The sibling
    // fails only once the writer runs (a cancel before its execve would
    // end in SIGKILL at the 200 ms, as it should).
    TempDir dir("output");
    const std::string up = dir.fifo("up");
    json spec = json::parse(R"({"name": "t", "actors": [
        {"name": "n", "actors": [
            {"name": "w", "cmd": ["sh", "-c", "echo up > \"$0\"; exec yes 'a line nobody reads'"], "stop": ["SIGTERM", "200ms", "SIGKILL"]}]},
        {"name": "f", "cmd": ["sh", "-c", "read x < \"$0\"; sleep 0.5; exit 3"]}]})");
    spec["actors"][0]["actors"][0]["cmd"].push_back(up);
    spec["actors"][1]["cmd"].push_back(up);
    const Timed t = run_unread(spec);
    CHECK(t.result.exit_code == 1);
    const auto rows = by_path(parse_report(t.result.out));
    CHECK(rows.at("t/f")["outcome"] == "failed");
    CHECK(rows.at("t/n/w")["outcome"] == "cancelled");
    CHECK(rows.at("t/n/w")["cancel_reason"] == "sibling_failed");
    CHECK(rows.at("t/n")["outcome"] == "cancelled");
    CHECK(t.seconds < 8.0);
    check_nothing_left(t.result.tag);
}
