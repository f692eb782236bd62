// SPDX-License-Identifier: MIT
// `forkspawn plot` on the reports of a real run, on every backend: a nested
// tree with a restarted actor and an escalated stop, reported as json and as
// jsonl, drawn, and the SVG read back by python3's XML parser
// (tests/plot/check_svg.py). Nothing of the runs is left behind.
#include "harness.hpp"

#include <cstdlib>
#include <doctest/doctest.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

using namespace forkspawn::test;
using nlohmann::json;

namespace {

// root/svc (one_for_one) runs flaky, which fails twice (a restart after
// 50ms each time) and then completes, and the daemon stubborn, which ignores
// SIGTERM: when the work is done, its stop sequence escalates to SIGKILL.
// flaky waits until stubborn is ready, which it is once its trap is set.
json nested_spec(const std::string& counter) {
    const json flaky = {
        {"name", "flaky"},
        {"restart", "on_failure"},
        {"backoff", "50ms"},
        {"after", {"stubborn"}},
        {"cmd",
         {"sh", "-c",
          "n=$(cat '" + counter + "' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '" + counter +
              "'; [ $n -ge 3 ]"}}};
    const json stubborn = {
        {"name", "stubborn"},
        {"daemon", true},
        {"stop", {"SIGTERM", "200ms", "SIGKILL"}},
        {"ready", {{"output", "^trapped$"}}},
        {"cmd", {"sh", "-c", "trap '' TERM; echo trapped; while :; do sleep 0.05; done"}}};
    return {{"actors",
             {{{"name", "svc"}, {"strategy", "one_for_one"}, {"actors", {stubborn, flaky}}}}}};
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    REQUIRE(out.good());
}

// The exit status of check_svg.py on `svg` and `report`; what it printed goes to `output`.
int check_svg(const TempDir& dir, const std::string& svg, const std::string& report,
              std::string& output) {
    const std::string script = std::string(FORKSPAWN_EXAMPLES_DIR) + "/../tests/plot/check_svg.py";
    const std::string log = dir / "check.log";
    const int status = std::system(
        ("python3 '" + script + "' '" + svg + "' '" + report + "' > '" + log + "' 2>&1").c_str());
    output = slurp_file(log);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace

TEST_CASE("plot: a nested run with a restart and an escalated stop, from json and from jsonl") {
    TempDir dir("plot");
    for (const std::string format : {"json", "jsonl"}) {
        INFO("--report=", format);
        const auto r = run({.args = {"run", "--report=" + format, "-"},
                            .stdin_data = nested_spec(dir / ("n-" + format)).dump()});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        check_nothing_left(r.tag);

        // The run is what the plot must show: a restart, and SIGKILL after SIGTERM.
        std::map<std::string, json> actors;
        if (format == "json") {
            actors = by_path(parse_report(r.out));
        } else {
            for (const auto& line : lines(r.out))
                if (const json j = json::parse(line); j["event"] == "reaped") actors[j["path"]] = j;
        }
        const json flaky = actors["root/svc/flaky"];
        const json stubborn = actors["root/svc/stubborn"];
        REQUIRE(flaky.is_object());
        REQUIRE(stubborn.is_object());
        CHECK(flaky["restarts"] == 2);
        CHECK(stubborn["outcome"] == "killed");
        CHECK(stubborn["stop"]["sent"] == json({"SIGTERM", "SIGKILL"}));

        const std::string report = dir / ("report." + format);
        write_file(report, r.out);
        const auto plot = run({.args = {"plot", report}});
        INFO(plot.err);
        REQUIRE(plot.exit_code == 0);
        CHECK(plot.err.empty());
        // The same from standard input.
        const auto piped = run({.args = {"plot", "-"}, .stdin_data = r.out});
        CHECK(piped.exit_code == 0);
        CHECK(piped.out == plot.out);

        const std::string svg = dir / (format + ".svg");
        write_file(svg, plot.out);
        std::string output;
        CHECK(check_svg(dir, svg, report, output) == 0);
        INFO(output);
        CHECK(output.empty());
        CHECK(plot.out.find(">SIGKILL</text>") != std::string::npos);
        CHECK(plot.out.find("<title>restart after ") != std::string::npos);
        CHECK(plot.out.find(">flaky</text>") != std::string::npos);
        CHECK(plot.out.find(">svc/</text>") != std::string::npos);
    }
}

TEST_CASE("plot: a missing, unreadable or malformed report is an error, exit 2") {
    TempDir dir("plot");
    const auto missing = run({.args = {"plot", dir / "none.json"}});
    CHECK(missing.exit_code == 2);
    CHECK(missing.out.empty());
    CHECK(missing.err == "forkspawn: error: cannot open report " + dir / "none.json" +
                             ": No such file or directory (ENOENT)\n");

    const auto directory = run({.args = {"plot", dir / ""}});
    CHECK(directory.exit_code == 2);
    CHECK(directory.err.find("Is a directory (EISDIR)") != std::string::npos);

    write_file(dir / "bad.json", "{\"result\": \"failed\",\n \"actors\": [}\n");
    const auto bad = run({.args = {"plot", dir / "bad.json"}});
    CHECK(bad.exit_code == 2);
    CHECK(bad.out.empty());
    CHECK(bad.err.starts_with("forkspawn: error: plot: " + dir / "bad.json" +
                              ":2:13: invalid JSON: "));

    const auto spec = run({.args = {"plot", "-"}, .stdin_data = R"({"actors": []})"});
    CHECK(spec.exit_code == 2);
    CHECK(spec.err.starts_with("forkspawn: error: plot: <stdin>: not a forkspawn report"));

    const auto stream =
        run({.args = {"plot", "-"},
             .stdin_data = "{\"event\":\"spawned\",\"path\":\"root/a\"}\n{\"event\":\n"});
    CHECK(stream.exit_code == 2);
    CHECK(stream.err.starts_with("forkspawn: error: plot: <stdin>:2:"));

    const auto usage = run({.args = {"plot"}});
    CHECK(usage.exit_code == 2);
    CHECK(usage.err.find("REPORT is required") != std::string::npos);
}
