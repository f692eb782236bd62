// SPDX-License-Identifier: MIT
#include "forkspawn/spec.hpp"

#include <csignal>
#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace forkspawn;
using namespace std::chrono_literals;

namespace {

spec::Spec ok(std::string_view text, const spec::Defaults& defaults = {}) {
    auto r = spec::parse(text, defaults);
    for (const auto& e : r.errors)
        INFO(format_diagnostic("t", e));
    REQUIRE(r.errors.empty());
    REQUIRE(r.spec);
    return std::move(*r.spec);
}

std::vector<std::string> errors(std::string_view text, const spec::Limits& limits = {}) {
    auto r = spec::parse(text, {}, limits);
    CHECK_FALSE(r.spec);
    std::vector<std::string> out;
    for (const auto& e : r.errors)
        out.push_back(format_diagnostic("t.json", e));
    return out;
}

// The single error of `text`, which must start with `expected`.
void one_error(std::string_view text, std::string_view expected) {
    const auto errs = errors(text);
    INFO(text);
    REQUIRE(errs.size() == 1);
    INFO(errs[0]);
    CHECK(errs[0].substr(0, expected.size()) == expected);
}

std::string actor(std::string_view fields) {
    return fmt::format(R"({{"actors": [{{"name": "a", {}}}]}})", fields);
}

} // namespace

TEST_CASE("a full spec normalizes with resolved fields") {
    const auto s = ok(R"({
      "name": "top",
      "stop": ["SIGINT", "1s"],
      "output": "null",
      "actors": [
        {"name": "db", "cmd": ["redis-server", "--port", "7001"], "daemon": true},
        {"name": "etl", "strategy": "one_for_all", "stop": ["TERM", "3s", "KILL"], "actors": [
          {"name": "extract", "cmd": ["sh", "-c", "./x"], "timeout": "30s", "output": "prefix"},
          {"name": "load", "cmd": ["./load"], "env": {"BATCH": "64"}, "env_clear": true,
           "cwd": "/srv", "stdin": "inherit", "output": {"file": "/tmp/load.log"}}
        ]}
      ]})");
    CHECK(s.actor_count == 4);
    const auto& root = s.root;
    CHECK(root.name == "top");
    CHECK(root.path == "top");
    CHECK(root.kind == spec::Kind::nursery);
    CHECK(root.stop.to_string() == "SIGINT,1s,SIGKILL");
    REQUIRE(root.actors.size() == 2);
    const auto& db = root.actors[0];
    CHECK(db.path == "top/db");
    CHECK(db.kind == spec::Kind::command);
    CHECK(db.daemon);
    CHECK(db.argv == std::vector<std::string>{"redis-server", "--port", "7001"});
    CHECK(db.stop.to_string() == "SIGINT,1s,SIGKILL"); // inherited from the root
    CHECK(db.output.mode == spec::Output::Mode::null); // inherited from the root
    const auto& etl = root.actors[1];
    CHECK(etl.kind == spec::Kind::nursery);
    CHECK(etl.stop.to_string() == "SIGTERM,3s,SIGKILL");
    const auto& extract = etl.actors[0];
    CHECK(extract.path == "top/etl/extract");
    CHECK(extract.stop == etl.stop); // nearest ancestor wins
    CHECK(extract.timeout == Duration(30s));
    CHECK(extract.output.mode == spec::Output::Mode::prefix); // own value wins
    CHECK(extract.stdin_mode == spec::StdinMode::null);
    const auto& load = etl.actors[1];
    CHECK(load.env == std::vector<std::pair<std::string, std::string>>{{"BATCH", "64"}});
    CHECK(load.env_clear);
    CHECK(load.cwd == "/srv");
    CHECK(load.stdin_mode == spec::StdinMode::inherit);
    CHECK(load.output == spec::Output{spec::Output::Mode::file, "/tmp/load.log"});
    CHECK(load.output.mode == spec::Output::Mode::file);
}

