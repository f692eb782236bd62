// SPDX-License-Identifier: MIT
// The control protocol's pure parts: request parsing (every way a request
// can be wrong says so), replies, the live table and its wait conditions,
// the channel messages that carry control, and the revive transition.
#include "forkspawn/channel.hpp"
#include "forkspawn/control.hpp"
#include "forkspawn/lifecycle.hpp"
#include "forkspawn/spec.hpp"

#include <csignal>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace forkspawn;
using namespace forkspawn::control;
using nlohmann::json;

namespace {

Request ok(std::string_view line) {
    Request r = parse_request(line);
    if (!r.error.empty()) FAIL(line << ": " << r.error);
    return r;
}

std::string error(std::string_view line) {
    const Request r = parse_request(line);
    REQUIRE_MESSAGE(!r.error.empty(), line);
    return r.error;
}

bool has(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

spec::Spec tree() {
    auto r = spec::parse(R"({"actors": [
        {"name": "web", "cmd": ["sleep", "1"]},
        {"name": "inner", "actors": [{"name": "a", "cmd": ["true"]},
                                     {"name": "b", "cmd": ["true"]}]},
        {"name": "job", "cmd": ["true"]}]})");
    REQUIRE(r.spec);
    return std::move(*r.spec);
}

LiveActor at(const std::string& path, const std::string& state, bool ready = false,
             std::optional<std::string> outcome = std::nullopt) {
    LiveActor a;
    a.path = path;
    a.state = state;
    a.ready = ready;
    a.outcome = std::move(outcome);
    return a;
}

} // namespace

TEST_CASE("control requests: each command and its arguments") {
    CHECK(ok(R"({"cmd": "status"})").op == Op::status);
    const Request stop = ok(R"({"cmd": "stop", "paths": ["root/a", "root/b"], "id": 7})");
    CHECK(stop.op == Op::stop);
    CHECK(stop.paths == std::vector<std::string>{"root/a", "root/b"});
    CHECK(stop.id == "7");
    CHECK(ok(R"({"cmd": "start", "paths": ["root/a"], "id": "x"})").id == "\"x\"");
    const Request sig = ok(R"({"cmd": "signal", "path": "root/a", "signal": "hup"})");
    CHECK(sig.signo == SIGHUP);
    CHECK(sig.paths == std::vector<std::string>{"root/a"});
    CHECK(ok(R"({"cmd": "signal", "path": "root/a", "signal": 10})").signo == 10);
    CHECK(ok(R"({"cmd": "signal", "path": "root/a", "signal": "10"})").signo == 10);
    const Request wait = ok(R"({"cmd": "wait", "ready": true})");
    CHECK(wait.ready);
    CHECK(wait.paths.empty());
    CHECK(ok(R"({"cmd": "events"})").op == Op::events);
    CHECK(ok(R"({"cmd": "cancel"})").op == Op::cancel);
}

TEST_CASE("control requests: what is wrong is said") {
    CHECK(has(error("nope"), "not valid JSON"));
    CHECK(has(error(std::string("\0\xff", 2)), "not valid JSON"));
    CHECK(has(error("[]"), "not a JSON object"));
    CHECK(has(error("{}"), "\"cmd\" is missing"));
    CHECK(has(error(R"({"cmd": "reboot"})"), "unknown cmd \"reboot\"; valid: status"));
    CHECK(has(error(R"({"cmd": "status", "x": 1})"), "unknown key \"x\" for cmd status"));
    CHECK(has(error(R"({"cmd": "stop"})"), "needs \"paths\""));
    CHECK(has(error(R"({"cmd": "stop", "paths": "root/a"})"), "must be a list"));
    CHECK(has(error(R"({"cmd": "stop", "paths": [""]})"), "non-empty strings"));
    CHECK(has(error(R"({"cmd": "restart", "paths": []})"), "at least one"));
    CHECK(has(error(R"({"cmd": "signal", "path": "root/a"})"), "needs \"signal\""));
    CHECK(has(error(R"({"cmd": "signal", "path": "root/a", "signal": 0})"), "needs \"signal\""));
    CHECK(has(error(R"({"cmd": "signal", "path": "root/a", "signal": "SIGFOO"})"),
              "needs \"signal\""));
    CHECK(has(error(R"({"cmd": "signal", "signal": "HUP"})"), "needs \"path\""));
    CHECK(has(error(R"({"cmd": "wait", "ready": 1})"), "\"ready\" must be true or false"));
    CHECK(has(error(R"({"cmd": "status", "id": [1]})"), "\"id\" must be"));
    // A readable id comes back with the error.
    CHECK(parse_request(R"({"cmd": "stop", "id": 4})").id == "4");
    // Deep nesting and long lines are errors, not a crash.
    CHECK(has(error(std::string(60000, '[') + std::string(60000, ']')), "not a JSON object"));
    CHECK(has(error(std::string(60000, '{')), "not valid JSON"));
}

