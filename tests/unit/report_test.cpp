// SPDX-License-Identifier: MIT
#include "forkspawn/report.hpp"

#include "table_text.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

using namespace forkspawn::report;

using namespace forkspawn::test;

namespace {

ActorReport extract_actor() {
    ActorReport a;
    a.path = "root/etl/extract";
    a.name = "extract";
    a.kind = Kind::cmd;
    a.backend = "subint_forkserver";
    a.pid = 4242;
    a.status = "rc=3";
    a.exit_code = 3;
    a.outcome = Outcome::failed;
    a.started_ms = 1.94;
    a.ended_ms = 205.3;
    a.runtime_ms = 203.36;
    return a;
}

ActorReport load_actor() {
    ActorReport a;
    a.path = "root/etl/load";
    a.name = "load";
    a.kind = Kind::cmd;
    a.backend = "subint_forkserver";
    a.pid = 4243;
    a.status = "signal=SIGKILL";
    a.signal = "SIGKILL";
    a.outcome = Outcome::killed;
    a.cancel_reason = "sibling_failed";
    a.started_ms = 2.0;
    a.ended_ms = 1703.7;
    a.runtime_ms = 1701.7;
    a.stop = StopReport{{"SIGTERM", "SIGKILL"}, true, 1601.66, {2.04, 1602.26}};
    a.usage = Usage{12.04, 3.1, 5120, "cgroup+rusage"};
    return a;
}

ActorReport transform_actor() {
    ActorReport a;
    a.path = "root/etl/transform";
    a.name = "transform";
    a.kind = Kind::nursery;
    a.backend = "subint_forkserver";
    a.pid = 4244;
    a.status = "rc=0";
    a.exit_code = 0;
    a.outcome = Outcome::completed;
    a.started_ms = 2.1;
    a.ended_ms = 40.0;
    a.runtime_ms = 37.9;
    return a;
}

ActorReport never_started_actor() {
    ActorReport a;
    a.path = "root/report";
    a.name = "report";
    a.kind = Kind::cmd;
    a.backend = "subint_forkserver";
    a.outcome = Outcome::not_started;
    a.cancel_reason = "sibling_failed";
    return a;
}

Summary failed_summary() {
    return Summary{"0.1.0", "subint_forkserver", Result::failed, 1, 1712.44};
}

std::vector<std::string> keys_of(const nlohmann::ordered_json& j) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : j.items())
        keys.push_back(key);
    return keys;
}

void check_outcome_column_aligned(const std::vector<ActorReport>& actors, bool colour) {
    const std::string table = render_table(failed_summary(), actors, colour);
    const auto lines = lines_of(table);
    REQUIRE(lines.size() == actors.size() + 2); // header, rows, summary
    const std::string header = strip_ansi(lines[0]);
    const auto at = header.find("OUTCOME");
    REQUIRE(at != std::string::npos);
    const std::size_t col = visible_columns(header.substr(0, at));
    for (std::size_t i = 0; i < actors.size(); ++i) {
        CAPTURE(lines[i + 1]);
        const std::string cell = from_visible_column(strip_ansi(lines[i + 1]), col);
        const std::string name(outcome_name(actors[i].outcome));
        CHECK(cell.substr(0, name.size() + 1) == name + " ");
    }
    for (const auto& line : lines) {
        CAPTURE(line);
        CHECK_FALSE(line.empty());
        CHECK(line.back() != ' ');
    }
}

} // namespace

TEST_CASE("outcome names are the documented words") {
    CHECK(outcome_name(Outcome::completed) == "completed");
    CHECK(outcome_name(Outcome::failed) == "failed");
    CHECK(outcome_name(Outcome::spawn_failed) == "spawn_failed");
    CHECK(outcome_name(Outcome::cancelled) == "cancelled");
    CHECK(outcome_name(Outcome::killed) == "killed");
    CHECK(outcome_name(Outcome::not_started) == "not_started");
}

