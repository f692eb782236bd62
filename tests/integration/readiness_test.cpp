// SPDX-License-Identifier: MIT
// Dependencies and readiness (DESIGN "Dependencies and readiness"), end to
// end on every backend with real processes and sockets: each source makes
// its actor ready and only then starts its dependent (which checks what the
// dependency made), sd_notify from outside the actor is not heard,
// ready.timeout and the watchdog fail an actor (and restart it), stops go
// in reverse dependency order, a hostile regular expression cannot stall
// the loop, and Debian's redis-server speaks sd_notify to forkspawn.
#include "harness.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

using namespace forkspawn::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// sd_notify in a few lines, as a daemon's library would: each argument is
// a datagram for $NOTIFY_SOCKET ("@name" is abstract), or "sleep:SECONDS".
// A notifier should be the actor's main process (exec it): a process of the
// actor's group that has exited when forkspawn reads its message cannot be
// told from a stranger.
const std::string k_notify_py =
    "import os,socket,sys,time\n"
    "a=os.environ['NOTIFY_SOCKET']\n"
    "a='\\0'+a[1:] if a.startswith('@') else a\n"
    "s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\n"
    "for m in sys.argv[1:]:\n"
    "  time.sleep(float(m[6:])) if m.startswith('sleep:') else s.sendto(m.encode(),a)\n";

std::string quoted(const std::string& s) { // for sh -c, in single quotes
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string notify(std::initializer_list<std::string> steps) {
    std::string cmd = "python3 -c " + quoted(k_notify_py);
    for (const auto& step : steps)
        cmd += " " + quoted(step);
    return cmd;
}

json sh(const std::string& name, const std::string& script) {
    return {{"name", name}, {"cmd", {"sh", "-c", script}}};
}

RunResult run_json(const json& spec, std::vector<std::string> args = {"--report=json"}) {
    args.insert(args.begin(), "run");
    args.push_back("-");
    return run({.args = args, .stdin_data = spec.dump()});
}

RunOptions opts(const json& spec) {
    return {.args = {"run", "-v", "--report=json", "-"}, .stdin_data = spec.dump()};
}

// A TCP port nobody listens on now (bound, read, closed).
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    ::close(fd);
    return ntohs(addr.sin_port);
}

double ms(const json& v) {
    return v.get<double>();
}

} // namespace

TEST_CASE("readiness: each source makes its actor ready, and only then starts its dependent") {
    TempDir dir("ready");
    const std::string mark = dir / "made";
    const int port = free_port();
    // Each dependency takes a while, makes `mark` (or opens its port), then
    // says it is ready its own way; the dependent fails unless it finds it.
    struct Case {
        const char* source;
        json dep;
        json check;
    };
    const std::string made = "sleep 0.3; touch " + quoted(mark) + "; ";
    const json test_mark = {"test", "-e", mark};
    std::vector<Case> cases = {
        {"notify", sh("dep", made + "exec " + notify({"STATUS=warm\nREADY=1", "sleep:30"})),
         test_mark},
        {"fd", sh("dep", made + "echo >&4; exec sleep 30"), test_mark},
        {"output", sh("dep", "echo starting; " + made + "echo 'listening on 7'; exec sleep 30"),
         test_mark},
        {"exec", sh("dep", made + "exec sleep 30"), test_mark},
        {"tcp",
         sh("dep",
            "sleep 0.3; exec python3 -m http.server --bind 127.0.0.1 " + std::to_string(port)),
         {"python3", "-c",
          "import socket; socket.create_connection(('127.0.0.1', " + std::to_string(port) +
              "), 5)"}},
    };
    for (auto& c : cases) {
        CAPTURE(c.source);
        ::unlink(mark.c_str());
        json dep = c.dep;
        dep["daemon"] = true;
        const std::string source = c.source;
        if (source == "notify") dep["ready"] = {{"notify", true}};
        if (source == "fd") dep["ready"] = {{"fd", 4}};
        if (source == "output") dep["ready"] = {{"output", "^listening on [0-9]+$"}};
        if (source == "exec") dep["ready"] = {{"exec", {"test", "-e", mark}}, {"interval", "50ms"}};
        if (source == "tcp") {
            dep["ready"] = {{"tcp", "127.0.0.1:" + std::to_string(port)}, {"interval", "50ms"}};
            dep["output"] = "null";
        }
        const json user = {{"name", "user"}, {"cmd", c.check}, {"after", {"dep"}}};
        const auto r = run_json({{"actors", {user, dep}}}, {"--report=json", "-v"});
        INFO(r.err);
        CHECK(r.exit_code == 0);
        const auto rows = by_path(parse_report(r.out));
        const json& d = rows.at("root/dep");
        const json& u = rows.at("root/user");
        CHECK(u["outcome"] == "completed");
        CHECK(d["outcome"] == "cancelled");
        CHECK(d["cancel_reason"] == "nursery_done");
        REQUIRE(d["ready_ms"].is_number());
        CHECK(ms(d["ready_ms"]) - ms(d["started_ms"]) >= 299.9); // never before it was
        CHECK(ms(u["started_ms"]) >= ms(d["ready_ms"]));
        CHECK(r.err.find("root/dep is ready (" + source + ")") != std::string::npos);
        if (source == "notify") CHECK(d["status_text"] == "warm");
        check_nothing_left(r.tag);
    }
}

