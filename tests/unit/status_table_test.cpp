// SPDX-License-Identifier: MIT
// The live tree for people (`forkspawn ctl SOCKET status`): render_status_table.
#include "forkspawn/report.hpp"

#include "table_text.hpp"

#include <doctest/doctest.h>
#include <sstream>
#include <string>
#include <vector>

using namespace forkspawn::report;

using namespace forkspawn::test;

namespace {

StatusRow web() {
    StatusRow a;
    a.path = "root/web";
    a.kind = Kind::cmd;
    a.pid = 4242;
    a.state = "ready";
    a.restarts = 2;
    a.attempt = 3;
    a.ready = true;
    a.status_text = "serving 12 clients";
    a.runtime_ms = 1703.66;
    return a;
}

StatusRow stopped_job() {
    StatusRow a;
    a.path = "root/etl/job";
    a.kind = Kind::cmd;
    a.pid = 4250;
    a.state = "ended";
    a.outcome = "cancelled";
    a.cancel_reason = "ctl_stop";
    a.attempt = 1;
    a.ready = true;
    a.runtime_ms = 203.36;
    return a;
}

StatusRow etl() {
    StatusRow a;
    a.path = "root/etl";
    a.kind = Kind::nursery;
    a.pid = 4244;
    a.state = "running";
    a.attempt = 1;
    a.runtime_ms = 37.9;
    return a;
}

// Never started: everything that would say how it ran is absent.
StatusRow waiting() {
    StatusRow a;
    a.path = "root/report";
    a.state = "waiting";
    return a;
}

// The cell of every row under `column` (up to the next run of two spaces).
std::vector<std::string> cells_under(const std::string& table, const std::string& column) {
    const auto lines = lines_of(table);
    REQUIRE(lines.size() >= 2);
    const std::string header = strip_ansi(lines[0]);
    const auto at = header.find(column);
    REQUIRE(at != std::string::npos);
    const std::size_t col = visible_columns(header.substr(0, at));
    std::vector<std::string> cells;
    for (std::size_t i = 1; i + 1 < lines.size(); ++i) { // rows: not the count line
        const std::string rest = from_visible_column(strip_ansi(lines[i]), col);
        cells.push_back(rest.substr(0, rest.find("  ")));
    }
    return cells;
}

const char* const k_columns[] = {"PATH",     "KIND",  "PID",     "STATE", "OUTCOME",
                                 "RESTARTS", "READY", "RUNTIME", "STATUS"};

} // namespace

TEST_CASE("status table: a header, then every column lines up, with and without colour") {
    StatusRow wide = etl();
    wide.path = "root/caf\xc3\xa9/\xe2\x86\x92/a-much-longer-name"; // multi-byte characters
    const std::vector<StatusRow> actors = {web(), wide, stopped_job(), waiting()};
    for (const bool colour : {false, true}) {
        CAPTURE(colour);
        const std::string table = render_status_table(actors, 5021.3, colour);
        const auto lines = lines_of(table);
        REQUIRE(lines.size() == actors.size() + 2); // header, rows, count
        // PATH as wide as the widest path (30 columns), OUTCOME as its widest cell (20).
        CHECK(lines[0] == "PATH" + std::string(30 - 4 + 2, ' ') +
                              "KIND     PID   STATE    OUTCOME" + std::string(20 - 7 + 2, ' ') +
                              "RESTARTS  READY  RUNTIME  STATUS");
        CHECK(cells_under(table, "PATH") ==
              std::vector<std::string>{"root/web", wide.path, "root/etl/job", "root/report"});
        CHECK(cells_under(table, "KIND") ==
              std::vector<std::string>{"cmd", "nursery", "cmd", "cmd"});
        CHECK(cells_under(table, "PID") == std::vector<std::string>{"4242", "4244", "4250", "-"});
        CHECK(cells_under(table, "STATE") ==
              std::vector<std::string>{"ready", "running", "ended", "waiting"});
        CHECK(cells_under(table, "OUTCOME") ==
              std::vector<std::string>{"-", "-", "cancelled (ctl_stop)", "-"});
        CHECK(cells_under(table, "RESTARTS") == std::vector<std::string>{"2", "0", "0", "0"});
        CHECK(cells_under(table, "READY") == std::vector<std::string>{"yes", "no", "yes", "-"});
        CHECK(cells_under(table, "RUNTIME") ==
              std::vector<std::string>{"1.70s", "37.9ms", "203.4ms", "-"});
        CHECK(cells_under(table, "STATUS") ==
              std::vector<std::string>{"serving 12 clients", "-", "-", "-"});
        for (const auto& line : lines) {
            CAPTURE(line);
            CHECK(line.back() != ' ');
        }
    }
}

