// SPDX-License-Identifier: MIT
// The grace a parent gives a sub-supervisor covers the longest chain of
// stops below it: dependents are reaped before what they depend on is
// signalled, so a chain's graces add up while independent children overlap.
#include "forkspawn/spec.hpp"
#include "supervise/supervisor_impl.hpp"

#include <doctest/doctest.h>

using namespace forkspawn;
using namespace std::chrono_literals;

namespace {

spec::Actor nursery(std::string_view text) {
    auto r = spec::parse(text);
    REQUIRE(r.errors.empty());
    return r.spec->root;
}

} // namespace

TEST_CASE("nursery grace: parallel children take the longest, a dependency chain the sum") {
    using supervise::k_nursery_margin;
    using supervise::nursery_grace;
    // Independent: 2s and 1s stop in parallel.
    auto n = nursery(R"({"actors": [
        {"name": "a", "cmd": ["x"], "stop": ["SIGTERM", "2s", "SIGKILL"]},
        {"name": "b", "cmd": ["x"], "stop": ["SIGTERM", "1s", "SIGKILL"]}]})");
    CHECK(nursery_grace(n) == 2s + k_nursery_margin);
    // b after a: b is reaped (up to 1s) before a gets its signal (up to 2s).
    n = nursery(R"({"actors": [
        {"name": "a", "cmd": ["x"], "stop": ["SIGTERM", "2s", "SIGKILL"]},
        {"name": "b", "cmd": ["x"], "stop": ["SIGTERM", "1s", "SIGKILL"], "after": ["a"]}]})");
    CHECK(nursery_grace(n) == 3s + k_nursery_margin);
    // A chain of three through every condition, and a long independent one.
    n = nursery(R"({"actors": [
        {"name": "db", "cmd": ["x"], "stop": ["SIGTERM", "1s", "SIGKILL"]},
        {"name": "mig", "cmd": ["x"], "stop": ["SIGTERM", "1s", "SIGKILL"], "after": {"db": "started"}},
        {"name": "web", "cmd": ["x"], "stop": ["SIGTERM", "1s", "SIGKILL"], "after": {"mig": "completed"}},
        {"name": "big", "cmd": ["x"], "stop": ["SIGTERM", "2500ms", "SIGKILL"]}]})");
    CHECK(nursery_grace(n) == 3s + k_nursery_margin);
    // A nested nursery in a chain counts with its own grace.
    n = nursery(R"({"actors": [
        {"name": "db", "cmd": ["x"], "stop": ["SIGTERM", "1s", "SIGKILL"]},
        {"name": "n", "after": ["db"], "actors": [
            {"name": "w", "cmd": ["x"], "stop": ["SIGTERM", "500ms", "SIGKILL"]}]}]})");
    CHECK(nursery_grace(n) == 1s + (500ms + k_nursery_margin) + k_nursery_margin);
}
