// SPDX-License-Identifier: MIT
#include "forkspawn/plot.hpp"

#include <algorithm>
#include <chrono>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <regex>
#include <string>
#include <vector>

using namespace forkspawn::report;

namespace {

// root/etl (a nursery) with extract (failed), load (restarted twice, then
// killed after SIGTERM and SIGKILL), and root/late, never started.
std::vector<ActorReport> sample_actors() {
    ActorReport etl;
    etl.path = "root/etl";
    etl.name = "etl";
    etl.kind = Kind::nursery;
    etl.status = "rc=1";
    etl.exit_code = 1;
    etl.outcome = Outcome::failed;
    etl.started_ms = 1.0;
    etl.ended_ms = 900.0;
    etl.attempts = {{100, "rc=1", Outcome::failed, 1.0, 900.0}};

    ActorReport extract;
    extract.path = "root/etl/extract";
    extract.name = "extract";
    extract.status = "rc=3";
    extract.exit_code = 3;
    extract.outcome = Outcome::failed;
    extract.started_ms = 2.0;
    extract.ended_ms = 600.0;
    extract.ready_ms = 2.5;
    extract.attempts = {{101, "rc=3", Outcome::failed, 2.0, 600.0}};

    ActorReport load;
    load.path = "root/etl/load";
    load.name = "load";
    load.status = "signal=SIGKILL";
    load.signal = "SIGKILL";
    load.outcome = Outcome::killed;
    load.cancel_reason = "sibling_failed";
    load.started_ms = 400.0;
    load.ended_ms = 850.0;
    load.restarts = 2;
    load.attempts = {{102, "rc=1", Outcome::failed, 3.0, 100.0},
                     {103, "rc=1", Outcome::failed, 200.0, 300.0},
                     {104, "signal=SIGKILL", Outcome::killed, 400.0, 850.0}};
    load.stop = StopReport{{"SIGTERM", "SIGKILL"}, true, 249.0, {601.0, 801.0}};

    ActorReport late;
    late.path = "root/late";
    late.name = "late";
    late.outcome = Outcome::not_started;
    late.cancel_reason = "dependency_failed";
    return {etl, extract, load, late};
}

Summary sample_summary(const std::vector<ActorReport>& actors) {
    Summary s;
    s.version = "0.2.0";
    s.backend = "trio";
    s.result = Result::failed;
    s.exit_code = 1;
    s.duration_ms = 901.5;
    summarize(s, actors);
    return s;
}

std::string json_report() {
    const auto actors = sample_actors();
    return render_json(sample_summary(actors), actors);
}

// The same run as a jsonl stream: events, then each actor reaped as it ended (load first).
std::string jsonl_report() {
    const auto actors = sample_actors();
    std::string out = jsonl_spawned("root/etl", 100, 1, 1.0);
    out += jsonl_spawned("root/etl/extract", 101, 1, 2.0);
    out += jsonl_spawned("root/etl/load", 102, 1, 3.0);
    out += jsonl_ready("root/etl/load", 1, 4.0);
    out += jsonl_exited("root/etl/load", 1, "rc=1", Outcome::failed, 100.0);
    out += jsonl_restarting("root/etl/load", 1, 100.0, 100.0);
    out += jsonl_ready("root/etl/load", 3, 410.0);
    out += jsonl_reaped(actors[2]);
    out += jsonl_reaped(actors[1]);
    out += jsonl_reaped(actors[3]);
    out += jsonl_reaped(actors[0]);
    out += jsonl_summary(sample_summary(actors));
    return out;
}

PlotRun parsed(const std::string& text) {
    const PlotInput in = parse_plot_input(text);
    if (in.error) FAIL(format_plot_error("report", *in.error));
    REQUIRE(in.run);
    return *in.run;
}

PlotError error_of(const std::string& text) {
    const PlotInput in = parse_plot_input(text);
    REQUIRE_FALSE(in.run);
    REQUIRE(in.error);
    return *in.error;
}

std::vector<std::string> paths(const PlotRun& run) {
    std::vector<std::string> out;
    for (const auto& a : run.actors)
        out.push_back(a.report.path);
    return out;
}

std::size_t count(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

// The rows in drawing order: each actor group's title begins with its path.
std::vector<std::string> row_paths(const std::string& svg) {
    std::vector<std::string> out;
    const std::regex row(R"(<g class="actor"><title>([^ \n]*))");
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), row); it != std::sregex_iterator();
         ++it)
        out.push_back((*it)[1]);
    return out;
}