TEST_CASE("defaults come from the command line when the spec is silent") {
    spec::Defaults defaults;
    defaults.stop = *parse_stop_sequence("SIGHUP,250ms", nullptr);
    defaults.output = {spec::Output::Mode::inherit, {}};
    const auto s = ok(R"({"actors": [{"name": "a", "cmd": ["true"]}]})", defaults);
    CHECK(s.root.name == "root");
    CHECK(s.root.actors[0].path == "root/a");
    CHECK(s.root.actors[0].stop.to_string() == "SIGHUP,250ms,SIGKILL");
    CHECK(s.root.actors[0].output.mode == spec::Output::Mode::inherit);
    CHECK(ok(R"({"actors": []})").actor_count == 0);
}

TEST_CASE("errors have the shape FILE:LINE:COL: /pointer: message") {
    one_error("{\"actors\": [\n  {\"name\": \"a\", \"cmd\": \"true\"}]}",
              "t.json:2:24: /actors/0/cmd: must be a non-empty array of strings");
    one_error("{\"actors\": 3}", "t.json:1:12: /actors: must be an array of actors, not a number");
    one_error("[]", "t.json:1:1: must be an object (the root nursery");
    one_error("{\"actors\": [1,}", "t.json:1:15: JSON syntax error: expected a value");
    // Keys with '/' and '~' are escaped in the pointer (RFC 6901).
    one_error(actor(R"("cmd": ["x"], "env": {"A": 1, "B": "2"})"),
              "t.json:1:54: /actors/0/env/A: must be a string, not a number");
    one_error(R"({"actors": [], "a/b~": 1})", "t.json:1:16: /a~1b~0: unknown field 'a/b~'");
}

TEST_CASE("every field is validated") {
    one_error(actor(R"("cmd": [])"), "t.json:1:34: /actors/0/cmd: is empty");
    one_error(actor(R"("cmd": [""])"), "t.json:1:35: /actors/0/cmd/0: the program name is empty");
    one_error(actor(R"("cmd": ["x", 3])"), "t.json:1:40: /actors/0/cmd/1: must be a string");
    one_error(actor(R"("cmd": ["x"], "daemon": 1)"),
              "t.json:1:51: /actors/0/daemon: must be true or false");
    one_error(actor(R"("cmd": ["x"], "timeout": 5)"),
              "t.json:1:52: /actors/0/timeout: must be a duration string");
    one_error(actor(R"("cmd": ["x"], "timeout": "5")"),
              "t.json:1:52: /actors/0/timeout: '5' has no unit");
    one_error(actor(R"("cmd": ["x"], "timeout": "0ms")"),
              "t.json:1:52: /actors/0/timeout: a timeout must be longer than 0s");
    one_error(actor(R"("cmd": ["x"], "stop": 15)"),
              "t.json:1:49: /actors/0/stop: must be an array (or a string) of signals");
    one_error(actor(R"("cmd": ["x"], "stop": "SIGTERM,SIGKILL")"),
              "t.json:1:49: /actors/0/stop: 'SIGKILL' follows a signal without a wait");
    one_error(actor(R"("cmd": ["x"], "stop": ["SIGTERM", 1])"),
              "t.json:1:61: /actors/0/stop/1: must be a string");
    one_error(actor(R"("cmd": ["x"], "stop": ["SIGTERM", "SIGKILL"])"),
              "t.json:1:61: /actors/0/stop/1: 'SIGKILL' follows a signal without a wait");
    one_error(actor(R"("cmd": ["x"], "stop": [])"),
              "t.json:1:49: /actors/0/stop: empty stop sequence");
    one_error(actor(R"("cmd": ["x"], "env": [])"), "t.json:1:48: /actors/0/env: must be an object");
    one_error(actor(R"("cmd": ["x"], "env": {"A=B": "1"})"),
              "t.json:1:49: /actors/0/env/A=B: invalid variable name 'A=B'");
    one_error(actor(R"("cmd": ["x"], "env_clear": "yes")"),
              "t.json:1:54: /actors/0/env_clear: must be true or false");
    one_error(actor(R"("cmd": ["x"], "cwd": 1)"),
              "t.json:1:48: /actors/0/cwd: must be a directory path");
    one_error(actor(R"("cmd": ["x"], "cwd": "")"),
              "t.json:1:48: /actors/0/cwd: the directory path is empty");
    one_error(actor(R"("cmd": ["x"], "stdin": "tty")"),
              "t.json:1:50: /actors/0/stdin: unknown stdin 'tty'; allowed: \"null\", \"inherit\"");
    one_error(actor(R"("cmd": ["x"], "output": "tty")"),
              "t.json:1:51: /actors/0/output: unknown output 'tty'");
    one_error(actor(R"("cmd": ["x"], "output": {"path": "/x"})"),
              "t.json:1:52: /actors/0/output/path: unknown field 'path' in output; allowed: file");
    one_error(actor(R"("cmd": ["x"], "output": {})"),
              "t.json:1:51: /actors/0/output: output object needs \"file\"");
    one_error(actor(R"("cmd": ["x"], "strategy": "one_for_all")"),
              "t.json:1:41: /actors/0/strategy: \"strategy\" applies to nurseries only");
    one_error(actor(R"("actors": [], "strategy": "simple_one_for_one")"),
              "t.json:1:53: /actors/0/strategy: unknown strategy 'simple_one_for_one'; allowed: "
              "\"one_for_all\", \"one_for_one\", \"rest_for_one\"");
    one_error(actor(R"("actors": [], "cwd": "/")"),
              "t.json:1:41: /actors/0/cwd: \"cwd\" applies to command actors only");
    one_error(actor(R"("cmd": ["x"], "actors": [])"),
              "t.json:1:41: /actors/0/actors: an actor has either \"cmd\" (a command) or "
              "\"actors\" (a nursery), not both");
    one_error(actor(R"("daemon": true)"),
              "t.json:1:13: /actors/0: actor has neither \"cmd\" nor \"actors\"");
    one_error(R"({"actors": [{"cmd": ["x"]}]})", "t.json:1:13: /actors/0: actor has no \"name\"");
    one_error(actor(R"("cmd": ["x"], "nmae": "b")"),
              "t.json:1:41: /actors/0/nmae: unknown field 'nmae' (did you mean 'name'?); allowed: "
              "name, cmd,");
    one_error(actor(R"("cmd": ["x"], "cmd": ["y"])"),
              "t.json:1:41: /actors/0/cmd: duplicate field 'cmd' (first at line 1, column 27)");
}

