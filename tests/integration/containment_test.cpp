// Containment and accounting (DESIGN "Containment", the report's `usage`),
// end to end on every backend: what the report says an actor used against
// what the actor measured itself. Nothing is left behind after each.
#include "harness.hpp"

#include <cmath>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace forkspawn::test;
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