TEST_CASE("actor_json has every field in documented order, absent ones as null") {
    const std::vector<std::string> expected_keys = {"path",
                                                    "name",
                                                    "kind",
                                                    "pid",
                                                    "backend",
                                                    "status",
                                                    "exit_code",
                                                    "signal",
                                                    "outcome",
                                                    "cancel_reason",
                                                    "error",
                                                    "started_ms",
                                                    "ended_ms",
                                                    "runtime_ms",
                                                    "ready_ms",
                                                    "status_text",
                                                    "restarts",
                                                    "attempts",
                                                    "attempts_dropped",
                                                    "usage",
                                                    "stop"};

    SUBCASE("an actor that never ran") {
        const std::string text = actor_json(never_started_actor());
        CHECK(text.find('\n') == std::string::npos);
        const auto j = nlohmann::ordered_json::parse(text);
        CHECK(keys_of(j) == expected_keys);
        CHECK(j["path"] == "root/report");
        CHECK(j["name"] == "report");
        CHECK(j["kind"] == "cmd");
        CHECK(j["backend"] == "subint_forkserver");
        CHECK(j["outcome"] == "not_started");
        CHECK(j["cancel_reason"] == "sibling_failed");
        for (const char* key : {"pid", "status", "exit_code", "signal", "error", "started_ms",
                                "ended_ms", "runtime_ms", "stop"}) {
            CAPTURE(key);
            CHECK(j[key].is_null());
        }
    }

    SUBCASE("a failed actor") {
        const auto j = nlohmann::ordered_json::parse(actor_json(extract_actor()));
        CHECK(keys_of(j) == expected_keys);
        CHECK(j["pid"] == 4242);
        CHECK(j["status"] == "rc=3");
        CHECK(j["exit_code"] == 3);
        CHECK(j["signal"].is_null());
        CHECK(j["outcome"] == "failed");
        CHECK(j["cancel_reason"].is_null());
        CHECK(j["stop"].is_null());
    }

    SUBCASE("a stopped actor carries its stop sequence") {
        const auto j = nlohmann::ordered_json::parse(actor_json(load_actor()));
        CHECK(keys_of(j) == expected_keys);
        CHECK(j["exit_code"].is_null());
        CHECK(j["signal"] == "SIGKILL");
        CHECK(j["outcome"] == "killed");
        const auto& stop = j["stop"];
        REQUIRE(stop.is_object());
        CHECK(keys_of(stop) ==
              std::vector<std::string>{"sent", "escalated", "exit_after_ms", "sent_ms"});
        CHECK(stop["sent"] == nlohmann::json::array({"SIGTERM", "SIGKILL"}));
        CHECK(stop["escalated"] == true);
        CHECK(stop["exit_after_ms"] == 1601.7);
        CHECK(stop["sent_ms"] == nlohmann::json::array({2.0, 1602.3}));
    }
}

TEST_CASE("parse_actor_json reads back what actor_json wrote, stop times included") {
    const auto back = parse_actor_json(actor_json(load_actor()));
    REQUIRE(back);
    REQUIRE(back->stop);
    CHECK(back->stop->sent == std::vector<std::string>{"SIGTERM", "SIGKILL"});
    CHECK(back->stop->escalated);
    CHECK(back->stop->exit_after_ms == doctest::Approx(1601.7));
    REQUIRE(back->stop->sent_ms.size() == 2);
    CHECK(back->stop->sent_ms[0] == doctest::Approx(2.0));
    CHECK(back->stop->sent_ms[1] == doctest::Approx(1602.3));
    REQUIRE(back->usage);
    CHECK(back->usage->cpu_user_ms == doctest::Approx(12.0));
    CHECK(back->usage->cpu_system_ms == doctest::Approx(3.1));
    CHECK(back->usage->max_rss_kib == 5120u);
    CHECK(back->usage->source == "cgroup+rusage");
    CHECK_FALSE(parse_actor_json(actor_json(never_started_actor()))->usage);
}

