// SPDX-License-Identifier: MIT
// The spec's `after`, `ready` and `watchdog`: forms, defaults, every error
// at its pointer, cycles spelled out, and a subtree that survives its trip
// through subtree_json (a re-executed sub-supervisor reads it back).
#include "forkspawn/spec.hpp"

#include "spec_helpers.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace forkspawn;
using namespace forkspawn::test;
using namespace std::chrono_literals;

namespace {

// Three siblings a, b, c; `b` gets `fields`.
std::string trio(std::string_view fields, std::string_view c_fields = "") {
    return fmt::format(R"({{"actors": [{{"name": "a", "cmd": ["true"]}},
        {{"name": "b", "cmd": ["true"]{}{}}},
        {{"name": "c", "cmd": ["true"]{}{}}}]}})",
                       fields.empty() ? "" : ", ", fields, c_fields.empty() ? "" : ", ", c_fields);
}

} // namespace

TEST_CASE("after: an object of conditions, or an array meaning ready") {
    auto s = ok(trio(R"("after": {"a": "started", "c": "completed"})"));
    const auto& b = s.root.actors[1];
    REQUIRE(b.after.size() == 2);
    CHECK(b.after[0] == After{"a", 0, AfterCondition::started});
    CHECK(b.after[1] == After{"c", 2, AfterCondition::completed});

    s = ok(trio(R"("after": ["a", "c"])"));
    REQUIRE(s.root.actors[1].after.size() == 2);
    CHECK(s.root.actors[1].after[0] == After{"a", 0, AfterCondition::ready});
    CHECK(s.root.actors[1].after[1] == After{"c", 2, AfterCondition::ready});
    CHECK(s.root.actors[0].after.empty());
}

TEST_CASE("after: unknown siblings, itself, bad conditions, each at its pointer") {
    auto errs = errors(trio(R"("after": {"x": "ready", "b": "ended", "a": "done"})"));
    REQUIRE(errs.size() == 3);
    CHECK(has(errs, "/actors/1/after/x: 'x' is not a sibling of 'b'; its siblings: 'a', 'c'"));
    CHECK(has(errs, "/actors/1/after/b: 'b' depends on itself"));
    CHECK(has(errs, "/actors/1/after/a: unknown condition 'done'; allowed: \"started\""));
    errs = errors(trio(R"("after": ["a", 3])"));
    REQUIRE(errs.size() == 1);
    CHECK(has(errs, "/actors/1/after/1: must be a sibling's name"));
    errs = errors(R"({"after": ["a"], "actors": [{"name": "a", "cmd": ["true"]}]})");
    CHECK(has(errs, "/after: not allowed on the root"));
}

TEST_CASE("after: a cycle is spelled out once, where it starts, a chain is fine") {
    ok(trio(R"("after": ["a"])", R"("after": {"b": "completed"})"));
    auto errs = errors(R"({"actors": [
        {"name": "a", "cmd": ["true"], "after": ["c"]},
        {"name": "b", "cmd": ["true"], "after": ["a"]},
        {"name": "c", "cmd": ["true"], "after": {"b": "ended"}},
        {"name": "d", "cmd": ["true"], "after": ["a"]}]})");
    REQUIRE(errs.size() == 1);
    CHECK(has(errs, "t.json:2:40: /actors/0/after: dependency cycle: 'a' -> 'c' -> 'b' -> 'a'"));
    // Two separate cycles: two errors; an unknown name does not hide one.
    errs = errors(R"({"actors": [
        {"name": "a", "cmd": ["true"], "after": ["b", "zz"]},
        {"name": "b", "cmd": ["true"], "after": ["a"]},
        {"name": "c", "cmd": ["true"], "after": ["d"]},
        {"name": "d", "cmd": ["true"], "after": ["c"]}]})");
    REQUIRE(errs.size() == 3);
    CHECK(has(errs, "'a' -> 'b' -> 'a'"));
    CHECK(has(errs, "'c' -> 'd' -> 'c'"));
    CHECK(has(errs, "'zz' is not a sibling"));
}

TEST_CASE("ready: each source, its defaults and its timeout") {
    auto one = [](std::string_view ready) {
        auto s = ok(trio(fmt::format(R"("ready": {})", ready)));
        return s.root.actors[1].ready;
    };
    CHECK(ok(trio("")).root.actors[1].ready.source == Ready::Source::none);
    auto r = one(R"({"notify": true})");
    CHECK(r.source == Ready::Source::notify);
    CHECK(r.timeout == 90s);
    r = one(R"({"fd": 3, "timeout": "5s"})");
    CHECK(r.source == Ready::Source::fd);
    CHECK(r.fd == 3);
    CHECK(r.timeout == 5s);
    r = one(R"({"output": "listening on \\d+"})");
    CHECK(r.source == Ready::Source::output);
    CHECK(r.pattern == "listening on \\d+");
    r = one(R"({"exec": ["pg_isready", "-q"]})");
    CHECK(r.source == Ready::Source::exec);
    CHECK(r.argv == std::vector<std::string>{"pg_isready", "-q"});
    CHECK(r.interval == 1s);
    r = one(R"({"tcp": "127.0.0.1:8000", "interval": "50ms"})");
    CHECK(r.source == Ready::Source::tcp);
    CHECK(r.host == "127.0.0.1");
    CHECK(r.port == 8000);
    CHECK(r.interval == 50ms);
    r = one(R"({"tcp": "localhost:1"})");
    CHECK(r.host == "127.0.0.1");
    CHECK(r.interval == 200ms);
    r = one(R"({"tcp": "[::1]:65535"})");
    CHECK(r.host == "::1");
    CHECK(r.port == 65535);
}