TEST_CASE("names: syntax, emptiness, sibling uniqueness, length") {
    one_error(R"({"actors": [{"name": "a b", "cmd": ["x"]}]})",
              "t.json:1:22: /actors/0/name: invalid name 'a b'; use letters, digits");
    one_error(R"({"actors": [{"name": "", "cmd": ["x"]}]})",
              "t.json:1:22: /actors/0/name: name is empty");
    one_error(R"({"actors": [{"name": "a/b", "cmd": ["x"]}]})",
              "t.json:1:22: /actors/0/name: invalid name 'a/b'");
    one_error(R"({"actors": [{"name": "a", "cmd": ["x"]}, {"name": "a", "cmd": ["y"]}]})",
              "t.json:1:51: /actors/1/name: duplicate name 'a'; sibling names must be unique");
    // The same name in different nurseries is fine: paths differ.
    ok(R"({"actors": [{"name": "a", "cmd": ["x"]}, {"name": "n", "actors": [{"name": "a", "cmd": ["y"]}]}]})");
    const std::string long_name(129, 'x');
    one_error(fmt::format(R"({{"actors": [{{"name": "{}", "cmd": ["x"]}}]}})", long_name),
              "t.json:1:22: /actors/0/name: name is 129 characters long; the limit is 128");
    ok(R"({"name": "r.1_-X", "actors": []})");
}

TEST_CASE("the root is a nursery") {
    one_error(R"({"name": "r"})", "t.json:1:1: the root needs \"actors\"");
    one_error(R"({"cmd": ["x"], "actors": []})",
              "t.json:1:2: /cmd: the root is a nursery: it takes \"actors\", not \"cmd\"");
    one_error(R"({"daemon": true, "actors": []})", "t.json:1:2: /daemon: not allowed on the root");
    one_error(R"({"env": {}, "actors": []})",
              "t.json:1:2: /env: \"env\" applies to command actors only");
}

TEST_CASE("NUL bytes cannot reach execve") {
    one_error(actor(R"("cmd": ["a\u0000b"])"), "t.json:1:35: /actors/0/cmd/0: contains a NUL byte");
    one_error(actor(R"("cmd": ["x"], "env": {"A": "\u0000"})"),
              "t.json:1:54: /actors/0/env/A: contains a NUL byte");
    one_error(actor(R"("cmd": ["x"], "env": {"A\u0000": "1"})"),
              "t.json:1:49: /actors/0/env/A\\u0000: invalid variable name");
    one_error(actor(R"("cmd": ["x"], "cwd": "/\u0000")"),
              "t.json:1:48: /actors/0/cwd: contains a NUL byte");
}