TEST_CASE("usage renders as its object, null when the actor never ran, and in CPU and MEM") {
    const auto j = nlohmann::json::parse(actor_json(load_actor()));
    CHECK(j["usage"] == nlohmann::json{{"cpu_user_ms", 12.0},
                                       {"cpu_system_ms", 3.1},
                                       {"max_rss_kib", 5120},
                                       {"source", "cgroup+rusage"}});
    CHECK(nlohmann::json::parse(actor_json(never_started_actor()))["usage"].is_null());
    ActorReport big = load_actor();
    big.usage = Usage{1500, 200, 3u << 20, "rusage"};
    ActorReport small = load_actor();
    small.path = "root/small";
    small.usage = Usage{0.3, 0.1, 812, "rusage"};
    const std::string table = render_table(Summary{}, {load_actor(), big, small}, false);
    // CPU is user + system; memory in binary units.
    CHECK(table.find("15.1ms  5.0M") != std::string::npos);
    CHECK(table.find("1.70s   3.0G") != std::string::npos);
    CHECK(table.find("0.4ms   812K") != std::string::npos);
}

TEST_CASE("milliseconds are rounded to a tenth") {
    ActorReport a = extract_actor();
    a.started_ms = 1.96;
    a.ended_ms = 0.04;
    a.runtime_ms = -0.04; // clock skew must not print as -0.0
    const std::string text = actor_json(a);
    CHECK(text.find("\"started_ms\":2.0") != std::string::npos);
    CHECK(text.find("\"ended_ms\":0.0") != std::string::npos);
    CHECK(text.find("\"runtime_ms\":0.0") != std::string::npos);
    CHECK(text.find("-0") == std::string::npos);

    const auto j = nlohmann::json::parse(actor_json(extract_actor()));
    CHECK(j["started_ms"] == 1.9);
    CHECK(j["ended_ms"] == 205.3);
    CHECK(j["runtime_ms"] == 203.4);
    CHECK(actor_json(extract_actor()).find("\"runtime_ms\":203.4,") != std::string::npos);
}

TEST_CASE("jsonl lines end with exactly one newline and parse") {
    const std::string reaped = jsonl_reaped(load_actor());
    REQUIRE_FALSE(reaped.empty());
    CHECK(reaped.back() == '\n');
    CHECK(reaped.find('\n') == reaped.size() - 1);
    const auto r = nlohmann::ordered_json::parse(reaped);
    REQUIRE(r.size() == 22);
    CHECK(r.begin().key() == "event");
    CHECK(r["event"] == "reaped");
    CHECK(r["path"] == "root/etl/load");
    CHECK(r["stop"]["exit_after_ms"] == 1601.7);

    const std::string summary = jsonl_summary(failed_summary());
    REQUIRE_FALSE(summary.empty());
    CHECK(summary.back() == '\n');
    CHECK(summary.find('\n') == summary.size() - 1);
    const auto s = nlohmann::ordered_json::parse(summary);
    CHECK(keys_of(s) == std::vector<std::string>{"event", "forkspawn_version", "backend",
                                                 "containment", "result", "exit_code",
                                                 "duration_ms", "cause", "counts"});
    CHECK(s["containment"] == "process_group");
    CHECK(s["event"] == "summary");
    CHECK(s["forkspawn_version"] == "0.1.0");
    CHECK(s["backend"] == "subint_forkserver");
    CHECK(s["result"] == "failed");
    CHECK(s["exit_code"] == 1);
    CHECK(s["duration_ms"] == 1712.4);
}

TEST_CASE("render_json is one object with the actors in order") {
    const std::vector<ActorReport> actors = {extract_actor(), load_actor(), transform_actor(),
                                             never_started_actor()};
    const std::string text = render_json(failed_summary(), actors);
    REQUIRE_FALSE(text.empty());
    CHECK(text.back() == '\n');
    const auto j = nlohmann::ordered_json::parse(text);
    CHECK(keys_of(j) == std::vector<std::string>{"forkspawn_version", "backend", "containment",
                                                 "result", "exit_code", "duration_ms", "cause",
                                                 "counts", "actors"});
    CHECK(j["result"] == "failed");
    CHECK(j["exit_code"] == 1);
    CHECK(j["duration_ms"] == 1712.4);
    REQUIRE(j["actors"].is_array());
    REQUIRE(j["actors"].size() == actors.size());
    for (std::size_t i = 0; i < actors.size(); ++i) {
        CHECK(j["actors"][i]["path"] == actors[i].path);
        CHECK(j["actors"][i] == nlohmann::ordered_json::parse(actor_json(actors[i])));
    }

    const auto empty = nlohmann::json::parse(render_json(failed_summary(), {}));
    CHECK(empty["actors"] == nlohmann::json::array());
}

