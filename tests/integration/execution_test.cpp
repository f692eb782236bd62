// SPDX-License-Identifier: MIT
// Kill modes and the actor's execution environment (DESIGN "Kill modes", the
// `user`, `group`, `umask`, `nice` and `rlimits` fields), end to end on every
// backend: what each mode signals, seen from inside the actor; the ids, groups
// and limits the actor sees; each child-side failure reported as its stage.
// Nothing is left behind after each.
#include "harness.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <grp.h>
#include <nlohmann/json.hpp>
#include <pwd.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace forkspawn::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

RunResult run_json(const json& spec, RunOptions options = {}) {
    options.args.insert(options.args.begin(), {"run", "--report=json"});
    options.args.push_back("-");
    options.stdin_data = spec.dump();
    return run(options);
}

// The words of `text`, as numbers.
std::vector<long> numbers(const std::string& text) {
    std::istringstream in(text);
    std::vector<long> out;
    long n;
    while (in >> n)
        out.push_back(n);
    return out;
}

// A master that drains its worker on SIGTERM: it passes the request on as
// SIGWINCH and waits for the worker to finish. The worker does not handle
// SIGTERM (it dies of it); on SIGWINCH it writes `drained` and exits 0. The
// master prints "worker up" once the worker runs.
json drain_master(const TempDir& dir, const std::string& kill) {
    const std::string worker = "trap 'echo drained > \"" + dir / "drained" +
                               "\"; exit 0' WINCH; echo up > \"" + dir / "up" +
                               "\"; while :; do sleep 0.05; done";
    return {{"name", "master"},
            {"kill", kill},
            {"daemon", true},
            {"ready", {{"output", "worker up"}}},
            {"stop", {"SIGTERM", "30s", "SIGKILL"}},
            {"cmd",
             {"sh", "-c",
              "sh -c \"$0\" & w=$!; trap 'kill -WINCH $w; wait $w; exit 0' TERM; read x < \"$1\"; "
              "echo worker up; wait $w; exit 3",
              worker, dir / "up"}}};
}

} // namespace

TEST_CASE("kill mixed: SIGTERM reaches the main process only, so it can drain its worker") {
    for (const std::string mode : {"mixed", "group"}) {
        CAPTURE(mode);
        TempDir dir("kill");
        dir.fifo("up");
        // The work is done once the master says its worker is up: the
        // master (a daemon) is then stopped.
        json work = {{"name", "work"}, {"cmd", {"true"}}, {"after", {{"master", "ready"}}}};
        const auto r = run_json({{"actors", {drain_master(dir, mode), work}}});
        INFO(r.err);
        CHECK(r.exit_code == 0);
        const json m = entry(parse_report(r.out), "root/master");
        CHECK(m["cancel_reason"] == "nursery_done");
        CHECK(m["stop"]["sent"] == json{"SIGTERM"});
        if (mode == "mixed") {
            // The worker drained; the master exited 0 after it.
            CHECK(m["outcome"] == "cancelled");
            CHECK(m["status"] == "rc=0");
            CHECK(slurp_file(dir / "drained") == "drained\n");
        } else {
            // The group got SIGTERM: the worker died of it before the master
            // could ask it to drain (what kill "mixed" is for).
            CHECK(slurp_file(dir / "drained").empty());
        }
        check_nothing_left(r.tag);
    }
}