TEST_CASE("ten errors in one spec are ten diagnostics, in text order") {
    const auto errs = errors(R"({
      "actors": [
        {"name": "a b", "cmd": []},
        {"name": "c", "cmd": ["x"], "timeout": "soon"},
        {"name": "d", "cmd": ["x"], "stop": ["SIGNOPE", "1s"]},
        {"name": "e", "cmd": ["x"], "daemon": "no"},
        {"name": "f", "actors": [{"cmd": ["y"]}]},
        {"name": "g", "cmd": ["x"], "colour": "red"},
        {"name": "h", "cmd": ["x"], "output": "tty"},
        {"name": "i", "cmd": ["x"], "stdin": 0},
        {"name": "j", "cmd": ["x"], "cwd": ""}
      ]
    })");
    REQUIRE(errs.size() == 10);
    const auto line_of = [](const std::string& e) { return std::stoi(e.substr(7)); };
    for (std::size_t i = 1; i < errs.size(); ++i)
        CHECK(line_of(errs[i - 1]) <= line_of(errs[i]));
}

TEST_CASE("hostile input is refused with a clear message") {
    spec::Limits limits;
    limits.max_actors = 3;
    auto errs = errors(R"({"actors": [{"name": "a", "cmd": ["x"]}, {"name": "b", "cmd": ["x"]},
                       {"name": "c", "cmd": ["x"]}, {"name": "d", "cmd": ["x"]}, {"name": "e", "cmd": ["x"]}]})",
                       limits);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].find("/actors/3: more than 3 actors in the tree; the limit is 3") !=
          std::string::npos);

    limits = {};
    limits.max_depth = 2;
    errs = errors(
        R"({"actors": [{"name": "a", "actors": [{"name": "b", "actors": [{"name": "c", "cmd": ["x"]}]}]}]})",
        limits);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].find("/actors/0/actors/0/actors: nurseries nested deeper than 2 levels") !=
          std::string::npos);

    limits = {};
    limits.max_bytes = 100;
    errs = errors(std::string(200, ' '), limits);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].find("input is 200 bytes; the limit is 100 bytes") != std::string::npos);

    errs = errors("{\"actors\": [{\"name\": \"\xff\"}]}");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].find("invalid UTF-8") != std::string::npos);

    // Deep JSON nesting stops at the JSON limit, never overflows the stack.
    std::string deep = "{\"actors\": ";
    for (int i = 0; i < 100000; ++i)
        deep += "[";
    errs = errors(deep);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].find("deeper than 128") != std::string::npos);
}

TEST_CASE("format_tree shows every actor, argv and resolved stop") {
    const auto s = ok(R"({"actors": [{"name": "a", "cmd": ["echo", "hi there"], "daemon": true},
                                     {"name": "n", "actors": [{"name": "b", "cmd": ["true"], "timeout": "2s"}]}]})");
    CHECK(
        spec::format_tree(s) ==
        "root  nursery (2 actors, one_for_all)  stop=SIGTERM,1.6s,SIGKILL  output=prefix\n"
        "  root/a  cmd [\"echo\",\"hi there\"]  daemon  stop=SIGTERM,1.6s,SIGKILL  output=prefix\n"
        "  root/n  nursery (1 actor, one_for_all)  stop=SIGTERM,1.6s,SIGKILL  output=prefix\n"
        "    root/n/b  cmd [\"true\"]  stop=SIGTERM,1.6s,SIGKILL  timeout=2s  output=prefix\n");
}