TEST_CASE("table columns line up, with and without colour") {
    ActorReport wide = transform_actor();
    wide.path = "root/etl/caf\xc3\xa9/\xe2\x86\x92/a-much-longer-name"; // multi-byte characters
    const std::vector<ActorReport> actors = {extract_actor(), load_actor(), wide,
                                             never_started_actor()};
    SUBCASE("plain") {
        check_outcome_column_aligned(actors, false);
    }
    SUBCASE("colour") {
        check_outcome_column_aligned(actors, true);
    }
}

TEST_CASE("table cells show values, '-' when absent, and the stop sequence") {
    const std::vector<ActorReport> actors = {extract_actor(), load_actor(), never_started_actor()};
    const auto lines = lines_of(render_table(failed_summary(), actors, false));
    REQUIRE(lines.size() == 5);
    CHECK(lines[0].find("PATH") == 0);
    for (const char* column :
         {"KIND", "PID", "STATUS", "OUTCOME", "REASON", "RUNTIME", "CPU", "MEM"}) {
        CAPTURE(column);
        CHECK(lines[0].find(column) != std::string::npos);
    }
    CHECK(lines[1].find("203.4ms") != std::string::npos);
    CHECK(lines[1].find("rc=3") != std::string::npos);
    CHECK(lines[2].find("1.70s") != std::string::npos);
    CHECK(lines[2].find("sibling_failed") != std::string::npos);
    CHECK(lines[2].find("sent SIGTERM,SIGKILL; exited 1601.7ms after SIGTERM") !=
          std::string::npos);
    // not_started: no pid, status or runtime, nothing to note.
    CHECK(lines[3].find("root/report") == 0);
    CHECK(lines[3].rfind(" -") == lines[3].size() - 2);

    ActorReport broken = never_started_actor();
    broken.outcome = Outcome::spawn_failed;
    broken.error = "exec: No such file or directory";
    const auto with_error = render_table(failed_summary(), {broken}, false);
    CHECK(lines_of(with_error)[1].find("exec: No such file or directory") != std::string::npos);
}

TEST_CASE("table uses no colour escapes unless asked, and colours only the outcome") {
    const std::vector<ActorReport> actors = {extract_actor(), load_actor(), transform_actor(),
                                             never_started_actor()};
    CHECK(render_table(failed_summary(), actors, false).find('\x1b') == std::string::npos);

    const std::string coloured = render_table(failed_summary(), actors, true);
    CHECK(coloured.find("\x1b[31mfailed\x1b[0m") != std::string::npos);
    CHECK(coloured.find("\x1b[31mkilled\x1b[0m") != std::string::npos);
    CHECK(coloured.find("\x1b[32mcompleted\x1b[0m") != std::string::npos);
    CHECK(coloured.find("\x1b[2mnot_started\x1b[0m") != std::string::npos);
    for (const auto& line : lines_of(coloured)) {
        std::size_t escapes = 0;
        for (auto at = line.find('\x1b'); at != std::string::npos; at = line.find('\x1b', at + 1))
            ++escapes;
        CAPTURE(line);
        CHECK(escapes <= 2); // one colour, one reset, on data lines only
    }
}

// The summary as the run gives it to the table: with counts and cause.
Summary summarized(Summary s, const std::vector<ActorReport>& actors) {
    summarize(s, actors);
    return s;
}