// The x of each row's label: the indentation.
std::vector<double> label_xs(const std::string& svg) {
    std::vector<double> out;
    const std::regex label(R"re(<text class="label[^"]*" x="([0-9.]+)")re");
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), label);
         it != std::sregex_iterator(); ++it)
        out.push_back(std::stod((*it)[1]));
    return out;
}

} // namespace

TEST_CASE("plot: a json report parses into its summary and actors") {
    const PlotRun run = parsed(json_report());
    CHECK(run.backend == "trio");
    CHECK(run.result == "failed");
    CHECK(run.exit_code == 1);
    CHECK(run.duration_ms == doctest::Approx(901.5));
    CHECK(run.has_summary);
    REQUIRE(run.cause);
    CHECK(*run.cause == "root/etl/extract failed (rc=3)");
    CHECK(paths(run) ==
          std::vector<std::string>{"root/etl", "root/etl/extract", "root/etl/load", "root/late"});
    const ActorReport& load = run.actors[2].report;
    CHECK(load.attempts.size() == 3);
    REQUIRE(load.stop);
    CHECK(load.stop->sent_ms == std::vector<double>{601.0, 801.0});
    CHECK(run.actors[1].ready_ms == std::vector<double>{2.5});
    CHECK_FALSE(run.actors[3].report.started_ms);
}

TEST_CASE("plot: a jsonl stream parses the same run, in the order actors first appeared") {
    const PlotRun run = parsed(jsonl_report());
    CHECK(run.backend == "trio");
    CHECK(run.result == "failed");
    CHECK(run.exit_code == 1);
    CHECK(run.has_summary);
    CHECK(run.cause == "root/etl/extract failed (rc=3)");
    // Reaped load, extract, late, etl; spawned etl, extract, load; late only reaped.
    CHECK(paths(run) ==
          std::vector<std::string>{"root/etl", "root/etl/extract", "root/etl/load", "root/late"});
    // Every attempt's readiness from the ready events.
    CHECK(run.actors[2].ready_ms == std::vector<double>{4.0, 410.0});
    CHECK(run.actors[2].report.attempts.size() == 3);
}

TEST_CASE("plot: the format is told from the content") {
    // A one-line json report (no actors) is no jsonl stream; a stream of one summary is.
    const PlotRun doc = parsed(R"({"result":"completed","exit_code":0,"actors":[]})");
    CHECK(doc.result == "completed");
    CHECK(doc.has_summary);
    const PlotRun stream = parsed("\n  \n"
                                  R"({"event":"summary","result":"completed","exit_code":0})"
                                  "\r\n");
    CHECK(stream.result == "completed");
    CHECK(stream.actors.empty());
    // A pretty-printed document, fields in any order, unknown ones ignored.
    const PlotRun pretty = parsed(R"({
  "actors": [
    {"path": "r/a", "outcome": "completed", "future_field": {"x": [1, 2]}}
  ],
  "counts": {"completed": 1},
  "result": "completed"
})");
    CHECK(paths(pretty) == std::vector<std::string>{"r/a"});
}

TEST_CASE("plot: a jsonl stream cut short draws what was reaped and says so") {
    std::string text = jsonl_report();
    text.resize(text.find(R"({"event":"summary")"));
    const PlotRun run = parsed(text);
    CHECK_FALSE(run.has_summary);
    CHECK(run.actors.size() == 4);
    const std::string svg = render_svg(run);
    CHECK(svg.find("result unknown") != std::string::npos);
    CHECK(svg.find("ends before its summary") != std::string::npos);
}