TEST_CASE("subtree_json round-trips a nursery with every field resolved") {
    const auto s = ok(R"({"stop": ["SIGINT", "1s"], "output": "null", "actors": [
      {"name": "etl", "actors": [
        {"name": "x", "cmd": ["sh", "-c", "echo \"hi\""], "env": {"A": "1"}, "env_clear": true,
         "cwd": "/tmp", "stdin": "inherit", "timeout": "2s", "daemon": true},
        {"name": "deep", "output": {"file": "/tmp/o"}, "actors": [{"name": "y", "cmd": ["true"]}]}
      ]}]})");
    const auto& etl = s.root.actors[0];
    auto again = spec::parse(spec::subtree_json(etl));
    REQUIRE(again.errors.empty());
    spec::Actor copy = again.spec->root;
    spec::set_paths(copy, etl.path);
    CHECK(copy.path == "root/etl");
    CHECK(copy.actors[0].path == "root/etl/x");
    CHECK(copy.actors[1].actors[0].path == "root/etl/deep/y");
    spec::Spec a{etl, 0}, b{copy, 0};
    CHECK(spec::format_tree(a) == spec::format_tree(b));
}

TEST_CASE("restart fields: policies, backoff, success codes, strategies, intensity, max_running") {
    const auto s = ok(R"({"strategy": "one_for_one", "intensity": "3/2s", "max_running": 4,
      "backoff": {"initial": "50ms", "max": "1s"}, "actors": [
        {"name": "a", "cmd": ["x"], "restart": "on_failure", "success_exit_codes": [2, 0]},
        {"name": "b", "cmd": ["x"], "restart": "always", "backoff": "250ms"},
        {"name": "n", "strategy": "rest_for_one", "intensity": "unlimited", "actors": [
          {"name": "c", "cmd": ["x"]}]}]})");
    const auto& root = s.root;
    CHECK(root.strategy == spec::Strategy::one_for_one);
    CHECK(root.intensity == Intensity{3, 2s, false});
    CHECK(root.max_running == std::size_t{4});
    const auto& a = root.actors[0];
    CHECK(a.restart == RestartPolicy::on_failure);
    CHECK(a.success_exit_codes == std::vector<int>{0, 2});
    CHECK(a.success(2));
    CHECK_FALSE(a.success(1));
    CHECK(a.backoff == Backoff{50ms, 1s}); // inherited from the root
    const auto& b = root.actors[1];
    CHECK(b.restart == RestartPolicy::always);
    CHECK(b.backoff == Backoff{250ms, 250ms}); // one duration: a fixed delay
    const auto& n = root.actors[2];
    CHECK(n.strategy == spec::Strategy::rest_for_one);
    CHECK(n.intensity.unlimited);
    CHECK_FALSE(n.max_running);
    CHECK(n.restart == RestartPolicy::never);
    CHECK(n.actors[0].backoff == Backoff{50ms, 1s}); // inherited two levels down
    CHECK(n.actors[0].success_exit_codes == std::vector<int>{0});
    // Defaults: never restarted, 100ms doubling to 10s, 5/10s, one_for_all.
    const auto d = ok(actor(R"("cmd": ["x"])"));
    CHECK(d.root.actors[0].restart == RestartPolicy::never);
    CHECK(d.root.actors[0].backoff == Backoff{100ms, 10s});
    CHECK(d.root.intensity == Intensity{5, 10s, false});
    CHECK(d.root.strategy == spec::Strategy::one_for_all);
}

TEST_CASE("-j sets the root's max_running unless the spec gives one") {
    spec::Defaults defaults;
    defaults.max_running = 2;
    CHECK(ok(actor(R"("cmd": ["x"])"), defaults).root.max_running == std::size_t{2});
    CHECK(ok(R"({"max_running": 7, "actors": [{"name": "n", "actors": []}]})", defaults)
              .root.max_running == std::size_t{7});
    // Only the root: a nested nursery stays unlimited.
    CHECK_FALSE(
        ok(R"({"actors": [{"name": "n", "actors": []}]})", defaults).root.actors[0].max_running);
}

