// SPDX-License-Identifier: MIT
// The parts of the report that answer "what failed and why": the cause,
// the counts of command actors, the output tail, and a table that fits the
// terminal.
#include "forkspawn/line_splitter.hpp"
#include "forkspawn/report.hpp"

#include "table_text.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using namespace forkspawn;
using namespace forkspawn::report;
using namespace forkspawn::test;

namespace {

ActorReport entry(const std::string& path, Kind kind, Outcome outcome, double ended_ms) {
    ActorReport a;
    a.path = path;
    a.name = path.substr(path.rfind('/') + 1);
    a.kind = kind;
    a.outcome = outcome;
    a.started_ms = 1.0;
    a.ended_ms = ended_ms;
    if (outcome == Outcome::failed) {
        a.status = "rc=3";
        a.exit_code = 3;
    }
    return a;
}

} // namespace

TEST_CASE("the cause is the first own failure, at any depth, never the nurseries above it") {
    // root/etl fails because root/etl/extract did; root/web failed later.
    std::vector<ActorReport> actors = {
        entry("root/etl", Kind::nursery, Outcome::failed, 300),
        entry("root/etl/extract", Kind::cmd, Outcome::failed, 200),
        entry("root/etl/load", Kind::cmd, Outcome::killed, 290),
        entry("root/web", Kind::cmd, Outcome::failed, 250),
    };
    actors[2].cancel_reason = "sibling_failed";
    auto cause = find_cause(Result::failed, actors);
    REQUIRE(cause);
    CHECK(cause->path == "root/etl/extract");
    CHECK(cause->outcome == Outcome::failed);
    CHECK(cause->status == "rc=3");

    // Earlier in time wins over earlier in the spec.
    actors[3].ended_ms = 150;
    CHECK(find_cause(Result::failed, actors)->path == "root/web");

    // Its own timeout is a failure: a cancel with reason "timeout".
    actors[3].outcome = Outcome::cancelled;
    actors[3].cancel_reason = "timeout";
    cause = find_cause(Result::failed, actors);
    CHECK(cause->path == "root/web");
    CHECK(cause->cancel_reason == "timeout");

    // Not a failed run: no cause.
    CHECK_FALSE(find_cause(Result::completed, actors));
    CHECK_FALSE(find_cause(Result::cancelled, actors));
    CHECK_FALSE(find_cause(Result::internal_error, actors));
}

TEST_CASE("a spawn failure, a nursery that failed alone, and a killed supervisor are causes") {
    ActorReport missing = entry("root/a", Kind::cmd, Outcome::spawn_failed, 5);
    missing.error = "failed to execute ./nope: No such file or directory (ENOENT)";
    auto cause = find_cause(Result::failed, {missing});
    REQUIRE(cause);
    CHECK(cause->error == missing.error);

    // A sub-supervisor that died: nothing below it failed of its own.
    ActorReport n = entry("root/n", Kind::nursery, Outcome::failed, 50);
    n.status = "signal=SIGKILL";
    ActorReport below = entry("root/n/x", Kind::cmd, Outcome::killed, 50);
    below.cancel_reason = "supervisor_killed";
    CHECK(find_cause(Result::failed, {n, below})->path == "root/n");

    // Only a killed actor: it is what is left to blame.
    CHECK(find_cause(Result::failed, {below})->path == "root/n/x");
}

TEST_CASE("a tree timeout names the root and tree_timeout") {
    const std::vector<ActorReport> actors = {entry("dev/a", Kind::cmd, Outcome::cancelled, 9)};
    const auto cause = find_cause(Result::timeout, actors);
    REQUIRE(cause);
    CHECK(cause->path == "dev");
    CHECK(cause->cancel_reason == "tree_timeout");
}

TEST_CASE("counts are of command actors only: one failure deep in the tree counts once") {
    const std::vector<ActorReport> actors = {
        entry("root/a", Kind::nursery, Outcome::failed, 9),
        entry("root/a/b", Kind::nursery, Outcome::failed, 9),
        entry("root/a/b/c", Kind::cmd, Outcome::failed, 9),
        entry("root/d", Kind::cmd, Outcome::completed, 9),
    };
    Summary s{"0.2.0", "trio", Result::failed, 1, 10.0};
    summarize(s, actors);
    CHECK(s.counts[static_cast<std::size_t>(Outcome::failed)] == 1);
    CHECK(s.counts[static_cast<std::size_t>(Outcome::completed)] == 1);
    REQUIRE(s.cause);
    CHECK(s.cause->path == "root/a/b/c");

    const auto j = nlohmann::json::parse(render_json(s, actors));
    CHECK(j["counts"] == nlohmann::json::parse(R"({"completed": 1, "failed": 1, "spawn_failed": 0,
        "cancelled": 0, "killed": 0, "not_started": 0})"));
    CHECK(j["cause"]["path"] == "root/a/b/c");
    CHECK(j["cause"]["outcome"] == "failed");
    CHECK(j["cause"]["status"] == "rc=3");
    CHECK(j["cause"]["cancel_reason"].is_null());
    const auto line = nlohmann::json::parse(jsonl_summary(s));
    CHECK(line["cause"] == j["cause"]);
    CHECK(line["counts"] == j["counts"]);

    Summary ok{"0.2.0", "trio", Result::completed, 0, 10.0};
    summarize(ok, {});
    CHECK(nlohmann::json::parse(render_json(ok, {}))["cause"].is_null());
}

