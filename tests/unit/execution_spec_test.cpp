// SPDX-License-Identifier: MIT
// The spec's execution fields: `kill` (inherited), `user`, `group`, `umask`,
// `nice` and `rlimits` — forms, every error at its pointer with what is
// allowed, and a subtree that keeps them through subtree_json.
#include "forkspawn/command.hpp"
#include "forkspawn/spec.hpp"

#include "spec_helpers.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sys/resource.h>

using namespace forkspawn;
using namespace forkspawn::test;

namespace {

std::string one(std::string_view fields) {
    return fmt::format(R"({{"actors": [{{"name": "a", "cmd": ["true"], {}}}]}})", fields);
}

} // namespace

TEST_CASE("kill: group by default, a mode on a nursery is inherited, a child's own wins") {
    auto s = ok(R"({"kill": "mixed", "actors": [
        {"name": "a", "cmd": ["true"]},
        {"name": "n", "actors": [{"name": "b", "cmd": ["true"]},
                                 {"name": "c", "cmd": ["true"], "kill": "group"}]},
        {"name": "d", "cmd": ["true"], "kill": "main"}]})");
    CHECK(s.root.actors[0].kill == spec::KillMode::mixed);
    CHECK(s.root.actors[1].actors[0].kill == spec::KillMode::mixed);
    CHECK(s.root.actors[1].actors[1].kill == spec::KillMode::group);
    CHECK(s.root.actors[2].kill == spec::KillMode::main);
    CHECK(ok(one(R"("daemon": false)")).root.actors[0].kill == spec::KillMode::group);

    const auto e = errors(one(R"("kill": "process")"));
    CHECK(has(e, "/actors/0/kill: unknown kill mode 'process'; allowed: \"group\", "
                 "\"main\", \"mixed\""));
    CHECK(has(errors(one(R"("kill": 1)")), "/actors/0/kill: must be"));
}

TEST_CASE("user and group: names or numbers, checked for form, command actors only") {
    auto s = ok(one(R"("user": "www-data", "group": 33)"));
    const auto& e = s.root.actors[0].execution;
    REQUIRE(e.user);
    CHECK(e.user->name == "www-data");
    CHECK_FALSE(e.user->id);
    REQUIRE(e.group);
    CHECK(e.group->id == 33u);
    // A number written as a string is a number too.
    CHECK(ok(one(R"("user": "65534")")).root.actors[0].execution.user->id == 65534u);

    CHECK(has(errors(one(R"("user": "")")), "/actors/0/user: the user name is empty"));
    CHECK(has(errors(one(R"("user": "-x")")), "/actors/0/user: invalid user name '-x'"));
    CHECK(has(errors(one(R"("group": "a b")")), "/actors/0/group: invalid group name 'a b'"));
    CHECK(has(errors(one(R"("user": 4294967295)")),
              "/actors/0/user: 4294967295 is not a user id; allowed: 0 to 4294967294"));
    CHECK(has(errors(one(R"("user": -1)")), "/actors/0/user: -1 is not a user id"));
    CHECK(
        has(errors(one(R"("user": "4294967295")")), "/actors/0/user: 4294967295 is not a user id"));
    CHECK(has(errors(one(R"("user": true)")), "/actors/0/user: must be a user name or a number"));
    CHECK(has(errors(R"({"actors": [{"name": "n", "user": "x", "actors": []}]})"),
              "/actors/0/user: \"user\" applies to command actors only (this is a nursery)"));
}

TEST_CASE("umask and nice: octal strings and -20 to 19") {
    auto s = ok(one(R"("umask": "0027", "nice": -5)"));
    CHECK(s.root.actors[0].execution.umask == 027u);
    CHECK(s.root.actors[0].execution.nice == -5);
    CHECK(ok(one(R"("umask": "022")")).root.actors[0].execution.umask == 022u);
    CHECK(ok(one(R"("umask": "0")")).root.actors[0].execution.umask == 0u);
    CHECK(ok(one(R"("umask": "77")")).root.actors[0].execution.umask == 077u);
    CHECK(has(errors(one(R"("umask": "")")), "invalid umask ''"));
    CHECK(has(errors(one(R"("umask": "00777")")), "invalid umask '00777'"));
    CHECK(has(errors(one(R"("umask": "0089")")), "/actors/0/umask: invalid umask '0089'"));
    CHECK(has(errors(one(R"("umask": "1777")")), "invalid umask '1777'"));
    CHECK(has(errors(one(R"("umask": 22)")), "/actors/0/umask: must be an octal string"));
    CHECK(has(errors(one(R"("nice": 20)")),
              "/actors/0/nice: 20 is not a whole number from -20 (most favourable) to 19"));
    CHECK(has(errors(one(R"("nice": 1.5)")), "1.5 is not a whole number"));
}