TEST_CASE("plot: one row per actor, each nursery followed by its actors, indented by depth") {
    for (const std::string& text : {json_report(), jsonl_report()}) {
        const std::string svg = render_svg(parsed(text));
        CHECK(row_paths(svg) == std::vector<std::string>{"root/etl", "root/etl/extract",
                                                         "root/etl/load", "root/late"});
        const auto xs = label_xs(svg);
        REQUIRE(xs.size() == 4);
        CHECK(xs[1] > xs[0]);
        CHECK(xs[2] == xs[1]);
        CHECK(xs[3] == xs[0]);
        // Labels are names below the parent row; a nursery's is bold and ends in '/'.
        CHECK(svg.find(R"(<text class="label nursery")") != std::string::npos);
        CHECK(svg.find(">etl/</text>") != std::string::npos);
        CHECK(svg.find(">extract</text>") != std::string::npos);
        CHECK(svg.find(">late</text>") != std::string::npos);
    }
}

TEST_CASE("plot: an actor whose nursery is not listed is a top row named by its path") {
    const std::string svg = render_svg(parsed(
        R"({"result":"failed","actors":[{"path":"root/a/b","kind":"cmd","outcome":"failed"}]})"));
    CHECK(row_paths(svg) == std::vector<std::string>{"root/a/b"});
    CHECK(svg.find(">a/b</text>") != std::string::npos);
}

TEST_CASE(
    "plot: attempts are bars in their outcome's colour, backoff gaps, ready marks, stop ticks") {
    const std::string svg = render_svg(parsed(json_report()));
    CHECK(svg.find("<title>forkspawn run of root: failed (exit 1) in 901.5ms</title>") !=
          std::string::npos);
    CHECK(svg.find("backend trio") != std::string::npos);
    CHECK(svg.find("cause: root/etl/extract failed (rc=3)") != std::string::npos);
    // Bars: etl, extract, 3 of load; late never started has none.
    CHECK(count(svg, "<title>attempt ") == 5);
    CHECK(svg.find(R"(<rect class="o-killed" x=)") != std::string::npos);
    CHECK(svg.find("attempt 3: killed signal=SIGKILL, 400.0ms to 850.0ms") != std::string::npos);
    // load's two restarts, each after a wait.
    CHECK(count(svg, R"(<line class="gap")") == 1 + 2); // the legend's and load's
    CHECK(svg.find("restart after 100.0ms") != std::string::npos);
    CHECK(count(svg, R"(<polygon class="ready")") == 1 + 1); // the legend's and extract's
    CHECK(svg.find(R"(<text class="sig")") != std::string::npos);
    CHECK(svg.find(R"(<text class="sig kill")") != std::string::npos);
    CHECK(svg.find(">SIGKILL</text>") != std::string::npos);
    CHECK(svg.find("SIGKILL sent at 801.0ms") != std::string::npos);
    // Every outcome has a colour and the legend names it.
    for (const char* o :
         {"completed", "failed", "spawn_failed", "cancelled", "killed", "not_started"}) {
        INFO(o);
        CHECK(svg.find(fmt::format(".o-{}{{fill:#", o)) != std::string::npos);
        CHECK(svg.find(fmt::format(R"(<rect class="o-{}" x=)", o)) != std::string::npos);
        CHECK(svg.find(fmt::format(">{}</text></g>", o)) != std::string::npos);
    }
    CHECK(svg.find(R"(<g class="legend">)") != std::string::npos);
    // The status column: not started, and why.
    CHECK(svg.find(">not_started (dependency_failed)</text>") != std::string::npos);
    // Milliseconds for a run under 2 s.
    CHECK(svg.find(">900ms</text>") != std::string::npos);
}

TEST_CASE("plot: the axis counts seconds for a longer run") {
    const std::string svg = render_svg(parsed(
        R"({"result":"completed","duration_ms":12345,"actors":[{"path":"r/a","outcome":"completed","started_ms":5,"ended_ms":12000,"attempts":[]}]})"));
    CHECK(svg.find(">12s</text>") != std::string::npos);
    CHECK(svg.find(">0s</text>") != std::string::npos);
    CHECK(svg.find("ms</text>") == std::string::npos);
    // No attempts listed: the actor's own start and end make its bar.
    CHECK(count(svg, "<title>attempt ") == 1);
}