TEST_CASE("status table: '-' for every absent value") {
    const auto lines = lines_of(render_status_table({waiting()}, 12.0, false));
    REQUIRE(lines.size() == 3);
    CHECK(lines[1] == "root/report  cmd   -    waiting  -        0         -      -        -");
    // A stop under way has a reason before it has an outcome.
    StatusRow stopping = web();
    stopping.state = "stopping";
    stopping.cancel_reason = "ctl_restart";
    CHECK(cells_under(render_status_table({stopping}, 12.0, false), "OUTCOME") ==
          std::vector<std::string>{"- (ctl_restart)"});
}

TEST_CASE("status table: the last line counts the actors per state, in the order of a life") {
    const std::vector<StatusRow> actors = {stopped_job(), web(), waiting(), web(), etl()};
    CHECK(lines_of(render_status_table(actors, 5021.3, false)).back() ==
          "up 5.02s, 5 actors: 1 waiting, 1 running, 2 ready, 1 ended");
    StatusRow odd = waiting();
    odd.state = "hibernating"; // a state this renderer does not know: counted last
    CHECK(lines_of(render_status_table({odd, web()}, 40.04, false)).back() ==
          "up 40.0ms, 2 actors: 1 ready, 1 hibernating");
    const auto none = lines_of(render_status_table({}, 1.0, false));
    REQUIRE(none.size() == 2);
    CHECK(none[0] == "PATH  KIND  PID  STATE  OUTCOME  RESTARTS  READY  RUNTIME  STATUS");
    CHECK(none[1] == "up 1.0ms, 0 actors");
}

TEST_CASE("status table: control characters and invalid UTF-8 are escaped, never sent as is") {
    StatusRow a = web();
    a.path = "root/we\x1b[2Jb\n";
    a.status_text = "half\tdone\x07 \xff";
    const std::string text = render_status_table({a}, 1.0, false);
    const auto lines = lines_of(text);
    REQUIRE(lines.size() == 3); // the newline in the path did not make a line
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(text.find('\x07') == std::string::npos);
    CHECK(lines[1].find("root/we\\x1b[2Jb\\n  ") == 0);
    CHECK(lines[1].find("half\\tdone\\x07 \xef\xbf\xbd") != std::string::npos);
}

TEST_CASE("status table: no colour unless asked, asked, only the outcome is coloured") {
    const std::vector<StatusRow> actors = {web(), stopped_job(), etl(), waiting()};
    const std::string plain = render_status_table(actors, 1.0, false);
    CHECK(plain.find('\x1b') == std::string::npos);

    StatusRow failed = stopped_job();
    failed.outcome = "failed";
    failed.cancel_reason.reset();
    const std::string coloured = render_status_table({web(), stopped_job(), failed}, 1.0, true);
    CHECK(coloured.find("\x1b[33mcancelled (ctl_stop)\x1b[0m") != std::string::npos);
    CHECK(coloured.find("\x1b[31mfailed\x1b[0m") != std::string::npos);
    const auto lines = lines_of(coloured);
    CHECK(lines[0].find('\x1b') == std::string::npos); // the header
    CHECK(lines[1].find('\x1b') == std::string::npos); // no outcome: nothing to colour
    CHECK(lines.back().find('\x1b') == std::string::npos);
    CHECK(strip_ansi(coloured) == render_status_table({web(), stopped_job(), failed}, 1.0, false));
}