TEST_CASE("rlimits: numbers, sizes, durations, infinity, [soft, hard]") {
    auto s = ok(one(
        R"("rlimits": {"nofile": [256, 1024], "core": 0, "as": "2G", "cpu": "10m", "stack": "infinity", "nproc": "unlimited"})"));
    CHECK(ok(one(R"("rlimits": {"cpu": 0})")).root.actors[0].execution.rlimits.size() == 1);
    const auto& r = s.root.actors[0].execution.rlimits;
    REQUIRE(r.size() == 6);
    // Kept in name order.
    CHECK(r[0] == spec::Rlimit{RLIMIT_AS, 2ull << 30, 2ull << 30});
    CHECK(r[1] == spec::Rlimit{RLIMIT_CORE, 0, 0});
    CHECK(r[2] == spec::Rlimit{RLIMIT_CPU, 600, 600});
    CHECK(r[3] == spec::Rlimit{RLIMIT_NOFILE, 256, 1024});
    CHECK(r[4] == spec::Rlimit{RLIMIT_NPROC, RLIM_INFINITY, RLIM_INFINITY});
    CHECK(r[5] == spec::Rlimit{RLIMIT_STACK, RLIM_INFINITY, RLIM_INFINITY});

    CHECK(has(errors(one(R"("rlimits": {"files": 10})")),
              "/actors/0/rlimits/files: unknown limit 'files'; allowed: as, core, cpu, data, "
              "fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, "
              "sigpending, stack"));
    CHECK(has(errors(one(R"("rlimits": {"nofile": [2048, 1024]})")),
              "/actors/0/rlimits/nofile: the soft limit (2048) is above the hard limit (1024)"));
    CHECK(has(errors(one(R"("rlimits": {"nofile": "2G"})")),
              "/actors/0/rlimits/nofile: invalid nofile limit '2G'; allowed: a whole number, or "
              "\"infinity\""));
    CHECK(has(errors(one(R"("rlimits": {"as": "2X"})")), "invalid as limit '2X'"));
    CHECK(has(errors(one(R"("rlimits": {"as": "99999999999T"})")), "is too large"));
    CHECK(has(errors(one(R"("rlimits": {"nofile": -1})")), "invalid nofile limit -1"));
    CHECK(has(errors(one(R"("rlimits": {"nofile": [1]})")),
              "/actors/0/rlimits/nofile: give one value (soft = hard) or [soft, hard]"));
    CHECK(has(errors(one(R"("rlimits": {"nofile": 1, "nofile": 2})")), "duplicate limit"));
    CHECK(has(errors(one(R"("rlimits": {"cpu": "10ms"})")), "is not a whole number of seconds"));
    CHECK(has(errors(one(R"("rlimits": {"cpu": "1.5s"})")), "is not a whole number of seconds"));
    CHECK(has(errors(one(R"("rlimits": {"nofile": "infinity"})")),
              "/actors/0/rlimits/nofile: nofile cannot be unlimited"));
    CHECK(has(errors(one(R"("rlimits": [])")), "/actors/0/rlimits: must be an object of limits"));
}

TEST_CASE("execution fields survive subtree_json and show in the normalized tree") {
    const auto s = ok(R"({"actors": [{"name": "n", "kill": "main", "actors": [
        {"name": "a", "cmd": ["true"], "user": "nobody", "group": 65534, "umask": "0077",
         "nice": 3, "rlimits": {"nofile": [64, 128], "as": "1G", "cpu": 5}}]}]})");
    const auto again = spec::parse(spec::subtree_json(s.root.actors[0]));
    REQUIRE(again.errors.empty());
    const spec::Actor& a = again.spec->root.actors[0];
    CHECK(a.kill == spec::KillMode::main);
    CHECK(a.execution == s.root.actors[0].actors[0].execution);
    const std::string tree = spec::format_tree(s);
    CHECK(tree.find("kill=main") != std::string::npos);
    CHECK(tree.find("user=nobody  group=65534  umask=0077  nice=3  "
                    "rlimits=as:1G,cpu:5,nofile:64/128") != std::string::npos);
}

TEST_CASE("resolve_identity: a user's ids and groups, a group alone, a bare uid, unknown names") {
    spec::Execution e;
    e.user = spec::Principal{"root", std::nullopt};
    backend::IdentityError why;
    auto id = backend::resolve_identity(e, &why);
    REQUIRE(id);
    CHECK(id->uid == 0u);
    CHECK(id->gid == 0u);
    REQUIRE(id->groups);
    REQUIRE_FALSE(id->groups->empty());
    CHECK(id->groups->front() == 0u);
    CHECK(std::find(id->env.begin(), id->env.end(), "USER=root") != id->env.end());

    e.group = spec::Principal{{}, 12345};
    id = backend::resolve_identity(e, &why);
    REQUIRE(id);
    CHECK(id->gid == 12345u); // the group given wins over the user's own

    spec::Execution bare;
    bare.user = spec::Principal{{}, 4000000};
    id = backend::resolve_identity(bare, &why);
    REQUIRE(id);
    CHECK(id->uid == 4000000u);
    CHECK(id->gid == 4000000u); // never root's group
    REQUIRE(id->groups);
    CHECK(id->groups->empty()); // never root's supplementary groups
    CHECK(id->env.empty());

    spec::Execution group_only;
    group_only.group = spec::Principal{{}, 7};
    id = backend::resolve_identity(group_only, &why);
    REQUIRE(id);
    CHECK_FALSE(id->uid);
    CHECK(id->gid == 7u);
    CHECK(*id->groups == std::vector<gid_t>{7});

    spec::Execution unknown;
    unknown.user = spec::Principal{"no-such-user-forkspawn", std::nullopt};
    CHECK_FALSE(backend::resolve_identity(unknown, &why));
    CHECK(why.what == "user 'no-such-user-forkspawn'");
    CHECK(why.reason == "no such user");
    unknown = {};
    unknown.group = spec::Principal{"no-such-group-forkspawn", std::nullopt};
    CHECK_FALSE(backend::resolve_identity(unknown, &why));
    CHECK(why.what == "group 'no-such-group-forkspawn'");
    CHECK(why.reason == "no such group");
}
