// SPDX-License-Identifier: MIT
// Restarts and strategies (DESIGN "Restarts", "Strategies"), end to end on
// every backend: backoff measured from the report's own timestamps (never
// early, doubling), intensity reached exactly at N+1, batches that keep
// going, rest_for_one's scope, a cancel during a backoff wait, the jsonl
// events, nested and restarted nurseries. Nothing is left behind after each.
#include "harness.hpp"

#include <csignal>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace forkspawn::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// An actor that counts its runs in `counter` and fails until run `succeed_at`.
json flaky(const std::string& name, const std::string& counter, int succeed_at) {
    return {{"name", name},
            {"cmd",
             {"sh", "-c",
              "n=$(cat '" + counter + "' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '" +
                  counter + "'; [ $n -ge " + std::to_string(succeed_at) + " ]"}}};
}

RunResult run_json(const json& spec, std::vector<std::string> args = {"--report=json"}) {
    args.insert(args.begin(), "run");
    args.push_back("-");
    return run({.args = args, .stdin_data = spec.dump()});
}

double gap(const json& attempts, std::size_t k) { // start of attempt k after the end of k-1
    return attempts[k]["started_ms"].get<double>() - attempts[k - 1]["ended_ms"].get<double>();
}

} // namespace

TEST_CASE("restarts: on_failure runs a failing actor again, backoff doubling and never early") {
    TempDir dir("restart");
    json a = flaky("a", dir / "n", 4);
    a["restart"] = "on_failure";
    a["backoff"] = {{"initial", "100ms"}, {"max", "10s"}};
    const auto r = run_json({{"strategy", "one_for_one"}, {"actors", {a}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json e = entry(parse_report(r.out), "root/a");
    CHECK(e["outcome"] == "completed");
    CHECK(e["restarts"] == 3);
    const json& t = e["attempts"];
    REQUIRE(t.size() == 4);
    for (std::size_t k = 0; k < 3; ++k) {
        CHECK(t[k]["outcome"] == "failed");
        CHECK(t[k]["status"] == "rc=1");
        CHECK(t[k]["pid"].get<long>() > 0);
    }
    CHECK(t[3]["outcome"] == "completed");
    CHECK(t[3]["pid"] == e["pid"]);
    // 100ms, 200ms, 400ms: never early (the report rounds to 0.1 ms), and
    // under a generous bound on a loaded machine.
    CHECK(gap(t, 1) >= 99.9);
    CHECK(gap(t, 2) >= 199.9);
    CHECK(gap(t, 3) >= 399.9);
    CHECK(gap(t, 3) < 10'000);
    CHECK(r.err.find("root/a failed (rc=1); restart 1 in 100ms") != std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("restarts: never and on_failure leave a completed actor alone, always runs it again") {
    TempDir dir("restart");
    json once = {{"name", "once"}, {"cmd", {"true"}}, {"restart", "on_failure"}};
    // A daemon kept alive: it exits 0 at once, and always restarts it until
    // the work (which waits for its third run) is done.
    json daemon = {{"name", "d"},
                   {"daemon", true},
                   {"restart", "always"},
                   {"backoff", "10ms"},
                   {"cmd", {"sh", "-c", "echo x >> '" + dir / "runs" + "'"}}};
    json work = {{"name", "work"},
                 {"cmd",
                  {"sh", "-c",
                   "while [ $(wc -l < '" + dir / "runs" +
                       "' 2>/dev/null || echo 0) -lt 3 ]; do "
                       "sleep 0.02; done"}}};
    const auto r = run_json({{"strategy", "one_for_one"},
                             {"intensity", "unlimited"},
                             {"actors", {once, daemon, work}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto all = by_path(parse_report(r.out));
    CHECK(all.at("root/once")["restarts"] == 0);
    CHECK(all.at("root/once")["attempts"].size() == 1);
    CHECK(all.at("root/work")["outcome"] == "completed");
    CHECK(all.at("root/d")["restarts"].get<int>() >= 2);
    // Cancelled once the work was done (running, or waiting for a restart),
    // or its attempt had just ended on its own (exit 0): then nothing was
    // cancelled, and it is not restarted any more.
    const json& d = all.at("root/d");
    if (d["outcome"] == "completed")
        CHECK(d["cancel_reason"].is_null());
    else
        CHECK(d["cancel_reason"] == "nursery_done");
    CHECK((d["outcome"] == "cancelled" || d["outcome"] == "completed"));
    check_nothing_left(r.tag);
}

TEST_CASE("restarts: intensity N/DUR gives up exactly at restart N+1 and the nursery fails") {
    json bad = {{"name", "bad"}, {"cmd", {"false"}}, {"restart", "on_failure"}, {"backoff", "0s"}};
    json other = {{"name", "other"}, {"cmd", {"sleep", "100"}}};
    const auto r =
        run_json({{"strategy", "one_for_one"}, {"intensity", "3/1m"}, {"actors", {bad, other}}});
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "failed");
    const auto all = by_path(rep);
    CHECK(all.at("root/bad")["outcome"] == "failed");
    CHECK(all.at("root/bad")["restarts"] == 3);
    CHECK(all.at("root/bad")["attempts"].size() == 4);
    CHECK(all.at("root/other")["outcome"] == "cancelled");
    CHECK(all.at("root/other")["cancel_reason"] == "restart_intensity");
    CHECK(r.err.find("more than 3 restarts in 1m; giving up") != std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("restarts: restarts spread out past the period never reach the intensity") {
    TempDir dir("restart");
    json a = flaky("a", dir / "n", 4);
    a["restart"] = "on_failure";
    a["backoff"] = "300ms"; // fixed: at most one restart in any 250ms
    const auto r =
        run_json({{"strategy", "one_for_one"}, {"intensity", "1/250ms"}, {"actors", {a}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json e = entry(parse_report(r.out), "root/a");
    CHECK(e["outcome"] == "completed");
    CHECK(e["restarts"] == 3);
    check_nothing_left(r.tag);
}

TEST_CASE("restarts: a cancel during the backoff wait ends it at once, nothing spawned after") {
    json a = {{"name", "a"}, {"cmd", {"false"}}, {"restart", "on_failure"}, {"backoff", "1h"}};
    Process p({.args = {"run", "--report=json", "-"},
               .stdin_data = json{{"strategy", "one_for_one"}, {"actors", {a}}}.dump()});
    REQUIRE(p.wait_for_stderr("restart 1 in 1h", 20s));
    // The live tree shows it waiting, and when it starts again.
    p.signal(SIGUSR1);
    REQUIRE(p.wait_for_stderr("  restarting  restart 1 in ", 20s));
    const auto sent = std::chrono::steady_clock::now();
    p.signal(SIGTERM);
    const auto r = p.wait();
    INFO(r.err);
    CHECK(std::chrono::steady_clock::now() - sent < 10s);
    CHECK(r.exit_code == 143);
    const json e = entry(parse_report(r.out), "root/a");
    CHECK(e["outcome"] == "cancelled");
    CHECK(e["cancel_reason"] == "signal:SIGTERM");
    CHECK(e["restarts"] == 1);
    CHECK(e["attempts"].size() == 1);
    CHECK(e["stop"].is_null());                             // nothing was running to be stopped
    CHECK(r.err.find("spawned") == r.err.rfind("spawned")); // one spawn only (-v not given)
    check_nothing_left(r.tag);
}

TEST_CASE("one_for_one: a batch of 200 with 3 failures ends 3 failed, 197 completed, exit 1") {
    std::vector<json> actors;
    for (int i = 0; i < 200; ++i)
        actors.push_back({{"name", "job" + std::to_string(i)},
                          {"cmd", {i == 17 || i == 101 || i == 180 ? "false" : "true"}}});
    const auto r = run_json({{"strategy", "one_for_one"}, {"actors", actors}});
    INFO(r.err.substr(0, 2000));
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "failed");
    int completed = 0, failed = 0, other = 0;
    for (const auto& e : rep["actors"]) {
        if (e["outcome"] == "completed")
            ++completed;
        else if (e["outcome"] == "failed")
            ++failed;
        else
            ++other;
    }
    CHECK(completed == 197);
    CHECK(failed == 3);
    CHECK(other == 0);
    CHECK(entry(rep, "root/job101")["outcome"] == "failed");
    check_nothing_left(r.tag);
}

TEST_CASE("rest_for_one: a failure stops the siblings after it, not those before") {
    TempDir dir("restart");
    const json before = {
        {"name", "before"},
        {"cmd", {"sh", "-c", "while [ ! -e '" + dir / "b-ended" + "' ]; do sleep 0.02; done"}}};
    const json culprit = {{"name", "b"},
                          {"cmd", {"sh", "-c", "touch '" + dir / "b-ended" + "'; exit 3"}}};
    const json after = {{"name", "after"}, {"cmd", {"sleep", "100"}}};
    const auto r = run_json({{"strategy", "rest_for_one"}, {"actors", {before, culprit, after}}});
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const auto all = by_path(parse_report(r.out));
    CHECK(all.at("root/before")["outcome"] == "completed"); // went on, ended on its own
    CHECK(all.at("root/b")["outcome"] == "failed");
    CHECK(all.at("root/after")["outcome"] == "cancelled");
    CHECK(all.at("root/after")["cancel_reason"] == "sibling_failed");
    check_nothing_left(r.tag);
}

TEST_CASE("restarts: jsonl streams spawned, exited and restarting for each attempt") {
    TempDir dir("restart");
    json a = flaky("a", dir / "n", 3);
    a["restart"] = "on_failure";
    a["backoff"] = "20ms";
    const auto r = run_json({{"strategy", "one_for_one"}, {"actors", {a}}}, {"--report=jsonl"});
    INFO(r.out);
    CHECK(r.exit_code == 0);
    std::vector<std::string> seen;
    for (const auto& line : lines(r.out)) {
        const json j = json::parse(line);
        std::string what = j["event"].get<std::string>();
        if (j.contains("attempt")) what += " " + std::to_string(j["attempt"].get<int>());
        if (what.starts_with("restarting")) CHECK(j["delay_ms"].get<double>() == 20.0);
        seen.push_back(what);
    }
    const std::vector<std::string> expected = {"spawned 1", "exited 1", "restarting 1",
                                               "spawned 2", "exited 2", "restarting 2",
                                               "spawned 3", "reaped",   "summary"};
    CHECK(seen == expected);
    check_nothing_left(r.tag);
}

TEST_CASE("restarts: inside a nested nursery, and a restarted nursery is a fresh sub-supervisor") {
    TempDir dir("restart");
    json inner = flaky("x", dir / "x", 2);
    inner["restart"] = "on_failure";
    inner["backoff"] = "0s";
    // The nursery itself fails on its first run (y fails once, not restarted
    // inside) and is restarted by the root.
    json once = flaky("y", dir / "y", 2);
    json n = {{"name", "n"},
              {"strategy", "one_for_one"},
              {"restart", "on_failure"},
              {"backoff", "0s"},
              {"actors", {inner, once}}};
    const auto r = run_json({{"strategy", "one_for_one"}, {"actors", {n}}}, {"--report=jsonl"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    std::map<std::string, json> reaped;
    std::vector<std::string> restarting;
    for (const auto& line : lines(r.out)) {
        const json j = json::parse(line);
        if (j["event"] == "reaped") reaped[j["path"]] = j;
        if (j["event"] == "restarting") restarting.push_back(j["path"]);
    }
    CHECK(restarting == std::vector<std::string>{"root/n/x", "root/n"});
    CHECK(reaped.at("root/n")["outcome"] == "completed");
    CHECK(reaped.at("root/n")["restarts"] == 1);
    CHECK(reaped.at("root/n")["attempts"][0]["status"] == "rc=1");
    // Its second sub-supervisor ran x and y again: x's count went on.
    CHECK(reaped.at("root/n/y")["outcome"] == "completed");
    CHECK(reaped.at("root/n/x")["outcome"] == "completed");
    check_nothing_left(r.tag);
}

namespace {

// An actor that logs "+name" when it starts and "-name" as it ends, in one
// shared file (appends of a few bytes are atomic): the file's order is the
// order things happened.
json logged(const std::string& name, const std::string& log, const std::string& body = "") {
    return {{"name", name},
            {"cmd",
             {"sh", "-c",
              "echo +" + name + " >> '" + log + "'; " + body + " sleep 0.05; echo -" + name +
                  " >> '" + log + "'"}}};
}

// An actor restarted on failure that fails on its first run, once two other
// actors have logged their start (see logged), and completes on its second.
json fails_once_when_two_ran(const std::string& name, const TempDir& dir) {
    const std::string second = dir / "second", log = dir / "log";
    return {{"name", name},
            {"restart", "on_failure"},
            {"backoff", "0s"},
            {"cmd",
             {"sh", "-c",
              "if [ -e '" + second + "' ]; then exit 0; fi; while [ $(grep -c '^+' '" + log +
                  "') -lt 2 ]; do sleep 0.02; done; touch '" + second + "'; exit 1"}}};
}

// The most entries of `log` running at once.
int most_at_once(const std::string& log) {
    int running = 0, most = 0;
    for (const auto& line : lines(slurp_file(log))) {
        running += line[0] == '+' ? 1 : -1;
        most = std::max(most, running);
    }
    return most;
}

} // namespace

TEST_CASE("max_running: never more children running than the limit, the rest in spec order") {
    TempDir dir("restart");
    std::vector<json> actors;
    for (int i = 0; i < 12; ++i)
        actors.push_back(logged("j" + std::to_string(i), dir / "log"));
    const auto r = run_json({{"strategy", "one_for_one"}, {"max_running", 3}, {"actors", actors}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(most_at_once(dir / "log") <= 3);
    // Started in spec order (started_ms is read before each fork).
    double last = 0;
    const json rep = parse_report(r.out); // named: a temporary would end before the loop
    for (const auto& e : rep["actors"]) {
        CAPTURE(e["path"]);
        CHECK(e["outcome"] == "completed");
        CHECK(e["started_ms"].get<double>() >= last);
        last = e["started_ms"].get<double>();
    }
    check_nothing_left(r.tag);
}

TEST_CASE("max_running: -j N is the root's limit, a restart keeps its slot ahead of new children") {
    TempDir dir("restart");
    // a fails on its first run and is restarted: with one slot, b waits
    // until a has run again and ended.
    json a =
        logged("a", dir / "log",
               "n=$(cat '" + dir / "n" + "' 2>/dev/null || echo 0); echo $((n+1)) > '" + dir / "n" +
                   "'; if [ $n -eq 0 ]; then echo -a >> '" + dir / "log" + "'; exit 1; fi;");
    a["restart"] = "on_failure";
    a["backoff"] = "50ms";
    const json b = logged("b", dir / "log");
    const auto r =
        run_json({{"strategy", "one_for_one"}, {"actors", {a, b}}}, {"--report=json", "-j", "1"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(lines(slurp_file(dir / "log")) ==
          std::vector<std::string>{"+a", "-a", "+a", "-a", "+b", "-b"});
    CHECK(entry(parse_report(r.out), "root/a")["restarts"] == 1);
    check_nothing_left(r.tag);
}

TEST_CASE("one_for_all: a restart stops the running siblings and starts the group again in order") {
    TempDir dir("restart");
    // c fails on its first run; a and b run until stopped the first time.
    json a = logged("a", dir / "log", "[ -e '" + dir / "second" + "' ] || sleep 100;");
    json b = logged("b", dir / "log", "[ -e '" + dir / "second" + "' ] || sleep 100;");
    json c = fails_once_when_two_ran("c", dir);
    const auto r = run_json({{"actors", {a, b, c}}}); // one_for_all, the default
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto all = by_path(parse_report(r.out));
    for (const char* p : {"root/a", "root/b", "root/c"}) {
        CAPTURE(p);
        CHECK(all.at(p)["outcome"] == "completed");
        CHECK(all.at(p)["restarts"] == 1);
    }
    CHECK(all.at("root/a")["attempts"][0]["outcome"] == "cancelled");
    CHECK(r.err.find("root/c restarts; stopping 2 siblings to restart with it (one_for_all)") !=
          std::string::npos);
    // The group started again in spec order (started_ms is read before
    // each fork), none before c's first run had ended.
    const auto second = [&](const char* p) {
        return all.at(p)["attempts"][1]["started_ms"].get<double>();
    };
    CHECK(second("root/a") <= second("root/b"));
    CHECK(second("root/b") <= second("root/c"));
    CHECK(second("root/a") >= all.at("root/c")["attempts"][0]["ended_ms"].get<double>());
    check_nothing_left(r.tag);
}

TEST_CASE("rest_for_one: a restart takes down and restarts only the later siblings") {
    TempDir dir("restart");
    // first goes on until mid has failed, then ends on its own.
    json first = logged("first", dir / "log",
                        "while [ ! -e '" + dir / "second" + "' ]; do sleep 0.02; done;");
    json mid = fails_once_when_two_ran("mid", dir);
    json last = logged("last", dir / "log", "[ -e '" + dir / "second" + "' ] || sleep 100;");
    const auto r = run_json({{"strategy", "rest_for_one"}, {"actors", {first, mid, last}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto all = by_path(parse_report(r.out));
    CHECK(all.at("root/first")["restarts"] == 0); // went on untouched
    CHECK(all.at("root/mid")["restarts"] == 1);
    CHECK(all.at("root/last")["restarts"] == 1);
    CHECK(all.at("root/last")["attempts"][0]["outcome"] == "cancelled");
    check_nothing_left(r.tag);
}

TEST_CASE("examples: a flaky service kept alive, a batch that keeps going with 4 at a time") {
    auto r = run({.args = {"run", "--report=json", examples_path("flaky-service.json")}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    auto all = by_path(parse_report(r.out));
    CHECK(all.at("svc/traffic")["outcome"] == "completed");
    CHECK(all.at("svc/api")["restarts"].get<int>() >= 1);
    CHECK(all.at("svc/api")["cancel_reason"] == "nursery_done");
    check_nothing_left(r.tag);

    r = run({.args = {"run", "--report=json", examples_path("batch.json")}});
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json rep = parse_report(r.out);
    CHECK(rep["result"] == "failed");
    int completed = 0;
    for (const auto& e : rep["actors"])
        completed += e["outcome"] == "completed";
    CHECK(completed == 9);
    CHECK(entry(rep, "batch/f03")["outcome"] == "failed");
    check_nothing_left(r.tag);
}

TEST_CASE("restarts: a spawn failure is not restarted: the program does not appear by waiting") {
    json a = {{"name", "a"},
              {"cmd", {"/nonexistent/forkspawn-no-such-program"}},
              {"restart", "always"},
              {"backoff", "0s"}};
    const auto r = run_json({{"strategy", "one_for_one"}, {"actors", {a}}});
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json e = entry(parse_report(r.out), "root/a");
    CHECK(e["outcome"] == "spawn_failed");
    CHECK(e["restarts"] == 0);
    // One attempt: the child was forked and its execve failed.
    REQUIRE(e["attempts"].size() == 1);
    CHECK(e["attempts"][0]["outcome"] == "spawn_failed");
    check_nothing_left(r.tag);
}