TEST_CASE("restart fields: every bad value is an error that says what is allowed") {
    one_error(actor(R"("cmd": ["x"], "restart": "permanent")"),
              "t.json:1:52: /actors/0/restart: unknown restart policy 'permanent'; allowed: "
              "\"never\", \"on_failure\", \"always\"");
    one_error(actor(R"("cmd": ["x"], "restart": true)"),
              "t.json:1:52: /actors/0/restart: must be \"never\"");
    one_error(actor(R"("cmd": ["x"], "backoff": "fast")"),
              "t.json:1:52: /actors/0/backoff: 'fast'");
    one_error(actor(R"("cmd": ["x"], "backoff": {"initial": "2s", "max": "1s"})"),
              "t.json:1:52: /actors/0/backoff: initial (2s) is longer than max (1s)");
    one_error(actor(R"("cmd": ["x"], "backoff": {"min": "1s"})"),
              "t.json:1:53: /actors/0/backoff/min: unknown field 'min' in backoff; allowed: "
              "initial, max");
    one_error(actor(R"("cmd": ["x"], "backoff": 5)"),
              "t.json:1:52: /actors/0/backoff: must be a duration (a fixed delay)");
    one_error(actor(R"("cmd": ["x"], "success_exit_codes": [])"),
              "t.json:1:63: /actors/0/success_exit_codes: is empty");
    one_error(actor(R"("cmd": ["x"], "success_exit_codes": [0, 256])"),
              "t.json:1:67: /actors/0/success_exit_codes/1: 256 is not an exit code; allowed: "
              "whole numbers 0 to 255");
    one_error(actor(R"("cmd": ["x"], "success_exit_codes": [1, 1])"),
              "t.json:1:67: /actors/0/success_exit_codes/1: exit code 1 is listed twice");
    one_error(actor(R"("cmd": ["x"], "success_exit_codes": ["0"])"),
              "t.json:1:64: /actors/0/success_exit_codes/0: a string is not an exit code");
    one_error(actor(R"("actors": [], "success_exit_codes": [0])"),
              "t.json:1:41: /actors/0/success_exit_codes: \"success_exit_codes\" applies to "
              "command actors only");
    one_error(actor(R"("cmd": ["x"], "intensity": "5/10s")"),
              "t.json:1:41: /actors/0/intensity: \"intensity\" applies to nurseries only");
    one_error(actor(R"("cmd": ["x"], "max_running": 2)"),
              "t.json:1:41: /actors/0/max_running: \"max_running\" applies to nurseries only");
    one_error(actor(R"("actors": [], "intensity": "5")"),
              "t.json:1:54: /actors/0/intensity: invalid intensity '5': not an intensity; use "
              "\"N/DUR\"");
    one_error(actor(R"("actors": [], "intensity": "5/0s")"),
              "t.json:1:54: /actors/0/intensity: invalid intensity '5/0s': the period after '/' "
              "must be longer than 0s");
    one_error(actor(R"("actors": [], "max_running": 0)"),
              "t.json:1:56: /actors/0/max_running: 0 is not a whole number of children, at least "
              "1");
    one_error(actor(R"("actors": [], "max_running": 1.5)"),
              "t.json:1:56: /actors/0/max_running: 1.5 is not a whole number");
    one_error(actor(R"("actors": [], "max_running": "2")"),
              "t.json:1:56: /actors/0/max_running: must be a whole number of children");
}

TEST_CASE("subtree_json carries the restart fields to a re-executed sub-supervisor") {
    const auto s = ok(R"({"actors": [{"name": "n", "strategy": "one_for_one", "intensity": "2/3s",
      "max_running": 3, "backoff": {"initial": "0s", "max": "4s"}, "actors": [
        {"name": "a", "cmd": ["x"], "restart": "always", "success_exit_codes": [0, 3]},
        {"name": "m", "restart": "on_failure", "actors": [{"name": "b", "cmd": ["y"]}]}]}]})");
    const auto& n = s.root.actors[0];
    auto again = spec::parse(spec::subtree_json(n));
    REQUIRE(again.errors.empty());
    const spec::Actor& copy = again.spec->root;
    CHECK(copy.strategy == spec::Strategy::one_for_one);
    CHECK(copy.intensity == Intensity{2, 3s, false});
    CHECK(copy.max_running == std::size_t{3});
    CHECK(copy.actors[0].restart == RestartPolicy::always);
    CHECK(copy.actors[0].success_exit_codes == std::vector<int>{0, 3});
    CHECK(copy.actors[0].backoff == Backoff{0s, 4s});
    CHECK(copy.actors[1].restart == RestartPolicy::on_failure);
    CHECK(copy.actors[1].actors[0].backoff == Backoff{0s, 4s});
    spec::Actor renamed = copy;
    spec::set_paths(renamed, n.path);
    spec::Spec a{n, 0}, b{renamed, 0};
    CHECK(spec::format_tree(a) == spec::format_tree(b));
}