TEST_CASE("control replies: one line each, the id echoed, errors quoted") {
    CHECK(ok_reply("") == "{\"ok\": true}\n");
    CHECK(ok_reply("3", "\"reached\": true") == "{\"ok\": true, \"id\": 3, \"reached\": true}\n");
    const std::string e = error_reply("\"a\"", "bad \"x\"\n");
    CHECK(e.back() == '\n');
    CHECK(e.find('\n') == e.size() - 1);
    const json j = json::parse(e);
    CHECK(j["ok"] == false);
    CHECK(j["id"] == "a");
    CHECK(j["error"] == "bad \"x\"\n");
}

TEST_CASE("live table: every actor at every depth, depth-first, waiting at first") {
    const spec::Spec s = tree();
    LiveTable t(s.root);
    REQUIRE(t.size() == 5);
    CHECK(t.at(0).path == "root/web");
    CHECK(t.at(1).path == "root/inner");
    CHECK(t.at(1).nursery);
    CHECK(t.at(2).path == "root/inner/a");
    CHECK(t.at(4).path == "root/job");
    CHECK(t.at(3).state == "waiting");
    CHECK(t.update(at("root/web", "running")));
    CHECK_FALSE(t.update(at("root/web", "running"))); // nothing changed
    CHECK_FALSE(t.update(at("root/nope", "running")));
    const std::string reply = t.status_reply("\"q\"", 12.5);
    CHECK(reply.find('\n') == reply.size() - 1);
    const json status = json::parse(reply);
    CHECK(status["ok"] == true);
    CHECK(status["id"] == "q");
    CHECK(status["now_ms"] == 12.5);
    CHECK(status["actors"].size() == 5);
    CHECK(status["actors"][0]["state"] == "running");
    CHECK(status["actors"][1]["kind"] == "nursery");
    CHECK(status["actors"][1]["pid"].is_null());
    CHECK(status["actors"][1]["runtime_ms"].is_null()); // never started
    // Names and texts that need escaping stay valid JSON (bytes that are not
    // UTF-8 replaced).
    LiveActor odd = at("root/job", "running", true);
    odd.status_text = std::string("say \"hi\"\n\x01\xff");
    odd.started_ms = 2.25;
    odd.pid = 42;
    CHECK(t.update(odd));
    const json again = json::parse(t.status_reply("", 10));
    CHECK_FALSE(again.contains("id"));
    const json& job = again["actors"][4];
    CHECK(job["status_text"] == "say \"hi\"\n\x01\xef\xbf\xbd");
    CHECK(job["pid"] == 42);
    CHECK(job["started_ms"].get<double>() == doctest::Approx(2.2).epsilon(0.05));
    CHECK(job["runtime_ms"].get<double>() == doctest::Approx(7.75).epsilon(0.02));
}

TEST_CASE("live table: wait targets and conditions") {
    const spec::Spec s = tree();
    LiveTable t(s.root);
    std::string unknown;
    CHECK(t.wait_targets({}, &unknown) == std::vector<std::size_t>{0, 2, 3, 4}); // commands
    CHECK(t.wait_targets({"root/inner"}, &unknown) == std::vector<std::size_t>{2, 3});
    CHECK(t.wait_targets({"root/job", "root/inner/a", "root/job"}, &unknown) ==
          std::vector<std::size_t>{2, 4});
    CHECK(t.wait_targets({"root/x"}, &unknown).empty());
    CHECK(unknown == "root/x");

    const std::vector<std::size_t> all = {0, 2, 3, 4};
    using Is = WaitState::Is;
    CHECK(t.wait_state(all, true).is == Is::pending);
    t.update(at("root/web", "ready", true));
    t.update(at("root/inner/a", "ready", true));
    t.update(at("root/inner/b", "ended", true, "completed")); // ready, then done
    CHECK(t.wait_state(all, true).is == Is::pending);
    t.update(at("root/job", "ready", true));
    CHECK(t.wait_state(all, true).is == Is::reached);
    // A job that ended without ever being ready fails a ready wait.
    t.update(at("root/job", "ended", false, "failed"));
    const WaitState w = t.wait_state(all, true);
    CHECK(w.is == Is::failed);
    CHECK(w.why == "root/job ended (failed) before it was ready");
    t.update(at("root/job", "ended", true, "cancelled")); // ready, then stopped
    CHECK(t.wait_state(all, true).why == "root/job ended (cancelled) after it was ready");
    t.update(at("root/job", "ended", false, "failed"));
    // Waiting for ends: a failure answers at once, the rest must end.
    CHECK(t.wait_state({4}, false).is == Is::failed);
    CHECK(t.wait_state({4}, false).why == "root/job failed");
    CHECK(t.wait_state({3}, false).is == Is::reached);
    CHECK(t.wait_state({0, 3}, false).is == Is::pending);
    t.update(at("root/web", "ended", true, "cancelled"));
    CHECK(t.wait_state({0, 3}, false).is == Is::reached);
    // An ended nursery ends what is below it.
    CHECK(t.ended_nursery_above("root/inner/a") == nullptr);
    t.update(at("root/inner", "ended", true, "completed"));
    REQUIRE(t.ended_nursery_above("root/inner/a"));
    CHECK(t.ended_nursery_above("root/inner/a")->path == "root/inner");
}