TEST_CASE("kill main: the stop signals go to the main process alone, the rest dies when it exits") {
    TempDir dir("kill");
    dir.fifo("up");
    // The child records every SIGTERM it gets; on SIGWINCH (a higher signal
    // number, so a pending SIGTERM is handled first) it records that too and
    // exits. The main process, stopped, asks the child through SIGWINCH,
    // waits for it, and leaves a second child (sleep) behind when it exits.
    const std::string log = dir / "child";
    const std::string child = "trap 'echo TERM >> \"" + log + "\"' TERM; trap 'echo WINCH >> \"" +
                              log + "\"; exit 0' WINCH; echo up > \"" + dir / "up" +
                              "\"; while :; do sleep 0.05; done";
    json main = {{"name", "main"},
                 {"kill", "main"},
                 {"daemon", true},
                 {"ready", {{"output", "child up"}}},
                 {"stop", {"SIGTERM", "30s", "SIGKILL"}},
                 {"cmd",
                  {"sh", "-c",
                   "sh -c \"$0\" & c=$!; sleep 1000 & echo $! > \"$2\"; "
                   "trap 'kill -WINCH $c; wait $c; exit 0' TERM; read x < \"$1\"; echo child up; "
                   "wait $c; exit 3",
                   child, dir / "up", dir / "sleeper"}}};
    json work = {{"name", "work"}, {"cmd", {"true"}}, {"after", {{"main", "ready"}}}};
    const auto r = run_json({{"actors", {main, work}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const json m = entry(parse_report(r.out), "root/main");
    CHECK(m["outcome"] == "cancelled");
    CHECK(m["status"] == "rc=0");
    CHECK(m["stop"]["sent"] == json{"SIGTERM"});
    // The child never got SIGTERM: only the main process did.
    CHECK(slurp_file(log) == "WINCH\n");
    // The sleeper it left behind is gone (killed with the group once the
    // main process exited), along with everything else.
    const auto sleeper = numbers(slurp_file(dir / "sleeper"));
    REQUIRE(sleeper.size() == 1);
    check_nothing_left(r.tag);
}

TEST_CASE("kill main with a main process that ignores SIGTERM: SIGKILL reaches it alone, on time") {
    TempDir dir("kill");
    json a = {{"name", "a"},
              {"kill", "main"},
              {"stop", {"SIGTERM", "200ms", "SIGKILL"}},
              {"ready", {{"output", "ignoring"}}},
              {"cmd", {"sh", "-c", "trap '' TERM; sleep 1000 & echo ignoring; wait"}}};
    json failing = {{"name", "f"}, {"cmd", {"sh", "-c", "exit 1"}}, {"after", {"a"}}};
    const auto r = run_json({{"actors", {a, failing}}});
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const json e = entry(parse_report(r.out), "root/a");
    CHECK(e["outcome"] == "killed");
    CHECK(e["stop"]["sent"] == json{"SIGTERM", "SIGKILL"});
    CHECK(e["stop"]["exit_after_ms"].get<double>() >= 199.9); // never early
    check_nothing_left(r.tag);
}

TEST_CASE("user nobody: the actor runs as uid 65534 with nobody's groups and HOME") {
    if (::geteuid() != 0) {
        MESSAGE("skipped: needs root to change an actor's user");
        return;
    }
    const passwd* pw = ::getpwnam("nobody");
    REQUIRE(pw);
    const uid_t uid = pw->pw_uid;
    const gid_t gid = pw->pw_gid;
    std::vector<gid_t> expected(256);
    int count = static_cast<int>(expected.size());
    REQUIRE(::getgrouplist("nobody", gid, expected.data(), &count) >= 0);
    expected.resize(static_cast<std::size_t>(count));
    std::sort(expected.begin(), expected.end());
    expected.erase(std::unique(expected.begin(), expected.end()), expected.end());

    TempDir dir("user");
    json a = {{"name", "a"},
              {"user", "nobody"},
              {"output", {{"file", dir / "out"}}},
              {"cmd", {"sh", "-c", "id -u; id -g; id -G; echo \"$HOME $USER\""}}};
    const auto r = run_json({{"actors", {a}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto out = lines(slurp_file(dir / "out"));
    REQUIRE(out.size() == 4);
    CHECK(numbers(out[0]) == std::vector<long>{static_cast<long>(uid)});
    CHECK(numbers(out[1]) == std::vector<long>{static_cast<long>(gid)});
    auto groups = numbers(out[2]);
    std::sort(groups.begin(), groups.end());
    std::vector<long> want(expected.begin(), expected.end());
    CHECK(groups == want); // and none of forkspawn's own
    CHECK(out[3] == std::string(pw->pw_dir) + " nobody");
    check_nothing_left(r.tag);
}

TEST_CASE("group, umask, nice and rlimits: what the actor sees") {
    TempDir dir("exec");
    json a = {{"name", "a"},
              {"group", 4242},
              {"umask", "0027"},
              {"nice", 7},
              {"rlimits", {{"nofile", {100, 200}}, {"core", 0}}},
              {"output", {{"file", dir / "out"}}},
              {"cmd", {"sh", "-c", "id -g; umask; nice; ulimit -Sn; ulimit -Hn; ulimit -c"}}};
    const auto r = run_json({{"actors", {a}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto out = lines(slurp_file(dir / "out"));
    REQUIRE(out.size() == 6);
    if (::geteuid() == 0) CHECK(out[0] == "4242");
    CHECK(out[1] == "0027");
    CHECK(out[2] == "7");
    CHECK(out[3] == "100");
    CHECK(out[4] == "200");
    CHECK(out[5] == "0");
    check_nothing_left(r.tag);
}

TEST_CASE("an unknown user is a spawn failure found before the fork") {
    // An unknown user: found before the fork, nothing runs.
    json unknown = {{"name", "a"}, {"user", "no-such-user-forkspawn"}, {"cmd", {"true"}}};
    auto r = run_json({{"actors", {unknown}}});
    INFO(r.err);
    CHECK(r.exit_code == 1);
    json e = entry(parse_report(r.out), "root/a");
    CHECK(e["outcome"] == "spawn_failed");
    CHECK(e["error"] == "failed to set up a (user 'no-such-user-forkspawn'): no such user");
    CHECK(e["pid"].is_null());
    check_nothing_left(r.tag);
}

TEST_CASE("setgroups and setrlimit fail in the child when forkspawn is not privileged") {
    if (::geteuid() != 0) {
        MESSAGE("skipped: needs root to run forkspawn as another user");
        return;
    }
    // forkspawn itself runs as an unprivileged uid: asking for another fails at
    // the first step that needs privilege, and a hard limit above its own
    // cannot be set.
    const uid_t spare = 47200 + (backend() == "subint_forkserver" ? 0
                                 : backend() == "trio"            ? 1
                                                                  : 2);
    json to_root = {{"name", "a"}, {"user", 4000000}, {"cmd", {"true"}}};
    json limit = {{"name", "b"}, {"rlimits", {{"msgqueue", {0, "infinity"}}}}, {"cmd", {"true"}}};
    const auto r =
        run_json({{"strategy", "one_for_one"}, {"actors", {to_root, limit}}}, {.uid = spare});
    INFO(r.err);
    CHECK(r.exit_code == 1);
    const auto all = by_path(parse_report(r.out));
    CHECK(all.at("root/a")["outcome"] == "spawn_failed");
    CHECK(all.at("root/a")["error"] ==
          "failed to set up a (setgroups, 0 groups): Operation not permitted (EPERM)");
    CHECK(all.at("root/b")["outcome"] == "spawn_failed");
    CHECK(all.at("root/b")["error"] ==
          "failed to set up b (setrlimit msgqueue): Operation not permitted (EPERM)");
    check_nothing_left(r.tag);
}

TEST_CASE("an exec readiness probe runs as the actor's user, with its umask and limits") {
    if (::geteuid() != 0) {
        MESSAGE("skipped: needs root to change an actor's user");
        return;
    }
    TempDir dir("probe");
    ::chmod((dir / "").c_str(), 0777); // the probe, as nobody, writes here
    const std::string seen = dir / "seen";
    json a = {{"name", "a"},
              {"user", "nobody"},
              {"umask", "0077"},
              {"rlimits", {{"nofile", 64}}},
              {"daemon", true},
              {"ready",
               {{"exec", {"sh", "-c", "echo $(id -u) $(umask) $(ulimit -n) > \"$0\"", seen}},
                {"interval", "50ms"}}},
              {"cmd", {"sleep", "100"}}};
    json b = {{"name", "b"}, {"cmd", {"true"}}, {"after", {"a"}}};
    const auto r = run_json({{"actors", {a, b}}});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(slurp_file(seen) == "65534 0077 64\n");
    check_nothing_left(r.tag);
}
