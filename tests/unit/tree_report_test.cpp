// SPDX-License-Identifier: MIT
// The root's report of the whole tree, and how it completes the entries of
// actors whose end never reached it.
#include "forkspawn/tree_report.hpp"

#include <doctest/doctest.h>

using namespace forkspawn;
using forkspawn::report::Outcome;
using forkspawn::supervise::TreeReport;

namespace {

spec::Actor actor(const std::string& path, std::vector<spec::Actor> children = {}) {
    spec::Actor a;
    a.path = path;
    a.name = path.substr(path.rfind('/') + 1);
    a.kind = children.empty() ? spec::Kind::command : spec::Kind::nursery;
    a.actors = std::move(children);
    return a;
}

report::ActorReport ended(const std::string& path, Outcome outcome, std::optional<long> pid) {
    report::ActorReport r;
    r.path = path;
    r.outcome = outcome;
    r.pid = pid;
    r.ended_ms = 50;
    return r;
}

} // namespace

TEST_CASE("tree report: entries in spec order, depth-first, what ended is kept as reported") {
    const spec::Actor root = actor("root", {actor("root/a"), actor("root/n", {actor("root/n/b")})});
    TreeReport tree(root, "trio");
    const auto fresh = tree.finish();
    REQUIRE(fresh.size() == 3);
    CHECK(fresh[1].kind == report::Kind::nursery);
    CHECK(fresh[2].kind == report::Kind::cmd);
    CHECK(fresh[2].backend == "trio");
    CHECK(fresh[2].name == "b");
    tree.spawned("root/a", 10, 1.5);
    tree.spawned("root/nope", 99, 1); // not in the tree: ignored
    tree.reaped(ended("root/a", Outcome::completed, 10));
    tree.spawned("root/n", 11, 2);
    tree.spawned("root/n/b", 12, 3);
    tree.reaped(ended("root/n/b", Outcome::completed, 12));
    tree.reaped(ended("root/n", Outcome::completed, 11));
    const auto out = tree.finish();
    REQUIRE(out.size() == 3);
    CHECK(out[0].path == "root/a");
    CHECK(out[1].path == "root/n");
    CHECK(out[2].path == "root/n/b");
    CHECK(out[0].started_ms == std::nullopt); // the reaped report replaces the entry whole
    for (const auto& e : out) {
        CHECK(e.outcome == Outcome::completed);
        CHECK_FALSE(e.error);
        CHECK_FALSE(e.cancel_reason);
    }
}

TEST_CASE("tree report: actors whose end never came, below a supervisor that died") {
    const spec::Actor root =
        actor("root", {actor("root/n", {actor("root/n/b"), actor("root/n/c")}),
                       actor("root/m", {actor("root/m/d")})});
    TreeReport tree(root, "subint_forkserver");
    tree.spawned("root/n", 11, 1);
    tree.spawned("root/n/b", 12, 2); // spawned, never reported ended
    // root/n/c: never reported at all.
    auto n = ended("root/n", Outcome::killed, 11);
    n.status = "signal=SIGKILL";
    tree.reaped(n);
    // root/m was cancelled before its spawn: root/m/d never started.
    auto m = ended("root/m", Outcome::not_started, std::nullopt);
    m.cancel_reason = "sibling_failed";
    tree.reaped(m);
    const auto out = tree.finish();
    REQUIRE(out.size() == 5);
    const auto& b = out[1];
    CHECK(b.path == "root/n/b");
    CHECK(b.outcome == Outcome::killed);
    CHECK(b.cancel_reason == "supervisor_killed");
    CHECK(b.pid == 12);
    const auto& c = out[2];
    CHECK(c.path == "root/n/c");
    CHECK(c.outcome == Outcome::not_started);
    REQUIRE(c.error);
    CHECK(c.error->starts_with("unknown:"));
    const auto& d = out[4];
    CHECK(d.path == "root/m/d");
    CHECK(d.outcome == Outcome::not_started);
    CHECK(d.cancel_reason == "sibling_failed");
    CHECK_FALSE(d.error);
}