TEST_CASE("table summary counts command actors in outcome order, then names the cause") {
    const std::vector<ActorReport> actors = {load_actor(), extract_actor(), transform_actor()};
    const auto lines = lines_of(render_table(summarized(failed_summary(), actors), actors, false));
    REQUIRE(lines.size() == 6); // header, 3 rows, result, cause
    CHECK(lines[4] == "result: failed (exit 1) in 1.71s, 2 commands: 1 failed, 1 killed");
    CHECK(lines[5] == "cause: root/etl/extract failed (rc=3)");

    const std::vector<ActorReport> two = {extract_actor(), extract_actor()};
    const Summary ok{"0.1.0", "subint_forkserver", Result::completed, 0, 40.04};
    std::vector<ActorReport> done = two;
    for (auto& a : done)
        a.outcome = Outcome::completed;
    CHECK(lines_of(render_table(summarized(ok, done), done, false)).back() ==
          "result: completed (exit 0) in 40.0ms, 2 commands: 2 completed");

    const auto none = lines_of(render_table(summarized(ok, {}), {}, false));
    REQUIRE(none.size() == 2);
    CHECK(none.back() == "result: completed (exit 0) in 40.0ms, 0 commands");

    // A tree that failed only because an actor ran past its own timeout.
    ActorReport late = load_actor();
    late.outcome = Outcome::cancelled;
    late.cancel_reason = "timeout";
    late.path = "root/late";
    ActorReport sibling = load_actor();
    sibling.outcome = Outcome::cancelled;
    const std::vector<ActorReport> timed = {late, sibling};
    const auto t = lines_of(render_table(summarized(failed_summary(), timed), timed, false));
    CHECK(t[t.size() - 2] ==
          "result: failed (exit 1) in 1.71s, 2 commands: 2 cancelled; 1 ran past its own timeout");
    CHECK(t.back() == "cause: root/late cancelled (timeout)");
    const std::vector<ActorReport> both = {late, late};
    CHECK(
        lines_of(render_table(summarized(failed_summary(), both), both, false))[3] ==
        "result: failed (exit 1) in 1.71s, 2 commands: 2 cancelled; 2 ran past their own timeout");
}

TEST_CASE("invalid UTF-8 and control characters never throw or break a line") {
    ActorReport a = extract_actor();
    a.path = "root/bad\xff\xfe/x\xc3";
    a.name = "bad\xc0\xaf";
    a.error = "exec failed\n\x1b[2J\x80";
    const std::vector<ActorReport> actors = {a};

    std::string text;
    CHECK_NOTHROW(text = actor_json(a));
    const auto j = nlohmann::json::parse(text);
    CHECK(j["path"].get<std::string>().find("\xef\xbf\xbd") != std::string::npos);

    CHECK_NOTHROW(text = jsonl_reaped(a));
    CHECK(text.find('\n') == text.size() - 1);
    CHECK_NOTHROW(nlohmann::json::parse(text));

    CHECK_NOTHROW(text = render_json(failed_summary(), actors));
    CHECK_NOTHROW(nlohmann::json::parse(text));

    CHECK_NOTHROW(text = render_table(failed_summary(), actors, false));
    CHECK(lines_of(text).size() == 3);
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(text.find("exec failed\\n\\x1b[2J") != std::string::npos);
}

TEST_CASE("status, kind and result have one rendering each") {
    CHECK(status_text(3, std::nullopt) == "rc=3");
    CHECK(status_text(0, std::nullopt) == "rc=0");
    CHECK(status_text(std::nullopt, std::string("SIGKILL")) == "signal=SIGKILL");
    CHECK_FALSE(status_text(std::nullopt, std::nullopt));
    for (Kind k : {Kind::cmd, Kind::nursery})
        CHECK(parse_kind(kind_name(k)) == k);
    CHECK_FALSE(parse_kind("daemon"));
    CHECK(result_name(Result::internal_error) == "internal_error");
    CHECK(result_name(Result::timeout) == "timeout");
}

