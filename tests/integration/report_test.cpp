// SPDX-License-Identifier: MIT
// The report answers "what failed and why" in one place: the cause, the
// counts of command actors, the failed actors' last output, a table that
// fits the terminal; and SIGQUIT still ends with a report.
#include "harness.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <doctest/doctest.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>

using namespace forkspawn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

// Cases with trees two levels deep are in the test suite "deep_tree": the
// TSan stage of scripts/test leaves them out, as it does nested_test.cpp.
namespace {

json sh(const std::string& name, const std::string& script) {
    return {{"name", name}, {"cmd", {"sh", "-c", script}}};
}

RunResult run_spec(const json& spec, std::vector<std::string> args = {"--report=json"},
                   std::vector<std::pair<std::string, std::string>> env = {}) {
    args.insert(args.begin(), "run");
    args.push_back("-");
    return run({.args = args, .stdin_data = spec.dump(), .env = std::move(env)});
}

// A pipeline whose extract step fails three levels down, after printing.
json failing_etl(const json& extract_extra = json::object()) {
    json extract = sh("extract", "echo reading input.csv; echo 'error: input.csv: no such "
                                 "file' >&2; exit 3");
    extract.update(extract_extra);
    return {{"actors",
             {{{"name", "etl"},
               {"actors",
                {{{"name", "inner"},
                  {"actors", {extract, sh("load", "echo loading; exec sleep 30")}}}}}},
              sh("web", "exec sleep 30")}}};
}

} // namespace

TEST_CASE("report: cause and counts name the first failure once, however deep" *
          doctest::test_suite("deep_tree")) {
    const auto r = run_spec(failing_etl());
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json report = parse_report(r.out);
    REQUIRE(report["cause"].is_object());
    CHECK(report["cause"]["path"] == "root/etl/inner/extract");
    CHECK(report["cause"]["outcome"] == "failed");
    CHECK(report["cause"]["status"] == "rc=3");
    CHECK(report["cause"]["cancel_reason"].is_null());
    // Command actors only: the two nurseries above extract fail too, but
    // the failure counts once.
    CHECK(report["counts"]["failed"] == 1);
    CHECK(report["counts"]["completed"] == 0);
    // The others were stopped, or never started if the failure came first.
    CHECK(report["counts"]["cancelled"].get<int>() + report["counts"]["killed"].get<int>() +
              report["counts"]["not_started"].get<int>() ==
          2);
    int total = 0;
    for (const auto& [outcome, n] : report["counts"].items())
        total += n.get<int>();
    CHECK(total == 3);
    // Its last lines, stdout and stderr in the order written.
    const json extract = entry(report, "root/etl/inner/extract");
    REQUIRE(extract.contains("output_tail"));
    CHECK(extract["output_tail"] == json({"reading input.csv", "error: input.csv: no such file"}));
    // Cancelled siblings have none; a killed one would.
    CHECK_FALSE(entry(report, "root/web").contains("output_tail"));
    check_nothing_left(r.tag);
}