TEST_CASE("a restart policy under one_for_all with siblings is valid, with a warning at it") {
    auto r = spec::parse(R"({"actors": [{"name": "a", "cmd": ["x"]},
  {"name": "b", "cmd": ["x"], "restart": "on_failure"}]})");
    REQUIRE(r.spec);
    REQUIRE(r.warnings.size() == 1);
    CHECK(format_diagnostic("t.json", r.warnings[0]) ==
          "t.json:2:31: /actors/1/restart: warning: a restart of 'b' under one_for_all stops and "
          "restarts its 1 sibling too; for independent children give 'root' \"strategy\": "
          "\"one_for_one\"");
    // one_for_one, rest_for_one (its meaning is the later siblings) or an
    // only child: nothing to say.
    CHECK(spec::parse(R"({"strategy": "one_for_one", "actors": [{"name": "a", "cmd": ["x"]},
  {"name": "b", "cmd": ["x"], "restart": "always"}]})")
              .warnings.empty());
    CHECK(spec::parse(R"({"actors": [{"name": "b", "cmd": ["x"], "restart": "always"}]})")
              .warnings.empty());
}

TEST_CASE("a stop sequence may be a string, as --stop takes it, and a lone signal") {
    const auto s = ok(R"({"stop": "TERM", "actors": [
        {"name": "a", "cmd": ["x"]},
        {"name": "b", "cmd": ["x"], "stop": "SIGINT, 500ms, SIGTERM, 1s"},
        {"name": "c", "cmd": ["x"], "stop": "SIGRTMIN+2"}]})");
    CHECK(s.root.actors[0].stop.to_string() == "SIGTERM,1.6s,SIGKILL");
    CHECK(s.root.actors[1].stop.to_string() == "SIGINT,500ms,SIGTERM,1s,SIGKILL");
    CHECK(s.root.actors[2].stop.to_string() == "SIGRTMIN+2,1.6s,SIGKILL");
}

TEST_CASE("${NAME} in env values: checked by parse, expanded by resolve") {
    const auto lookup = [](std::string_view name) -> std::optional<std::string> {
        if (name == "HOME") return "/home/u";
        if (name == "EMPTY") return "";
        return std::nullopt;
    };
    std::string why;
    CHECK(spec::expand_env("${HOME}/bin:$$x:${NOPE}:${EMPTY}:$HOME:$", lookup, &why) ==
          "/home/u/bin:$x:::$HOME:$");
    CHECK(spec::expand_env("$${HOME}", lookup, &why) == "${HOME}");
    CHECK_FALSE(spec::expand_env("${HOME", lookup, &why));
    CHECK(why.find("no closing '}'") != std::string::npos);
    CHECK_FALSE(spec::expand_env("${}", lookup, &why));
    CHECK_FALSE(spec::expand_env("${A-B}", lookup, &why));
    CHECK(why.find("'${A-B}' is not a variable name") != std::string::npos);
    one_error(actor(R"("cmd": ["x"], "env": {"P": "a${9}"})"),
              "t.json:1:54: /actors/0/env/P: '${9}' is not a variable name");

    auto s = ok(R"({"actors": [
        {"name": "a", "cmd": ["./run"], "cwd": "work", "env": {"H": "${HOME}/x"},
         "output": {"file": "logs/a.log"}},
        {"name": "b", "cmd": ["bin/tool"], "cwd": "/abs"},
        {"name": "c", "cmd": ["tool"]},
        {"name": "n", "output": {"file": "/var/log/n.log"}, "actors": [
          {"name": "d", "cmd": ["../d"]}]}]})");
    spec::resolve(s, "/srv/project", lookup);
    const auto& a = s.root.actors;
    CHECK(a[0].cwd == "/srv/project/work");
    CHECK(a[0].argv[0] == "/srv/project/work/run"); // from its cwd
    CHECK(a[0].env[0].second == "/home/u/x");
    CHECK(a[0].output.path == "/srv/project/logs/a.log");
    CHECK(a[1].argv[0] == "/abs/bin/tool");
    CHECK(a[2].argv[0] == "tool"); // PATH lookup, untouched
    CHECK(a[3].output.path == "/var/log/n.log");
    CHECK(a[3].actors[0].argv[0] == "/srv/project/../d");
}