TEST_CASE("live table: a nursery that ends ends what is still shown alive below it") {
    const spec::Spec s = tree();
    LiveTable t(s.root);
    LiveActor a = at("root/inner/a", "running", true);
    a.attempt = 1;
    t.update(a);
    t.update(at("root/inner/b", "waiting"));
    LiveActor inner = at("root/inner", "ended", false, "killed");
    inner.nursery = true;
    inner.cancel_reason = "channel_closed";
    inner.ended_ms = 50;
    t.update(inner);
    CHECK(t.find("root/inner/a")->state == "ended");
    CHECK(t.find("root/inner/a")->outcome == "killed");
    CHECK(t.find("root/inner/a")->cancel_reason == "supervisor_killed");
    CHECK(t.find("root/inner/a")->ended_ms == 50);
    CHECK(t.find("root/inner/b")->outcome == "not_started");
    CHECK(t.find("root/inner/b")->cancel_reason == "channel_closed");
    CHECK(t.find("root/job")->state == "waiting"); // not below it
}

TEST_CASE("live messages and control requests cross the channel unchanged") {
    LiveActor a = at("root/x/y", "restarting", true, "failed");
    a.nursery = false;
    a.pid = 4242;
    a.restarts = 3;
    a.attempt = 3;
    a.status_text = "serving \"all\"";
    a.started_ms = 1.5;
    a.cancel_reason = "ctl_restart";
    const auto up = channel::decode_up(channel::encode(channel::Up{channel::Live{a}}));
    REQUIRE(up);
    REQUIRE(std::holds_alternative<channel::Live>(*up));
    CHECK(std::get<channel::Live>(*up).actor == a);

    const channel::Control c{9, Op::signal, "root/x/y", SIGUSR2};
    const auto down = channel::decode_down(channel::encode(channel::Down{c}));
    REQUIRE(down);
    const auto& back = std::get<channel::Control>(*down);
    CHECK(back.id == 9);
    CHECK(back.op == Op::signal);
    CHECK(back.path == "root/x/y");
    CHECK(back.signo == SIGUSR2);
    // Only actor requests travel down.
    CHECK_FALSE(channel::decode_down(R"({"t":"control","id":1,"op":"status","path":"root/a"})"));
    const auto refused =
        channel::decode_up(channel::encode(channel::Up{channel::Refused{5, "no"}}));
    REQUIRE(refused);
    CHECK(std::get<channel::Refused>(*refused).id == 5);
}

TEST_CASE("lifecycle: revive starts an ended or restarting actor again, nothing else") {
    using lifecycle::Event;
    using lifecycle::State;
    const TimePoint t0{};
    lifecycle::Lifecycle l(
        StopSequence{{StopStep{SIGTERM, std::chrono::seconds(1)}, StopStep{SIGKILL, {}}}});
    CHECK(l.apply(Event::revive, t0).ignored); // waiting
    l.apply(Event::start, t0);
    CHECK(l.apply(Event::revive, t0).ignored); // starting
    l.apply(Event::spawned, t0);
    CHECK(l.state() == State::running);
    CHECK(l.apply(Event::revive, t0).ignored);
    l.apply(Event::cancel, t0);
    CHECK(l.state() == State::stopping);
    CHECK(l.apply(Event::revive, t0).ignored);
    l.apply(Event::exited, t0);
    CHECK(l.state() == State::ended);
    CHECK(l.cancelled());
    const auto t = l.apply(Event::revive, t0);
    CHECK(t.to == State::waiting);
    CHECK_FALSE(l.cancelled()); // a new attempt: cancels count again
    CHECK_FALSE(l.stop().started());
    // From restarting: before its delay is over.
    l.apply(Event::start, t0);
    l.apply(Event::spawned, t0);
    l.apply(Event::exited, t0, false, true, std::chrono::seconds(60));
    CHECK(l.state() == State::restarting);
    CHECK(l.apply(Event::revive, t0).to == State::waiting);
    CHECK_FALSE(l.deadline());
}