TEST_CASE("plot: every piece of report text is escaped, and nothing XML refuses gets through") {
    const std::string hostile = "<script>alert(1)</script> & \\\"q\\\" 'a' \\u0001\\u001b[31m "
                                "\\n\\ufffe\\uffff \xc3\xa9";
    const std::string text = fmt::format(
        R"({{"result":"{0}","backend":"{0}","cause":{{"path":"{0}","outcome":"failed","error":"{0}"}},
            "actors":[{{"path":"r/x{0}","outcome":"failed","status":"{0}","cancel_reason":"{0}",
                        "status_text":"{0}","error":"{0}","started_ms":1,"ended_ms":2,
                        "stop":{{"sent":["{0}"],"sent_ms":[1.5]}}}}]}})",
        hostile);
    const std::string svg = render_svg(parsed(text));
    CHECK(svg.find("<script") == std::string::npos);
    CHECK(svg.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;") !=
          std::string::npos);
    // XML 1.0 allows no control character but tab, newline and CR, not even as a reference,
    // and neither U+FFFE nor U+FFFF.
    for (const char c : svg) {
        const auto b = static_cast<unsigned char>(c);
        CHECK((b >= 0x20 || b == '\n'));
    }
    CHECK(svg.find("\xef\xbf\xbe") == std::string::npos);
    CHECK(svg.find("\xef\xbf\xbf") == std::string::npos);
    CHECK(svg.find("\xc3\xa9") != std::string::npos); // é is kept
    // Markup only where the plot writes it.
    CHECK(count(svg, "<text") == count(svg, "</text>"));
    CHECK(svg.find("href") == std::string::npos);
}

TEST_CASE("plot: edge cases draw without trouble") {
    SUBCASE("no actors") {
        const std::string svg = render_svg(parsed(R"({"result":"completed","actors":[]})"));
        CHECK(svg.find("no actors in this report") != std::string::npos);
        CHECK(svg.find("forkspawn run: completed") != std::string::npos);
        CHECK(svg.ends_with("</svg>\n"));
    }
    SUBCASE("a run of 0 ms, an actor never started") {
        const std::string svg = render_svg(parsed(
            R"({"result":"failed","duration_ms":0,"actors":[{"path":"r/a","outcome":"not_started","started_ms":null,"ended_ms":null,"attempts":[]}]})"));
        CHECK(count(svg, "<title>attempt ") == 0);
        CHECK(svg.find(">1ms</text>") != std::string::npos);
        CHECK(svg.find("nan") == std::string::npos);
        CHECK(svg.find("inf") == std::string::npos);
    }
    SUBCASE("times out of range, an attempt that never ended") {
        const std::string svg = render_svg(parsed(
            R"({"result":"failed","duration_ms":1e300,"actors":[{"path":"r/a","outcome":"killed","started_ms":-5,"ended_ms":1e308,"attempts":[{"started_ms":-1,"ended_ms":null}],"stop":{"sent":["SIGKILL"],"sent_ms":[1e200, 7]}}]})"));
        CHECK(svg.find("nan") == std::string::npos);
        CHECK(svg.find("inf") == std::string::npos);
        CHECK(svg.find("attempt 1: not_started, 0.0ms to the end") != std::string::npos);
    }
    SUBCASE("ten thousand actors: the SVG grows linearly") {
        std::string text = R"({"result":"completed","actors":[)";
        for (int i = 0; i < 10000; ++i)
            text += fmt::format(
                R"({}{{"path":"root/n{}/a{}","kind":"cmd","outcome":"completed","started_ms":{},"ended_ms":{},"attempts":[{{"status":"rc=0","outcome":"completed","started_ms":{},"ended_ms":{}}}]}})",
                i == 0 ? "" : ",", i / 100, i, i, i + 50, i, i + 50);
        text += "]}";
        const auto start = std::chrono::steady_clock::now();
        const PlotRun run = parsed(text);
        const std::string svg = render_svg(run);
        const auto took = std::chrono::steady_clock::now() - start;
        CHECK(row_paths(svg).size() == 10000);
        CHECK(svg.size() < 10000 * 1200);
        CHECK(took < std::chrono::seconds(20)); // a generous bound: a quadratic step takes minutes
    }
    SUBCASE("a tree deeper than the indentation") {
        std::string text = R"({"result":"completed","actors":[)";
        std::string path = "root";
        for (int i = 0; i < 200; ++i) {
            path += "/n";
            text += fmt::format(R"({}{{"path":"{}","kind":"nursery","outcome":"completed"}})",
                                i == 0 ? "" : ",", path);
        }
        text += "]}";
        const std::string svg = render_svg(parsed(text));
        CHECK(row_paths(svg).size() == 200);
        const auto xs = label_xs(svg);
        CHECK(*std::max_element(xs.begin(), xs.end()) < 300);
    }
}

