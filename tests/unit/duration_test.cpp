// SPDX-License-Identifier: MIT
#include "forkspawn/duration.hpp"

#include <doctest/doctest.h>

using namespace forkspawn;
using namespace std::chrono_literals;

TEST_CASE("durations parse exactly in every unit") {
    CHECK(parse_duration("250ms") == Duration(250ms));
    CHECK(parse_duration("1.6s") == Duration(1600ms));
    CHECK(parse_duration("0.1s") == Duration(100ms));
    CHECK(parse_duration("2m") == Duration(120s));
    CHECK(parse_duration("1h") == Duration(3600s));
    CHECK(parse_duration("1.5h") == Duration(90min));
    CHECK(parse_duration("0s") == Duration(0));
    CHECK(parse_duration("0.5ms") == Duration(500us));
    CHECK(parse_duration(".5s") == Duration(500ms));
    CHECK(parse_duration("1.000000001s") == Duration(1'000'000'001ns));
    // Digits beyond nanosecond resolution are dropped, never rounded up.
    CHECK(parse_duration("1.0000000019s") == Duration(1'000'000'001ns));
}

TEST_CASE("bad durations say what is wrong and what is allowed") {
    std::string why;
    CHECK_FALSE(parse_duration("5", &why));
    CHECK(why == "'5' has no unit; use a number with a unit ms, s, m or h, e.g. 250ms, 1.6s, 2m");
    CHECK_FALSE(parse_duration("5sec", &why));
    CHECK(why.find("unknown unit 'sec'") != std::string::npos);
    CHECK_FALSE(parse_duration("", &why));
    CHECK(why.find("empty duration") == 0);
    CHECK_FALSE(parse_duration("-1s", &why));
    CHECK(why == "'-1s' is negative; a duration is 0 or more, a number with a unit ms, s, m or "
                 "h, e.g. 250ms, 1.6s, 2m");
    CHECK_FALSE(parse_duration("1.s", &why));
    CHECK(why.find("digits after '.'") != std::string::npos);
    CHECK_FALSE(parse_duration("s", &why));
    CHECK_FALSE(parse_duration(" 1s", &why));
    CHECK_FALSE(parse_duration("1 s", &why));
    CHECK_FALSE(parse_duration("1e3ms", &why));
}

TEST_CASE("durations beyond the limit are refused without overflow") {
    std::string why;
    CHECK(parse_duration("8760h") == k_max_duration);
    CHECK_FALSE(parse_duration("8761h", &why));
    CHECK(why.find("too long") != std::string::npos);
    CHECK_FALSE(parse_duration("99999999999999999999999999h", &why));
    CHECK(why.find("too long") != std::string::npos);
    CHECK_FALSE(parse_duration("9223372036854775807ms", &why));
    CHECK_FALSE(parse_duration("8760.5h", &why));
}

TEST_CASE("durations format in the shortest exact unit") {
    CHECK(format_duration(0ms) == "0s");
    CHECK(format_duration(1600ms) == "1.6s");
    CHECK(format_duration(250ms) == "250ms");
    CHECK(format_duration(120s) == "2m");
    CHECK(format_duration(90s) == "90s");
    CHECK(format_duration(7200s) == "2h");
    CHECK(format_duration(500us) == "0.5ms");
    CHECK(format_duration(1'000'000'001ns) == "1.000000001s");
    for (const char* text : {"1.6s", "250ms", "2m", "1h", "0.001ms", "59.5s"})
        CHECK(format_duration(*parse_duration(text)) == text);
}
