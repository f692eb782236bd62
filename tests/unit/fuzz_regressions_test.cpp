// SPDX-License-Identifier: MIT
// Inputs the spec fuzzer (fuzz/spec_fuzzer.cpp) or a review of what it
// checks found wrong, each fixed in src/spec/. The raw inputs are also kept
// in fuzz/regressions/, which the fuzz target replays.
#include "forkspawn/diagnostic.hpp"
#include "forkspawn/json_reader.hpp"
#include "forkspawn/spec.hpp"
#include "forkspawn/stop_sequence.hpp"

#include <algorithm>
#include <chrono>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <string>
#include <vector>

using namespace forkspawn;

namespace {

std::vector<std::string> errors(std::string_view text) {
    const auto r = spec::parse(text);
    CHECK_FALSE(r.spec);
    std::vector<std::string> out;
    for (const auto& e : r.errors)
        out.push_back(format_diagnostic("t.json", e));
    return out;
}

// What `check` prints must be one line per error, and valid UTF-8 even when
// the input quoted in it is not ASCII.
bool one_line(std::string_view s) {
    return std::none_of(s.begin(), s.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f;
    });
}

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t extra = c < 0x80 ? 0 : c < 0xC2 ? 4 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
        if (extra == 4 || s.size() - i <= extra) return false;
        for (std::size_t k = 1; k <= extra; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += extra + 1;
    }
    return true;
}

} // namespace

TEST_CASE("fuzz: an invalid escape of a non-ASCII byte is named by its value") {
    // fuzz/regressions/escape-nonascii: the raw byte 0xf8 was copied into
    // the message, which was then not UTF-8.
    const auto errs = errors("[\"\\\xf8\xff\"]");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0] == "t.json:1:3: JSON syntax error: invalid escape '\\' + byte 0xf8 in a string; "
                     "allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
    CHECK(valid_utf8(errs[0]));
    // A control character after the backslash would have broken the line.
    const auto newline = errors("[\"\\\n\"]");
    REQUIRE(newline.size() == 1);
    CHECK(newline[0].find("invalid escape '\\' + byte 0x0a") != std::string::npos);
    CHECK(one_line(newline[0]));
    // Printable ones are still quoted as written.
    CHECK(errors(R"(["\x"])")[0].find("invalid escape '\\x'") != std::string::npos);
}

TEST_CASE("fuzz: DEL in a key is escaped in the JSON pointer") {
    // fuzz/regressions/pointer-del
    const auto errs = errors("{\"a\x7f\": 1, \"actors\": []}");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].substr(0, 22) == "t.json:1:2: /a\\u007f: ");
    CHECK(one_line(errs[0]));
}

TEST_CASE("fuzz: control characters quoted from the input are escaped") {
    // Decoded JSON escapes reached the message raw: a stop token, a timeout.
    const auto errs = errors(
        R"({"actors": [{"name": "a", "cmd": ["x"], "stop": ["SIG\nTERM", "1s"], "timeout": "1\ts"}]})");
    REQUIRE(errs.size() == 2);
    CHECK(errs[0].find("'SIG\\x0aTERM' is not a signal name") != std::string::npos);
    CHECK(errs[1].find("'1\\x09s' has an unknown unit '\\x09s'") != std::string::npos);
    for (const auto& e : errs)
        CHECK(one_line(e));
    // The command-line form gives the same message.
    std::string why;
    CHECK_FALSE(parse_stop_sequence("SIGTERM,1s\x1b", &why));
    CHECK(why.find("expected a wait: '1s\\x1b' has an unknown unit") != std::string::npos);
}

TEST_CASE("fuzz: a long quote is cut between characters, not inside one") {
    std::string name;
    for (int i = 0; i < 70; ++i)
        name += "\xc3\xa9"; // é, two bytes
    const auto errs = errors(fmt::format(R"({{"name": "{}", "actors": []}})", name));
    REQUIRE(errs.size() == 1);
    CHECK(valid_utf8(errs[0]));
    std::string sixty;
    for (int i = 0; i < 60; ++i)
        sixty += "\xc3\xa9";
    CHECK(errs[0].find("invalid name '" + sixty + "...'") != std::string::npos);
    CHECK(quote_input("abc") == "'abc'");
    CHECK(quote_input(std::string(61, 'x')) == "'" + std::string(60, 'x') + "...'");
}