TEST_CASE("attempts: rendered oldest first, read back, and the table notes the restarts") {
    ActorReport a = extract_actor();
    a.restarts = 2;
    a.attempts_dropped = 5;
    a.attempts.push_back({101, "rc=1", Outcome::failed, 1.0, 2.0});
    a.attempts.push_back({102, "signal=SIGSEGV", Outcome::failed, 3.0, 4.0});
    a.attempts.push_back({4242, "rc=3", Outcome::failed, 5.0, 205.3});
    const auto j = nlohmann::ordered_json::parse(actor_json(a));
    CHECK(j["restarts"] == 2);
    CHECK(j["attempts_dropped"] == 5);
    REQUIRE(j["attempts"].size() == 3);
    CHECK(keys_of(j["attempts"][0]) ==
          std::vector<std::string>{"pid", "status", "outcome", "started_ms", "ended_ms"});
    CHECK(j["attempts"][1]["status"] == "signal=SIGSEGV");
    CHECK(j["attempts"][2]["pid"] == 4242);
    const auto back = parse_actor_json(actor_json(a));
    REQUIRE(back);
    CHECK(back->restarts == 2);
    CHECK(back->attempts_dropped == 5);
    REQUIRE(back->attempts.size() == 3);
    CHECK(back->attempts[0].pid == 101);
    CHECK(back->attempts[1].outcome == Outcome::failed);
    CHECK(back->attempts[2].ended_ms == 205.3);
    // A never-run actor has none; what is not an attempt is skipped.
    CHECK(nlohmann::ordered_json::parse(actor_json(never_started_actor()))["attempts"].empty());
    auto odd = nlohmann::json::parse(actor_json(a));
    odd["attempts"] = {1, "x", {{"pid", -4}, {"outcome", "bogus"}}};
    const auto skipped = actor_from_json(odd);
    REQUIRE(skipped);
    REQUIRE(skipped->attempts.size() == 1);
    CHECK_FALSE(skipped->attempts[0].pid);
    CHECK(skipped->attempts[0].outcome == Outcome::not_started);

    const std::string table = render_table(failed_summary(), {a}, false);
    CHECK(table.find("restarted 2x") != std::string::npos);
    CHECK(render_table(failed_summary(), {extract_actor()}, false).find("restarted") ==
          std::string::npos);
}

TEST_CASE("jsonl events: spawned, exited, restarting, each one line with event first") {
    const auto spawned = nlohmann::ordered_json::parse(jsonl_spawned("root/a", 77, 2, 12.34));
    CHECK(keys_of(spawned) == std::vector<std::string>{"event", "path", "pid", "attempt", "ms"});
    CHECK(spawned["attempt"] == 2);
    CHECK(spawned["ms"] == 12.3);
    const std::string exited = jsonl_exited("root/a", 2, "rc=1", Outcome::failed, 20.0);
    CHECK(exited.find('\n') == exited.size() - 1);
    const auto e = nlohmann::ordered_json::parse(exited);
    CHECK(keys_of(e) ==
          std::vector<std::string>{"event", "path", "attempt", "status", "outcome", "ms"});
    CHECK(e["status"] == "rc=1");
    CHECK(e["outcome"] == "failed");
    const auto r = nlohmann::ordered_json::parse(jsonl_restarting("root/a", 2, 400, 20.0));
    CHECK(keys_of(r) == std::vector<std::string>{"event", "path", "attempt", "delay_ms", "ms"});
    CHECK(r["delay_ms"] == 400.0);
}

TEST_CASE(
    "readiness in the report: ready_ms and status_text round-trip, the table shows the status") {
    ActorReport a = extract_actor();
    a.ready_ms = 12.34;
    a.status_text = "loading 3/4";
    const auto j = nlohmann::ordered_json::parse(actor_json(a));
    CHECK(j["ready_ms"] == 12.3);
    CHECK(j["status_text"] == "loading 3/4");
    const auto back = parse_actor_json(actor_json(a));
    REQUIRE(back);
    CHECK(back->ready_ms == 12.3);
    CHECK(back->status_text == "loading 3/4");
    CHECK(render_table(failed_summary(), {a}, false).find("status: loading 3/4") !=
          std::string::npos);
    CHECK(render_table(failed_summary(), {extract_actor()}, false).find("status:") ==
          std::string::npos);

    const std::string line = jsonl_ready("root/db", 2, 41.06);
    CHECK(line.back() == '\n');
    const auto r = nlohmann::ordered_json::parse(line);
    CHECK(keys_of(r) == std::vector<std::string>{"event", "path", "attempt", "ready_ms"});
    CHECK(r["event"] == "ready");
    CHECK(r["attempt"] == 2);
    CHECK(r["ready_ms"] == 41.1);
}