TEST_CASE("report: the table names the cause and shows its last output" *
          doctest::test_suite("deep_tree")) {
    const auto r = run_spec(failing_etl(), {"--report=table"});
    INFO(r.out);
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("result: failed (exit 1) in ") != std::string::npos);
    CHECK(r.out.find(", 3 commands: 1 failed") != std::string::npos);
    CHECK(r.out.find("\ncause: root/etl/inner/extract failed (rc=3)\n"
                     "last output of root/etl/inner/extract:\n"
                     "  reading input.csv\n"
                     "  error: input.csv: no such file\n") != std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("report: output_tail is kept for null and file output, at most 10 lines and 4 KiB") {
    TempDir dir;
    const std::string log = dir / "extract.log";
    const std::string many = "i=0; while [ $i -lt 100 ]; do echo line $i; i=$((i+1)); done; exit 4";
    for (const json& output : {json("null"), json({{"file", log}}), json("prefix")}) {
        CAPTURE(output.dump());
        const auto r = run_spec({{"actors", {sh("a", many)}}, {"output", output}});
        CHECK(r.exit_code == 1);
        const json a = entry(parse_report(r.out), "root/a");
        REQUIRE(a.contains("output_tail"));
        json expected = json::array();
        for (int i = 90; i < 100; ++i)
            expected.push_back("line " + std::to_string(i));
        CHECK(a["output_tail"] == expected);
        check_nothing_left(r.tag);
    }
    // One long line: what is kept is at most 4 KiB, and no line cut at its start.
    const auto r =
        run_spec({{"actors",
                   {sh("a", "echo first; head -c 10000 /dev/zero | tr '\\0' x; echo; echo last; "
                            "exit 5")}}});
    const json a = entry(parse_report(r.out), "root/a");
    REQUIRE(a.contains("output_tail"));
    CHECK(a["output_tail"] == json({"last"}));
    // inherit: forkspawn never sees it.
    const auto inherit =
        run_spec({{"actors", {sh("a", "echo gone; exit 6")}}, {"output", "inherit"}});
    const json report = parse_report(inherit.out.substr(inherit.out.find('{')));
    CHECK_FALSE(entry(report, "root/a").contains("output_tail"));
    check_nothing_left(r.tag);
    check_nothing_left(inherit.tag);
}

TEST_CASE("report: a timed-out actor is the cause, and one jq filter finds it") {
    json slow = sh("slow", "echo working; exec sleep 30");
    slow["timeout"] = "300ms";
    const auto r = run_spec({{"strategy", "one_for_one"}, {"actors", {slow, sh("ok", "true")}}});
    CHECK(r.exit_code == 1);
    const json report = parse_report(r.out);
    CHECK(report["cause"]["path"] == "root/slow");
    CHECK(report["cause"]["cancel_reason"] == "timeout");
    // .actors[] | select(.cancel_reason=="timeout")
    int timed_out = 0;
    for (const auto& a : report["actors"])
        if (a["cancel_reason"] == "timeout") ++timed_out;
    CHECK(timed_out == 1);
    CHECK(entry(report, "root/slow")["output_tail"] == json({"working"}));
    check_nothing_left(r.tag);
}

TEST_CASE("report: --timeout is the cause when it ends the tree") {
    const auto r =
        run_spec({{"actors", {sh("a", "exec sleep 30")}}}, {"--report=json", "--timeout=200ms"});
    CHECK(r.exit_code == 124);
    const json report = parse_report(r.out);
    CHECK(report["cause"]["path"] == "root");
    CHECK(report["cause"]["cancel_reason"] == "tree_timeout");
    CHECK(report["counts"]["cancelled"] == 1);
    check_nothing_left(r.tag);
}

TEST_CASE("report: a successful run has no cause, and the jsonl summary carries both fields") {
    const auto r = run_spec({{"actors", {sh("a", "true"), sh("b", "true")}}}, {"--report=jsonl"});
    CHECK(r.exit_code == 0);
    const auto all = lines(r.out);
    REQUIRE_FALSE(all.empty());
    const json summary = json::parse(all.back());
    CHECK(summary["event"] == "summary");
    CHECK(summary["cause"].is_null());
    CHECK(summary["counts"]["completed"] == 2);
    check_nothing_left(r.tag);
}

TEST_CASE("report: the table fits $COLUMNS: long paths shortened, NOTE wrapped" *
          doctest::test_suite("deep_tree")) {
    json deep = sh("a-rather-long-actor-name-that-will-not-fit",
                   "echo; exec /nonexistent/program/with/a/long/path");
    deep["cmd"] = {"/nonexistent/program/with/a/very/long/path/that/makes/the/note/long"};
    const json spec = {
        {"strategy", "one_for_one"},
        {"actors",
         {{{"name", "stage-one-of-the-pipeline"},
           {"actors", {{{"name", "partition-0001"}, {"actors", {deep, sh("ok", "true")}}}}}}}}};
    for (const int width : {80, 120}) {
        CAPTURE(width);
        const auto r = run_spec(spec, {"--report=table"}, {{"COLUMNS", std::to_string(width)}});
        CHECK(r.exit_code == 1);
        for (const auto& line : lines(r.out)) {
            if (line.starts_with("result:") || line.starts_with("cause:")) break;
            CAPTURE(line);
            std::size_t columns = 0;
            for (const char c : line)
                columns += (static_cast<unsigned char>(c) & 0xc0U) != 0x80U;
            CHECK(columns <= static_cast<std::size_t>(width));
        }
        CHECK(r.out.find("\u2026") != std::string::npos);
        check_nothing_left(r.tag);
    }
}

TEST_CASE("report: SIGQUIT kills the tree at once and still prints the report") {
    json stubborn = sh("stubborn", "trap '' TERM; echo ready; while :; do sleep 1; done");
    const json spec = {{"stop", "SIGTERM, 60s, SIGKILL"}, {"actors", {stubborn}}};
    Process p({.args = {"run", "--report=json", "-"}, .stdin_data = spec.dump()});
    REQUIRE(p.wait_for_stderr("root/stubborn | ready", 20s));
    const auto before = std::chrono::steady_clock::now();
    p.signal(SIGQUIT);
    const auto r = p.wait();
    // Well inside the 60 s grace: SIGKILL at once.
    CHECK(std::chrono::steady_clock::now() - before < 30s);
    INFO(r.err);
    CHECK(r.exit_code == 128 + SIGQUIT);
    const json a = entry(parse_report(r.out), "root/stubborn");
    CHECK(a["outcome"] == "killed");
    CHECK(a["cancel_reason"] == "signal:SIGQUIT");
    check_nothing_left(r.tag);
}

TEST_CASE("report: on a terminal, actors' output prefixes are padded to one column") {
    // stderr is a pseudo-terminal here (python3's pty.spawn); through a
    // pipe the prefix stays `path | line`, which every other test reads.
    TempDir dir;
    const std::string spec = dir / "spec.json";
    std::ofstream(spec) << json{{"actors",
                                 {sh("a", "echo one"),
                                  {{"name", "nested"}, {"actors", {sh("longer", "echo two")}}}}}}
                               .dump();
    const std::string tag = "pty-prefix-" + std::to_string(::getpid());
    const std::string command = "FORKSPAWN_TEST_TAG=" + tag + " NO_COLOR=1 python3 -c " +
                                "'import pty, sys; pty.spawn(sys.argv[1:])' " + binary() +
                                " run --report=none " + spec + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string out;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;)
        out.append(buf, n);
    CHECK(::pclose(pipe) == 0);
    INFO(out);
    // "root/nested/longer" is the longest path: 18 columns.
    CHECK(out.find("root/a             | one") != std::string::npos);
    CHECK(out.find("root/nested/longer | two") != std::string::npos);
    check_nothing_left(tag);
}
