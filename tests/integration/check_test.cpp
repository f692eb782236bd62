// SPDX-License-Identifier: MIT
// `forkspawn check` and the command-line shape, on the real binary.
#include "harness.hpp"

#include <doctest/doctest.h>
#include <regex>
#include <sstream>

using namespace forkspawn::test;

TEST_CASE("check prints the normalized tree of a valid spec") {
    const auto r = run({.args = {"check", spec_path("valid_tree.json")}});
    CHECK(r.exit_code == 0);
    // Only warnings: ./load is not there (found from the spec's directory).
    for (const auto& line : lines(r.err))
        CHECK(line.find(": warning: ") != std::string::npos);
    const std::string load = spec_path("load");
    CHECK(r.err.find("/actors/1/actors/1/cmd/0: warning: " + load +
                     ": No such file or directory (ENOENT)") != std::string::npos);
    const auto out = lines(r.out);
    REQUIRE(out.size() == 5);
    CHECK(out[0].rfind("root  nursery (2 actors, one_for_all)", 0) == 0);
    CHECK(out[1].find("root/db  cmd [\"redis-server\",\"--port\",\"7001\"]  daemon") !=
          std::string::npos);
    CHECK(out[3].find("root/etl/extract") != std::string::npos);
    CHECK(out[3].find("timeout=30s") != std::string::npos);
    // Resolved: own stop normalized with SIGKILL appended; inherited elsewhere.
    CHECK(out[4].find("root/etl/load  cmd [\"" + load +
                      "\"]  stop=SIGINT,250ms,SIGKILL  output=null") != std::string::npos);
    // env values are not shown: they may be secrets.
    CHECK(out[4].find("env:BATCH=<2 bytes>") != std::string::npos);
    CHECK(out[2].find("stop=SIGTERM,1.6s,SIGKILL") != std::string::npos);
}

TEST_CASE("a spec with ten errors prints ten errors in one run") {
    const std::string path = spec_path("ten_errors.json");
    const auto r = run({.args = {"check", path}});
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    const std::regex shape(R"(^(.*):(\d+):(\d+): (/[^:]*): (.+)$)");
    int diagnostics = 0;
    for (const auto& line : lines(r.err)) {
        std::smatch m;
        if (std::regex_match(line, m, shape)) {
            CHECK(m[1] == path);
            ++diagnostics;
        }
    }
    CHECK(diagnostics == 10);
    CHECK(r.err.find(path + ":3:23: /stop/1: 'SIGKILL' follows a signal without a wait") !=
          std::string::npos);
    CHECK(r.err.find(path + ":5:14: /actors/0/name: invalid name 'bad name'") != std::string::npos);
    CHECK(r.err.find(path + ":7:50: /actors/2/timeout: '10' has no unit") != std::string::npos);
    CHECK(r.err.find(path + ":8:14: /actors/3/name: duplicate name 'late'") != std::string::npos);
    CHECK(r.err.find(path +
                     ":10:39: /actors/5/deamon: unknown field 'deamon' (did you mean 'daemon'?)") !=
          std::string::npos);
    CHECK(r.err.find(path + ":13:49: /actors/7/actors/0/stop/0: 'SIGNOPE' is not a signal name") !=
          std::string::npos);
    CHECK(r.err.find(path + ":14:53: /actors/7/actors/1/env/A: must be a string, not a number") !=
          std::string::npos);
    CHECK(r.err.find("forkspawn: error: " + path + ": 10 errors; nothing was run") !=
          std::string::npos);
}

TEST_CASE("JSON syntax errors carry the line and column") {
    const std::string path = spec_path("syntax_error.json");
    const auto r = run({.args = {"check", path}});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(path + ":4:3: JSON syntax error: expected a value, found ']'") !=
          std::string::npos);
}

