// SPDX-License-Identifier: MIT
// Durations as users write them: a non-negative decimal number and a unit
// (`250ms`, `1.6s`, `2m`, `1h`). Parsing is exact: the decimal digits are
// converted with integer arithmetic, so `1.6s` is 1600 ms, never 1599.999.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace forkspawn {

using Duration = std::chrono::nanoseconds;
// Every deadline is on the monotonic clock (CLOCK_MONOTONIC on Linux).
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

// The largest duration accepted anywhere: far beyond any sane grace period,
// far below the point where deadline arithmetic on a 64-bit clock overflows.
inline constexpr Duration k_max_duration = std::chrono::hours(24 * 365);

// What `parse_duration` accepts, for error messages.
inline constexpr std::string_view k_duration_help =
    "a number with a unit ms, s, m or h, e.g. 250ms, 1.6s, 2m";

// Parses `text`; returns nullopt and sets `why` when it is not a duration.
std::optional<Duration> parse_duration(std::string_view text, std::string* why = nullptr);

// The shortest exact spelling in the units above: 1600ms -> "1.6s",
// 120s -> "2m", 250ms -> "250ms", 0 -> "0s".
std::string format_duration(Duration d);

// Milliseconds as a double, for reports.
inline double to_ms(Duration d) {
    return static_cast<double>(d.count()) / 1e6;
}

} // namespace forkspawn