TEST_CASE("fuzz: duplicate env variables are an error, not a silent choice") {
    // fuzz/regressions/env-duplicate: kept both in the spec, but the subtree
    // handed to a re-executed sub-supervisor kept only the last, so the
    // actor's environment depended on the backend.
    const auto errs =
        errors(R"({"actors": [{"name": "a", "cmd": ["x"], "env": {"A": "1", "A": "2"}}]})");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0] ==
          "t.json:1:59: /actors/0/env/A: duplicate variable 'A' (first at line 1, column 49)");
}

TEST_CASE("fuzz: a duplicate output file is an error") {
    const auto errs = errors(
        R"({"actors": [{"name": "a", "cmd": ["x"], "output": {"file": "/a", "file": "/b"}}]})");
    REQUIRE(errs.size() == 1);
    CHECK(
        errs[0] ==
        "t.json:1:66: /actors/0/output/file: duplicate field 'file' (first at line 1, column 52)");
}

TEST_CASE("fuzz: a valid spec's subtrees parse back to the same tree") {
    // What the fuzz target checks for every valid input, on one example
    // with every field set.
    const auto r = spec::parse(R"({
      "name": "top", "stop": ["INT", "1.5s"], "output": "null",
      "actors": [
        {"name": "n", "timeout": "2m", "daemon": true, "actors": [
          {"name": "c", "cmd": ["sh", "-c", "echo \"é\""], "env": {"B": "2", "A": "1"},
           "env_clear": true, "cwd": "/tmp", "stdin": "inherit", "timeout": "250ms",
           "output": {"file": "/tmp/x.log"}, "stop": ["SIGUSR1", "0.001s"]}]}]})");
    REQUIRE(r.spec);
    const spec::Actor& nursery = r.spec->root.actors[0];
    const auto again = spec::parse(spec::subtree_json(nursery));
    REQUIRE(again.spec);
    spec::Actor expected = nursery;
    expected.daemon = false;
    expected.timeout.reset();
    spec::set_paths(expected, expected.name);
    std::sort(expected.actors[0].env.begin(), expected.actors[0].env.end());
    CHECK(spec::format_tree(*again.spec) == spec::format_tree(spec::Spec{expected, 0}));
}

TEST_CASE("fuzz: a stop sequence's waits add up to at most the duration limit") {
    // grace() sums the waits and the supervisor adds that to the clock: 293
    // waits of 8760h overflowed a signed 64-bit count of nanoseconds.
    std::string ok = "SIGTERM,4380h,SIGINT,4380h";
    std::string why;
    const auto seq = parse_stop_sequence(ok, &why);
    REQUIRE(seq);
    CHECK(seq->grace() == k_max_duration);
    CHECK_FALSE(parse_stop_sequence(ok + ",SIGHUP,1ms", &why));
    CHECK(why.find("the waits add up to more than 8760h") != std::string::npos);

    std::string tokens;
    for (int i = 0; i < 300; ++i)
        tokens += R"("SIGTERM", "8760h", )";
    const auto errs = errors(fmt::format(R"({{"stop": [{}"SIGKILL"], "actors": []}})", tokens));
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].find("/stop/3: the waits add up to more than 8760h") != std::string::npos);
}

TEST_CASE("fuzz: many duplicate keys take linear time, not quadratic") {
    // Each duplicate key searched the object from its start: 600,000 keys
    // (7 MB, within the 16 MiB limit) kept `check` busy for minutes.
    constexpr int n = 100'000;
    std::string text = "{";
    for (int round = 0; round < 2; ++round)
        for (int i = 0; i < n; ++i)
            text += fmt::format(R"("k{}": 0, )", i);
    text += R"("actors": []})";
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = spec::parse(text);
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    CHECK(r.errors.size() == 2 * n); // n unknown fields, n duplicates
    CHECK(r.errors[n].message.find("duplicate field 'k0'") == 0);
    // Generous, for sanitizers on a loaded machine: 0.4 s here unsanitized,
    // 15 s under TSan; the quadratic scan took 66 s under ASan.
    CHECK(elapsed < std::chrono::seconds(60));
}