TEST_CASE("check reads the spec from stdin with -") {
    auto r = run(
        {.args = {"check", "-"}, .stdin_data = R"({"actors": [{"name": "a", "cmd": ["true"]}]})"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("root/a  cmd [\"true\"]") != std::string::npos);

    r = run({.args = {"check", "-"}, .stdin_data = "{\"actors\": [\n {\"name\": 1}]}"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("<stdin>:2:11: /actors/0/name: must be a string, not a number") !=
          std::string::npos);
}

TEST_CASE("hostile input gets a clear error, never a crash or hang") {
    // Far over the size cap: refused after reading just past the cap.
    auto r = run({.args = {"check", "-"}, .stdin_data = std::string(20u << 20, ' ')});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("the limit is 16777216 bytes") != std::string::npos);

    r = run({.args = {"check", "-"}, .stdin_data = std::string(200000, '[')});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("deeper than 128 levels") != std::string::npos);

    r = run({.args = {"check", "-"},
             .stdin_data = "{\"actors\": [{\"name\": \"a\", \"cmd\": [\"\xc3\x28\"]}]}"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("<stdin>:1:36: JSON syntax error: invalid UTF-8") != std::string::npos);

    r = run({.args = {"check", "-"}, .stdin_data = std::string("\0\0\0", 3)});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("<stdin>:1:1: JSON syntax error: expected a value, found byte 0x00") !=
          std::string::npos);

    r = run({.args = {"check", "-"}, .stdin_data = ""});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("found end of input") != std::string::npos);

    r = run({.args = {"check", "/nonexistent/spec.json"}});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "forkspawn: error: cannot open spec /nonexistent/spec.json: No such file or "
                   "directory (ENOENT)\n");

    r = run({.args = {"check", "/"}});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("Is a directory (EISDIR)") != std::string::npos);
}

TEST_CASE("every example checks clean") {
    for (const char* name :
         {"hello.json", "web-and-worker.json", "failing-pipeline.json", "stubborn.json",
          "etl-tree.json", "flaky-service.json", "batch.json", "dev-services.json"}) {
        INFO(name);
        const auto r = run({.args = {"check", examples_path(name)}});
        CHECK(r.exit_code == 0);
        CHECK(r.err.empty());
    }
}

TEST_CASE("command-line shape: help, version, usage errors") {
    auto r = run({.args = {"--help"}});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("check") != std::string::npos);
    r = run({.args = {"--version"}});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "forkspawn " FORKSPAWN_VERSION "\n");
    r = run({.args = {}});
    CHECK(r.exit_code == 2);
    r = run({.args = {"check"}});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("SPEC is required") != std::string::npos);
    r = run({.args = {"check", "a", "b"}});
    CHECK(r.exit_code == 2);
    r = run({.args = {"frobnicate"}});
    CHECK(r.exit_code == 2);
}

TEST_CASE("check: a warning goes to stderr, and the spec still checks clean (exit 0)") {
    const auto r =
        run({.args = {"check", "-"}, .stdin_data = R"({"actors": [{"name": "db", "cmd": ["true"]},
{"name": "web", "cmd": ["true"], "restart": "always"}]})"});
    CHECK(r.exit_code == 0);
    CHECK(r.err == "<stdin>:2:34: /actors/1/restart: warning: a restart of 'web' under one_for_all "
                   "stops and restarts its 1 sibling too; for independent children give 'root' "
                   "\"strategy\": \"one_for_one\"\n");
    CHECK(r.out.find("root/web") != std::string::npos);
}

TEST_CASE("check: an unknown user or group is a warning at its pointer, exit 0") {
    const std::string spec = R"({"actors": [{"name": "a", "cmd": ["true"],
 "user": "no-such-user-forkspawn", "group": 0},
 {"name": "n", "actors": [{"name": "b", "cmd": ["true"], "group": "no-such-group-forkspawn"}]},
 {"name": "c", "cmd": ["true"], "user": "root", "group": 4000000}]})";
    const auto r = run({.args = {"check", "-"}, .stdin_data = spec});
    CHECK(r.exit_code == 0);
    const auto err = lines(r.err);
    REQUIRE(err.size() == 2);
    CHECK(err[0] == "<stdin>:1:13: /actors/0/user: warning: user 'no-such-user-forkspawn': no "
                    "such user here; the actor is spawn_failed unless it exists when it starts");
    CHECK(err[1].starts_with("<stdin>:3:27: /actors/1/actors/0/group: warning: group "
                             "'no-such-group-forkspawn': no such group here"));
    CHECK(r.out.find("root/c  cmd [\"true\"]") != std::string::npos);
}