TEST_CASE("output_tail is in the JSON only when kept, and survives the channel") {
    ActorReport a = entry("root/a", Kind::cmd, Outcome::failed, 9);
    CHECK_FALSE(nlohmann::json::parse(actor_json(a)).contains("output_tail"));
    a.output_tail = std::vector<std::string>{"reading input.csv", "error: \x01 bad\xff"};
    const auto j = nlohmann::json::parse(actor_json(a));
    REQUIRE(j.contains("output_tail"));
    CHECK(j["output_tail"].size() == 2);
    CHECK(j["output_tail"][0] == "reading input.csv");
    const auto back = parse_actor_json(actor_json(a));
    REQUIRE(back);
    REQUIRE(back->output_tail);
    CHECK(back->output_tail->size() == 2);
    CHECK(back->output_tail->front() == "reading input.csv");
}

TEST_CASE("the table shows the cause's last output under the summary") {
    ActorReport a = entry("root/etl/extract", Kind::cmd, Outcome::failed, 9);
    a.output_tail = std::vector<std::string>{"reading input.csv", "error: input.csv: no such file"};
    Summary s{"0.2.0", "trio", Result::failed, 1, 10.0};
    summarize(s, {a});
    const auto lines = lines_of(render_table(s, {a}, false));
    REQUIRE(lines.size() == 7);
    CHECK(lines[2] == "result: failed (exit 1) in 10.0ms, 1 command: 1 failed");
    CHECK(lines[3] == "cause: root/etl/extract failed (rc=3)");
    CHECK(lines[4] == "last output of root/etl/extract:");
    CHECK(lines[5] == "  reading input.csv");
    CHECK(lines[6] == "  error: input.csv: no such file");
}

TEST_CASE("a table wider than the terminal shortens paths in the middle and wraps NOTE") {
    ActorReport a = entry("root/ingest/partition-0001/normalise/very-long-step-name", Kind::cmd,
                          Outcome::spawn_failed, 9);
    a.error = "failed to execute ./very-long-step-name: No such file or directory (ENOENT); "
              "looked up in the actor's own PATH";
    ActorReport b = entry("root/ok", Kind::cmd, Outcome::completed, 9);
    Summary s{"0.2.0", "trio", Result::failed, 1, 10.0};
    const std::vector<ActorReport> actors = {a, b};
    summarize(s, actors);

    const std::string wide = render_table(s, actors, false);
    CHECK(wide.find(a.path) != std::string::npos); // no width: nothing changes

    // 80 and 100 columns: NOTE goes under its row; 120: it wraps in its column.
    for (const std::size_t width : {80U, 100U, 120U}) {
        CAPTURE(width);
        const auto lines = lines_of(render_table(s, actors, false, width));
        const std::size_t note_col = lines[0].find("NOTE"); // the header is ASCII
        CHECK((note_col == std::string::npos) == (width < 120));
        // The text of `line` from column `col` on ("\u2026" is one column).
        const auto from_column = [](const std::string& line, std::size_t col) {
            std::size_t at = 0, seen = 0;
            for (; at < line.size(); ++at) {
                if ((static_cast<unsigned char>(line[at]) & 0xc0U) == 0x80U) continue;
                if (seen == col) break;
                ++seen;
            }
            return line.substr(at);
        };
        std::string note;
        for (std::size_t i = 0; i < lines.size() && !lines[i].starts_with("result:"); ++i) {
            CAPTURE(lines[i]);
            CHECK(visible_columns(lines[i]) <= width);
            if (i == 0 || lines[i].starts_with("root/ok")) continue;
            std::string piece =
                i == 1 ? (note_col == std::string::npos ? "" : from_column(lines[i], note_col))
                       : lines[i].substr(lines[i].find_first_not_of(' '));
            if (!piece.empty()) note += (note.empty() ? "" : " ") + piece;
        }
        // The path keeps both ends, and as much as fits; the note is all
        // there, in order.
        CHECK(lines[1].starts_with("root/"));
        CHECK(lines[1].find("\u2026") != std::string::npos);
        CHECK(lines[1].find("step-name  cmd") != std::string::npos);
        CHECK(note == *a.error);
    }
    // Narrow: a row fits once MEM and CPU are gone; the path takes what is
    // left (20 columns), and at 60 KIND goes too.
    const auto narrow = lines_of(render_table(s, actors, false, 70));
    CHECK(narrow[0] == "PATH                  KIND  PID  STATUS  OUTCOME       REASON  RUNTIME");
    CHECK(lines_of(render_table(s, actors, false, 60))[0] ==
          "PATH              PID  STATUS  OUTCOME       REASON  RUNTIME");
    for (const auto& l : narrow)
        if (!l.starts_with("result:") && !l.starts_with("cause:")) CHECK(visible_columns(l) <= 70);
}

TEST_CASE("OutputTail keeps the last lines within its byte limit") {
    OutputTail tail(3, 32);
    CHECK(tail.lines().empty());
    tail.feed("one\ntwo\nthr");
    tail.feed("ee\nfour\n");
    CHECK(tail.lines() == std::vector<std::string>{"two", "three", "four"});
    tail.feed("crlf\r\nno newline");
    CHECK(tail.lines() == std::vector<std::string>{"four", "crlf", "no newline"});

    // The byte limit: the line cut at the front is left out.
    OutputTail small(10, 12);
    small.feed("abcdefgh\n12\n345\n");
    CHECK(small.lines() == std::vector<std::string>{"12", "345"});
    small.feed(std::string(100, 'x'));
    CHECK(small.lines().empty()); // one line longer than the limit: nothing whole
    small.feed("\nend\n");
    CHECK(small.lines() == std::vector<std::string>{"end"});
}