TEST_CASE("plot: what is wrong with a report, and where") {
    CHECK(error_of("").message.find("empty") != std::string::npos);
    CHECK(error_of(" \n\n").message.find("empty") != std::string::npos);

    PlotError e = error_of("{\"result\": \"failed\",\n  \"actors\": [x]}");
    CHECK(e.line == 2);
    CHECK(e.column == 14);
    CHECK(e.message.starts_with("invalid JSON: syntax error"));
    CHECK(format_plot_error("run.json", e).starts_with("run.json:2:14: invalid JSON: "));

    e = error_of(R"({"actors": [{"name": "a", "cmd": ["true"]}], "result": "x"})");
    CHECK(e.pointer == "/actors/0");
    CHECK(e.message.find("is this a spec") != std::string::npos);
    CHECK(format_plot_error("spec.json", e).starts_with("spec.json: /actors/0: an actor entry"));

    e = error_of(R"({"actors": [{"name": "a", "cmd": ["true"]}]})");
    CHECK(e.message.starts_with("not a forkspawn report"));
    CHECK(format_plot_error("x.json", e).starts_with("x.json: not a forkspawn report"));
    CHECK(error_of("[1, 2]").message.starts_with("not a forkspawn report"));

    e = error_of(R"({"result":"x","actors":[{"path":"r/a"},{"path":"r/a"}]})");
    CHECK(e.pointer == "/actors/1");
    CHECK(e.message == "r/a is listed twice; a report lists each actor once");

    // jsonl: the line of the bad event.
    const std::string events = jsonl_spawned("r/a", 1, 1, 1.0);
    e = error_of(events + "{\"event\":\"reaped\",\"path\":\n");
    CHECK(e.line == 2);
    CHECK(e.message.starts_with("invalid JSON"));
    e = error_of(events + "\n[1]\n");
    CHECK(e.line == 3);
    CHECK(e.message.starts_with("not a jsonl event"));
    CHECK(format_plot_error("run.jsonl", e).starts_with("run.jsonl:3:"));
    e = error_of(events + R"({"event":"reaped","outcome":"failed"})");
    CHECK(e.line == 2);
    CHECK(e.message.starts_with("an actor entry"));
    e = error_of(events + R"({"event":"summary"})"
                          "\n"
                          R"({"event":"summary"})");
    CHECK(e.line == 3);
    CHECK(e.message.starts_with("a second summary"));

    // Input that would cost far more to parse than its size.
    e = error_of(std::string(100, '[') + std::string(100, ']'));
    CHECK(e.line == 1);
    CHECK(e.column == 33);
    CHECK(e.message.find("nested deeper than 32") != std::string::npos);
    CHECK(error_of(R"({"result":"x","duration_ms":1e999,"actors":[]})").message.find("overflow") !=
          std::string::npos);
    // Quoted input is cut short in a message: never megabytes of one token.
    e = error_of("\"" + std::string(100000, 'a'));
    CHECK(e.message.size() < 400);
    std::string big(k_plot_max_bytes + 1, ' ');
    CHECK(error_of(big).message.starts_with("larger than 64 MiB"));
}
