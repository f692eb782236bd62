// SPDX-License-Identifier: MIT
#include "forkspawn/stop_sequence.hpp"

#include <csignal>
#include <doctest/doctest.h>

using namespace forkspawn;
using namespace std::chrono_literals;

namespace {
StopSequence parse_ok(std::string_view text) {
    std::string why;
    auto seq = parse_stop_sequence(text, &why);
    INFO(text, " -> ", why);
    REQUIRE(seq);
    return *seq;
}
std::string parse_error(std::string_view text) {
    std::string why;
    auto seq = parse_stop_sequence(text, &why);
    CHECK_FALSE(seq);
    return why;
}
} // namespace

TEST_CASE("the standard stop sequence") {
    const auto seq = StopSequence::standard();
    CHECK(seq.to_string() == "SIGTERM,1.6s,SIGKILL");
    CHECK(seq.grace() == 1600ms);
    CHECK(parse_ok("SIGTERM,1.6s,SIGKILL") == seq);
}

TEST_CASE("stop sequences normalize") {
    CHECK(parse_ok("TERM,1.6s,KILL").to_string() == "SIGTERM,1.6s,SIGKILL");
    CHECK(parse_ok("SIGTERM,2s").to_string() == "SIGTERM,2s,SIGKILL"); // SIGKILL appended
    CHECK(parse_ok("SIGKILL").to_string() == "SIGKILL");
    CHECK(parse_ok("SIGINT, 500ms, SIGTERM, 1s").to_string() == "SIGINT,500ms,SIGTERM,1s,SIGKILL");
    const auto seq = parse_ok("SIGINT,500ms,SIGTERM,1s,SIGKILL");
    REQUIRE(seq.steps.size() == 3);
    CHECK(seq.steps[0] == StopStep{SIGINT, 500ms});
    CHECK(seq.steps[1] == StopStep{SIGTERM, 1s});
    CHECK(seq.steps[2] == StopStep{SIGKILL, 0ms});
    CHECK(seq.grace() == 1500ms);
}

TEST_CASE("a lone signal means it, the default wait, SIGKILL") {
    for (const char* text : {"TERM", "SIGTERM", "15", " sigterm "}) {
        CAPTURE(text);
        std::string why;
        const auto seq = parse_stop_sequence(text, &why);
        REQUIRE(seq);
        CHECK(seq->to_string() == StopSequence::standard().to_string());
    }
    std::string why;
    const auto rt = parse_stop_sequence("SIGRTMIN+3", &why);
    REQUIRE(rt);
    REQUIRE(rt->steps.size() == 2);
    CHECK(rt->steps[0] == StopStep{SIGRTMIN + 3, 1600ms});
    CHECK(rt->to_string() == "SIGRTMIN+3,1.6s,SIGKILL");
    // SIGKILL alone was always a sequence: nothing is added.
    CHECK(parse_stop_sequence("KILL", &why)->steps.size() == 1);
}

TEST_CASE("bad stop sequences say why") {
    CHECK(parse_error("").find("empty stop sequence") == 0);
    CHECK(parse_error("1s,SIGKILL").find("starts with a signal") != std::string::npos);
    CHECK(parse_error("SIGTERM,SIGKILL").find("without a wait") != std::string::npos);
    CHECK(parse_error("SIGTERM,1s,2s").find("two waits in a row") != std::string::npos);
    CHECK(parse_error("SIGKILL,1s").find("after SIGKILL") != std::string::npos);
    CHECK(parse_error("SIGINT,1s,SIGTERM").find("ends with SIGTERM and no wait") !=
          std::string::npos);
    CHECK(parse_error("SIGFOO,1s").find("'SIGFOO' is not a signal name") != std::string::npos);
    CHECK(parse_error("SIGSTOP,1s").find("SIGSTOP cannot stop an actor") != std::string::npos);
    CHECK(parse_error("STOP,1s,SIGKILL").find("SIGSTOP cannot stop an actor") != std::string::npos);
    CHECK(parse_error("SIGTERM,5x").find("expected a wait: '5x' has an unknown unit 'x'") !=
          std::string::npos);
    // The token is named once, with what is wrong with it.
    CHECK(parse_error("SIGTERM,-1s").find("expected a wait: '-1s' is negative") !=
          std::string::npos);
    // Every bad token is reported, not only the first.
    const auto both = parse_error("SIGFOO,5x,SIGKILL");
    CHECK(both.find("SIGFOO") != std::string::npos);
    CHECK(both.find("5x") != std::string::npos);
}

TEST_CASE("stop errors point at the token's index") {
    std::vector<StopError> errors;
    CHECK_FALSE(parse_stop_tokens({{"SIGTERM", 0}, {"1s", 1}, {"SIGBAD", 2}}, errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].index == 2);
}