TEST_CASE("ready: what is refused, and why") {
    auto errs_of = [](std::string_view ready, std::string_view more = "") {
        return errors(trio(fmt::format(R"("ready": {}{})", ready, more)));
    };
    CHECK(has(errs_of("{}"), "/actors/1/ready: no readiness source"));
    CHECK(has(errs_of("true"), "/actors/1/ready: must be an object"));
    CHECK(has(errs_of(R"({"notify": true, "fd": 3})"), "/actors/1/ready/fd: \"ready\" takes one"));
    CHECK(has(errs_of(R"({"notify": false})"), "must be true"));
    CHECK(has(errs_of(R"({"fd": 2})"), "must be an fd number from 3 to 9"));
    CHECK(has(errs_of(R"({"fd": 10})"), "must be an fd number from 3 to 9"));
    CHECK(has(errs_of(R"({"output": "(a"})"), "invalid regular expression: missing )"));
    CHECK(has(errs_of(R"({"output": "(a)\\1"})"), "invalid regular expression"));
    CHECK(has(errs_of(R"({"output": "up"})", R"(, "output": "inherit")"),
              "/actors/1/ready/output: \"ready\": {\"output\": ...} needs"));
    CHECK(has(errs_of(R"({"exec": []})"), "/actors/1/ready/exec"));
    CHECK(has(errs_of(R"({"tcp": "db:5432"})"), "invalid host 'db'"));
    CHECK(has(errs_of(R"({"tcp": "127.0.0.1"})"), "no port"));
    CHECK(has(errs_of(R"({"tcp": "127.0.0.1:0"})"), "invalid port '0'"));
    CHECK(has(errs_of(R"({"tcp": "127.0.0.1:99999"})"), "invalid port"));
    CHECK(has(errs_of(R"({"notify": true, "interval": "1s"})"),
              "\"interval\" applies to \"exec\" and \"tcp\""));
    CHECK(has(errs_of(R"({"notify": true, "every": "1s"})"), "unknown field 'every'"));
    CHECK(has(errs_of(R"({"notify": true, "timeout": "0s"})"), "/actors/1/ready/timeout"));
    // A nursery is probed from outside only.
    auto errs = errors(R"({"actors": [{"name": "n", "ready": {"notify": true},
        "actors": [{"name": "a", "cmd": ["true"]}]}]})");
    CHECK(has(errs, "\"notify\" readiness applies to command actors only"));
    ok(R"({"actors": [{"name": "n", "ready": {"tcp": "127.0.0.1:80"},
        "actors": [{"name": "a", "cmd": ["true"]}]}]})");
}

TEST_CASE("watchdog: a duration, with ready.notify only, on commands only") {
    auto s = ok(trio(R"("ready": {"notify": true}, "watchdog": "2s")"));
    CHECK(s.root.actors[1].watchdog == 2s);
    CHECK(has(errors(trio(R"("watchdog": "2s")")), "\"watchdog\" needs \"ready\": {\"notify\""));
    CHECK(has(errors(trio(R"("ready": {"fd": 3}, "watchdog": "2s")")), "\"watchdog\" needs"));
    CHECK(has(errors(R"({"actors": [{"name": "n", "watchdog": "1s",
        "actors": [{"name": "a", "cmd": ["true"]}]}]})"),
              "\"watchdog\" applies to command actors only"));
}

TEST_CASE("after, ready and watchdog survive subtree_json and show in the tree") {
    const auto s = ok(R"({"actors": [{"name": "n", "actors": [
        {"name": "db", "cmd": ["db"], "ready": {"notify": true, "timeout": "30s"}, "watchdog": "5s"},
        {"name": "w", "cmd": ["w"], "after": {"db": "ready"}, "ready": {"fd": 4}},
        {"name": "o", "cmd": ["o"], "after": ["w"], "ready": {"output": "^up$"}},
        {"name": "p", "cmd": ["p"], "ready": {"exec": ["probe", "x"], "interval": "2s"}},
        {"name": "t", "cmd": ["t"], "after": {"p": "completed", "o": "ended"},
         "ready": {"tcp": "[::1]:8080"}}]}]})");
    const auto& n = s.root.actors[0];
    auto again = spec::parse(spec::subtree_json(n));
    REQUIRE(again.errors.empty());
    const auto& m = again.spec->root;
    REQUIRE(m.actors.size() == n.actors.size());
    for (std::size_t i = 0; i < n.actors.size(); ++i) {
        // The same conditions (a JSON object's members may come back in
        // another order, which means nothing).
        auto sorted = [](std::vector<After> v) {
            std::sort(v.begin(), v.end(),
                      [](const After& x, const After& y) { return x.sibling < y.sibling; });
            return v;
        };
        CHECK(sorted(m.actors[i].after) == sorted(n.actors[i].after));
        CHECK(m.actors[i].ready == n.actors[i].ready);
        CHECK(m.actors[i].watchdog == n.actors[i].watchdog);
    }
    const std::string tree = spec::format_tree(s);
    CHECK(tree.find("ready=notify within 30s  watchdog=5s") != std::string::npos);
    CHECK(tree.find("after=db:ready  ready=fd 4 within 90s") != std::string::npos);
    CHECK(tree.find("ready=exec [\"probe\",\"x\"] every 2s") != std::string::npos);
    CHECK(tree.find("after=p:completed,o:ended  ready=tcp [::1]:8080 every 200ms") !=
          std::string::npos);
}