TEST_CASE("readiness: notify from a process outside the actor is ignored") {
    TempDir dir("ready");
    const std::string name = dir / "socket-name", sent = dir / "sent";
    // The dependency publishes its socket's name and never says READY=1;
    // an unrelated sibling (another process group) says it for it, then
    // lets the dependency end. Its end reads what was sent before it.
    json dep = sh("dep", "echo \"$NOTIFY_SOCKET\" > " + quoted(name + ".tmp") + "; mv " +
                             quoted(name + ".tmp") + " " + quoted(name) + "; until [ -e " +
                             quoted(sent) + " ]; do sleep 0.02; done");
    dep["ready"] = {{"notify", true}};
    json outsider = sh(
        "outsider", "until [ -s " + quoted(name) + " ]; do sleep 0.02; done; NOTIFY_SOCKET=$(cat " +
                        quoted(name) + ") " + notify({"READY=1"}) + " && touch " + quoted(sent));
    json user = {{"name", "user"}, {"cmd", {"true"}}, {"after", {"dep"}}};
    const auto r = run_json({{"strategy", "one_for_one"}, {"actors", {dep, outsider, user}}},
                            {"--report=json", "-v"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto rows = by_path(parse_report(r.out));
    CHECK(rows.at("root/outsider")["outcome"] == "completed");
    CHECK(rows.at("root/dep")["outcome"] == "completed");
    CHECK(rows.at("root/dep")["ready_ms"].is_null());
    CHECK(rows.at("root/user")["outcome"] == "not_started");
    CHECK(rows.at("root/user")["cancel_reason"] == "dependency_failed");
    CHECK(r.err.find("root/dep: ignored a notification from pid") != std::string::npos);
    CHECK(r.err.find("root/user will not start: dep ended (completed) without being ready") !=
          std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("readiness: ready.timeout fails the actor, and the failure climbs") {
    // fd 3 is never written; an exec probe that hangs is killed at each
    // interval and never outlives the run.
    json never = sh("never", "exec sleep 30");
    never["ready"] = {{"fd", 3}, {"timeout", "400ms"}};
    json hung = sh("hung", "exec sleep 30");
    hung["ready"] = {{"exec", {"sleep", "30"}}, {"interval", "100ms"}, {"timeout", "2s"}};
    json n = {{"name", "n"}, {"actors", {never}}};
    const auto r = run_json({{"actors", {n, hung}}});
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const auto rows = by_path(parse_report(r.out));
    const json& a = rows.at("root/n/never");
    CHECK(a["cancel_reason"] == "not_ready");
    CHECK(ms(a["ended_ms"]) - ms(a["started_ms"]) >= 399.9);
    CHECK(rows.at("root/n")["outcome"] == "failed");
    CHECK(rows.at("root/hung")["cancel_reason"] == "sibling_failed");
    CHECK(r.err.find("root/n/never was not ready within 400ms (ready: fd); stopping it") !=
          std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("readiness: a watchdog that starves stops the actor, and restart runs it again") {
    TempDir dir("ready");
    const std::string runs = dir / "runs", usec = dir / "usec";
    // The first attempt says READY=1 and two WATCHDOG=1, then goes quiet;
    // the second is ready and completes.
    json w = sh("w", "n=$(cat " + quoted(runs) + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " +
                         quoted(runs) + "; echo \"$WATCHDOG_USEC\" > " + quoted(usec) + "; " +
                         "[ $n -ge 2 ] && exec " + notify({"READY=1"}) + "; exec " +
                         notify({"READY=1", "WATCHDOG=1", "sleep:0.1", "WATCHDOG=1", "sleep:30"}));
    w["ready"] = {{"notify", true}};
    w["watchdog"] = "500ms";
    w["restart"] = "on_failure";
    const auto r = run_json({{"strategy", "one_for_one"}, {"actors", {w}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json e = entry(parse_report(r.out), "root/w");
    CHECK(e["outcome"] == "completed");
    CHECK(e["restarts"] == 1);
    REQUIRE(e["attempts"].size() == 2);
    CHECK(e["attempts"][0]["outcome"] == "cancelled");
    // Quiet from about 0.1 s after it was ready: never stopped early.
    CHECK(ms(e["attempts"][0]["ended_ms"]) - ms(e["attempts"][0]["started_ms"]) >= 599.9);
    CHECK(slurp_file(usec) == "500000\n");
    CHECK(r.err.find("root/w sent no WATCHDOG=1 for 500ms; stopping it") != std::string::npos);
    check_nothing_left(r.tag);
}

TEST_CASE("stop order: dependents are reaped before their dependencies get a stop signal") {
    // db <- api <- web, and `other` on its own. Each takes 0.2 s to stop.
    const auto daemon = [](const std::string& name) {
        json a = sh(name, "trap 'sleep 0.2; exit 0' TERM; echo up; while :; do sleep 0.05; done");
        a["daemon"] = true;
        return a;
    };
    json db = daemon("db"), api = daemon("api"), web = daemon("web"), other = daemon("other");
    api["after"] = {"db"};
    web["after"] = {{"api", "started"}};
    Process p(opts({{"actors", {web, other, api, db}}}));
    for (const char* up : {"root/web | up", "root/api | up", "root/db | up", "root/other | up"})
        REQUIRE(p.wait_for_stderr(up, 30s)); // each has its trap
    p.signal(SIGINT);
    const auto r = p.wait();
    INFO(r.err);
    CHECK(r.exit_code == 130);
    const auto rows = by_path(parse_report(r.out));
    const auto first_signal = [&](const std::string& path) {
        return ms(rows.at(path)["stop"]["sent_ms"][0]);
    };
    for (const char* path : {"root/db", "root/api", "root/web", "root/other"}) {
        CAPTURE(path);
        CHECK(rows.at(path)["outcome"] == "cancelled");
        CHECK(rows.at(path)["status"] == "rc=0"); // its own trap, never SIGKILL
    }
    CHECK(ms(rows.at("root/web")["ended_ms"]) <= first_signal("root/api"));
    CHECK(ms(rows.at("root/api")["ended_ms"]) <= first_signal("root/db"));
    // Independent: stopped at once, with the first of the chain.
    CHECK(first_signal("root/other") < first_signal("root/api"));
    check_nothing_left(p.tag());
}

TEST_CASE("stop order: a second SIGINT kills at once, whatever the order") {
    json db = sh("db", "trap '' TERM; echo up; while :; do sleep 0.05; done");
    json app = sh("app", "trap '' TERM; echo up; while :; do sleep 0.05; done");
    db["daemon"] = app["daemon"] = true;
    app["after"] = {"db"};
    db["stop"] = app["stop"] = json::array({"SIGTERM", "30s", "SIGKILL"});
    Process p(opts({{"actors", {db, app}}}));
    REQUIRE(p.wait_for_stderr("root/app | up", 30s));
    REQUIRE(p.wait_for_stderr("root/db | up", 30s));
    p.signal(SIGINT);
    REQUIRE(p.wait_for_stderr("cancelling the tree", 30s));
    p.signal(SIGINT);
    const auto r = p.wait();
    INFO(r.err);
    CHECK(r.exit_code == 130);
    const auto rows = by_path(parse_report(r.out));
    CHECK(rows.at("root/db")["outcome"] == "killed");
    CHECK(rows.at("root/app")["outcome"] == "killed");
    CHECK(ms(rows.at("root/db")["ended_ms"]) < 20'000); // not the 30 s grace
    check_nothing_left(p.tag());
}

TEST_CASE("ready.output: a line that would make a backtracking engine explode stalls nothing") {
    // (a|aa)+$ against 60,000 'a's and a '!' takes exponential time to
    // fail by backtracking; RE2 answers in linear time. A sibling's own
    // timeout and SIGKILL deadline are met meanwhile.
    json hostile =
        sh("hostile", "line=$(printf '%60000s' '' | tr ' ' a)!; while :; do echo \"$line\"; done");
    hostile["ready"] = {{"output", "^(a|aa)+$"}, {"timeout", "60s"}};
    hostile["output"] = "null";
    hostile["daemon"] = true;
    json t = sh("t", "trap '' TERM; while :; do sleep 0.05; done");
    t["timeout"] = "500ms";
    t["stop"] = json::array({"SIGTERM", "300ms", "SIGKILL"});
    const auto r = run_json({{"actors", {hostile, t}}});
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const auto rows = by_path(parse_report(r.out));
    const json& e = rows.at("root/t");
    CHECK(e["cancel_reason"] == "timeout");
    CHECK(e["outcome"] == "killed");
    const double sigkill = ms(e["stop"]["sent_ms"][1]) - ms(e["stop"]["sent_ms"][0]);
    CHECK(sigkill >= 299.9);
    CHECK(sigkill < 5'000);
    CHECK(rows.at("root/hostile")["ready_ms"].is_null());
    check_nothing_left(r.tag);
}

TEST_CASE("redis-server speaks sd_notify: its dependents start after READY=1 and stop before it") {
    REQUIRE_MESSAGE(::access("/usr/bin/redis-server", X_OK) == 0,
                    "redis-server is missing: run scripts/setup --test");
    TempDir dir("redis");
    const std::string sock = dir / "redis.sock";
    json redis = {{"name", "redis"},
                  {"cmd",
                   {"redis-server", "--supervised", "systemd", "--port", "0", "--unixsocket", sock,
                    "--save", "", "--appendonly", "no", "--dir", dir / "."}},
                  {"daemon", true},
                  {"ready", {{"notify", true}}}};
    json ping = {
        {"name", "ping"}, {"cmd", {"redis-cli", "-s", sock, "ping"}}, {"after", {"redis"}}};
    json client = sh("client", "redis-cli -s " + quoted(sock) +
                                   " set k v && trap 'sleep 0.2; exit 0' TERM; echo holding; "
                                   "while :; do sleep 0.05; done");
    client["after"] = {"redis"};
    client["daemon"] = true;
    // Work that runs until the SIGINT below: the tree is cancelled, not done.
    const json hold = {{"name", "hold"}, {"cmd", {"sleep", "60"}}};
    Process p(opts({{"actors", {redis, ping, client, hold}}}));
    INFO(p.err_so_far());
    REQUIRE(p.wait_for_stderr("root/client | holding", 30s));
    REQUIRE(p.wait_for_stderr("root/ping completed", 30s));
    p.signal(SIGINT);
    const auto r = p.wait();
    INFO(r.err);
    CHECK(r.exit_code == 130);
    const auto rows = by_path(parse_report(r.out));
    const json& rd = rows.at("root/redis");
    const json& pg = rows.at("root/ping");
    CHECK(pg["outcome"] == "completed");
    CHECK(pg["attempts"].size() == 1); // its first try
    REQUIRE(rd["ready_ms"].is_number());
    CHECK(ms(pg["started_ms"]) >= ms(rd["ready_ms"]));
    CHECK(rd["status_text"].is_string());
    CHECK(rd["outcome"] == "cancelled");
    CHECK(rd["stop"]["sent"][0] == "SIGTERM");
    CHECK(ms(rows.at("root/client")["ended_ms"]) <= ms(rd["stop"]["sent_ms"][0]));
    check_nothing_left(p.tag());
}

TEST_CASE(
    "after: started, completed and ended gate a start, and check refuses cycles and strangers") {
    TempDir dir("after");
    const std::string log = dir / "log";
    const auto step = [&](const std::string& name, const std::string& rest) {
        return sh(name, "echo " + name + " >> " + quoted(log) + "; " + rest);
    };
    json a = step("a", "sleep 0.2");
    json b = step("b", "exit 0");
    json c = step("c", "exit 0");
    json d = step("d", "exit 0");
    b["after"] = {{"a", "started"}};
    c["after"] = {{"a", "completed"}, {"b", "ended"}};
    d["after"] = {{"c", "completed"}};
    const auto r = run_json({{"actors", {d, c, b, a}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    // b waits only for a's execve: the two may write in either order.
    const std::string order = slurp_file(log);
    CHECK((order == "a\nb\nc\nd\n" || order == "b\na\nc\nd\n"));
    const auto rows = by_path(parse_report(r.out));
    CHECK(rows.at("root/b")["started_ms"].get<double>() >=
          rows.at("root/a")["started_ms"].get<double>());
    CHECK(rows.at("root/c")["started_ms"].get<double>() >=
          rows.at("root/a")["ended_ms"].get<double>());
    check_nothing_left(r.tag);

    const json cyclic = {
        {"actors",
         {{{"name", "x"}, {"cmd", {"true"}}, {"after", {"y"}}},
          {{"name", "y"}, {"cmd", {"true"}}, {"after", {{"x", "ended"}, {"zz", "ready"}}}}}}};
    for (const char* cmd : {"check", "run"}) {
        const auto bad = run({.args = {cmd, "-"}, .stdin_data = cyclic.dump()});
        CHECK(bad.exit_code == 2);
        CHECK(bad.err.find("/actors/0/after: dependency cycle: 'x' -> 'y' -> 'x'") !=
              std::string::npos);
        CHECK(bad.err.find("/actors/1/after/zz: 'zz' is not a sibling of 'y'") !=
              std::string::npos);
        CHECK(bad.out.empty());
        check_nothing_left(bad.tag);
    }
}

TEST_CASE("examples: dev services start in dependency order and stop in reverse") {
    const auto r = run({.args = {"run", "--report=json", examples_path("dev-services.json")}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto rows = by_path(parse_report(r.out));
    const json &db = rows.at("dev/db"), &migrate = rows.at("dev/migrate"),
               &web = rows.at("dev/web"), &smoke = rows.at("dev/smoke");
    CHECK(ms(migrate["started_ms"]) >= ms(db["ready_ms"]));
    CHECK(ms(web["started_ms"]) >= ms(migrate["ended_ms"]));
    CHECK(ms(smoke["started_ms"]) >= ms(web["ready_ms"]));
    CHECK(web["status"] == "rc=0"); // drained on SIGTERM
    CHECK(ms(db["stop"]["sent_ms"][0]) >= ms(web["ended_ms"]));
    check_nothing_left(r.tag);
}

TEST_CASE("readiness: an actor that says it is ready and exits at once was ready") {
    // Its exit and its message can come in one wake-up of the loop: the
    // message is read before the exit is applied.
    json fd = sh("fd", "echo >&3");
    fd["ready"] = {{"fd", 3}};
    json nt = sh("nt", "exec " + notify({"READY=1"}));
    nt["ready"] = {{"notify", true}};
    json out = {{"name", "out"}, {"cmd", {"echo", "up"}}, {"ready", {{"output", "^up$"}}}};
    // READY=1 from its first instructions, likely before the spawn is
    // reported (trio): heard once its pid is known.
    json now = {{"name", "now"},
                {"cmd", {FORKSPAWN_NOTIFY_NOW, "STATUS=quick", "READY=1"}},
                {"ready", {{"notify", true}}}};
    json user = {{"name", "user"}, {"cmd", {"true"}}, {"after", {"fd", "nt", "out", "now"}}};
    for (int round = 0; round < 3; ++round) {
        const auto r = run_json({{"actors", {fd, nt, out, now, user}}});
        INFO(r.err);
        CHECK(r.exit_code == 0);
        const auto rows = by_path(parse_report(r.out));
        for (const std::string path : {"root/fd", "root/nt", "root/out", "root/now"}) {
            CAPTURE(path);
            CHECK(rows.at(path)["outcome"] == "completed");
            CHECK(rows.at(path)["ready_ms"].is_number());
        }
        CHECK(rows.at("root/now")["status_text"] == "quick");
        CHECK(rows.at("root/user")["outcome"] == "completed");
        check_nothing_left(r.tag);
    }
}

TEST_CASE("after: an actor that exits at once was started, and ready without a source") {
    // `true` is reaped before its execve's success is read: it still
    // started, and its dependents run.
    json quick = {{"name", "quick"}, {"cmd", {"true"}}};
    json s = {{"name", "s"}, {"cmd", {"true"}}, {"after", {{"quick", "started"}}}};
    json r_ = {{"name", "r"}, {"cmd", {"true"}}, {"after", {"quick"}}};
    for (int round = 0; round < 5; ++round) {
        const auto r = run_json({{"actors", {quick, s, r_}}});
        INFO(r.err);
        CHECK(r.exit_code == 0);
        const auto rows = by_path(parse_report(r.out));
        CHECK(rows.at("root/s")["outcome"] == "completed");
        CHECK(rows.at("root/r")["outcome"] == "completed");
        CHECK(rows.at("root/quick")["ready_ms"].is_number());
        check_nothing_left(r.tag);
    }
}

TEST_CASE("readiness in nested nurseries: dependencies inside, a probed nursery outside, jsonl "
          "ready events from below") {
    TempDir dir("ready");
    const std::string mark = dir / "made";
    // Inside n: db says it is ready over its notification fd, api starts
    // after it and makes `mark`. Outside: n is ready when the exec probe
    // finds `mark`, and client starts only then.
    json db = sh("db", "sleep 0.2; echo >&3; exec sleep 30");
    db["ready"] = {{"fd", 3}};
    db["daemon"] = true;
    json api = sh("api", "touch " + quoted(mark) + "; exec sleep 30");
    api["after"] = {"db"};
    api["daemon"] = true;
    json n = {{"name", "n"},
              {"daemon", true},
              {"actors", {db, api}},
              {"ready", {{"exec", {"test", "-e", mark}}, {"interval", "50ms"}}}};
    json client = {{"name", "client"}, {"cmd", {"test", "-e", mark}}, {"after", {"n"}}};
    const auto r = run_json({{"actors", {n, client}}}, {"--report=jsonl"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    std::map<std::string, json> ready, reaped;
    for (const auto& line : lines(r.out)) {
        const json e = json::parse(line);
        if (e["event"] == "ready") ready[e["path"]] = e;
        if (e["event"] == "reaped") reaped[e["path"]] = e;
    }
    // Events for the actors with a source, from every depth.
    CHECK(ready.count("root/n/db") == 1);
    CHECK(ready.count("root/n") == 1);
    CHECK(ready.count("root/n/api") == 0); // no source: ready as it started
    REQUIRE(reaped.count("root/client") == 1);
    CHECK(reaped["root/client"]["outcome"] == "completed");
    CHECK(ms(reaped["root/n/api"]["started_ms"]) >= ms(ready["root/n/db"]["ready_ms"]));
    CHECK(ms(reaped["root/client"]["started_ms"]) >= ms(ready["root/n"]["ready_ms"]));
    CHECK(ms(reaped["root/n/db"]["ready_ms"]) == ms(ready["root/n/db"]["ready_ms"]));
    // The nursery's stop reached api before db.
    CHECK(ms(reaped["root/n/db"]["stop"]["sent_ms"][0]) >= ms(reaped["root/n/api"]["ended_ms"]));
    check_nothing_left(r.tag);
}

TEST_CASE("readiness in the live dump: what a child waits for, an actor not ready yet") {
    json db = sh("db", "exec " + notify({"STATUS=loading 2/3", "sleep:60"}));
    db["ready"] = {{"notify", true}, {"timeout", "60s"}};
    json web = {{"name", "web"}, {"cmd", {"true"}}, {"after", {{"db", "ready"}}}};
    Process p(opts({{"actors", {db, web}}}));
    REQUIRE(p.wait_for_stderr("root/db spawned", 30s));
    REQUIRE(p.wait_for_stderr("root/web waits for its dependencies", 30s));
    // STATUS= arrives after the spawn: ask until the dump shows it.
    bool shown = false;
    for (int i = 0; i < 100 && !shown; ++i) {
        p.signal(SIGUSR1);
        shown = p.wait_for_stderr("status: loading 2/3", 300ms);
    }
    CHECK(shown);
    p.signal(SIGTERM);
    const auto r = p.wait();
    INFO(r.err);
    CHECK(r.exit_code == 143);
    CHECK(r.err.find("root/web  cmd  pid -  waiting for db ready") != std::string::npos);
    CHECK(r.err.find("running, not ready yet (notify)  not ready in ") != std::string::npos);
    const auto rows = by_path(parse_report(r.out));
    CHECK(rows.at("root/db")["status_text"] == "loading 2/3");
    CHECK(rows.at("root/web")["outcome"] == "not_started");
    check_nothing_left(p.tag());
}

TEST_CASE("stop order: a group restart stops dependents first too") {
    TempDir dir("order");
    const std::string log = dir / "log", runs = dir / "runs";
    const auto service = [&](const std::string& name) {
        json a = sh(name, "trap 'echo " + name + "-term >> " + quoted(log) + "; sleep 0.2; echo " +
                              name + "-done >> " + quoted(log) + "; exit 0' TERM; touch " +
                              quoted(dir / (name + ".up")) + "; while :; do sleep 0.05; done");
        a["daemon"] = true;
        return a;
    };
    json db = service("db"), app = service("app");
    app["after"] = {"db"};
    // Fails once, once both services run (and have their traps); then
    // completes, which ends the work.
    json crash = sh("crash", "until [ -e " + quoted(dir / "db.up") + " ] && [ -e " +
                                 quoted(dir / "app.up") + " ]; do sleep 0.02; done; rm -f " +
                                 quoted(dir / "db.up") + " " + quoted(dir / "app.up") +
                                 "; n=$(cat " + quoted(runs) + " 2>/dev/null || echo 0); echo " +
                                 "$((n+1)) > " + quoted(runs) + "; [ $n -ge 1 ]");
    crash["restart"] = "on_failure";
    const auto r = run_json({{"actors", {db, app, crash}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto rows = by_path(parse_report(r.out));
    CHECK(rows.at("root/crash")["restarts"] == 1);
    CHECK(rows.at("root/db")["restarts"] == 1);
    // Twice (the group restart, then the end of the work): app went down
    // before db was signalled.
    CHECK(slurp_file(log) ==
          "app-term\napp-done\ndb-term\ndb-done\napp-term\napp-done\ndb-term\ndb-done\n");
    check_nothing_left(r.tag);
}
