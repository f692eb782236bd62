// SPDX-License-Identifier: MIT
#include "forkspawn/duration.hpp"

#include "forkspawn/diagnostic.hpp"

#include <cstdint>
#include <fmt/format.h>

namespace forkspawn {

namespace {

constexpr std::int64_t k_ns_per_ms = 1'000'000;
constexpr std::int64_t k_ns_per_s = 1'000 * k_ns_per_ms;
constexpr std::int64_t k_ns_per_m = 60 * k_ns_per_s;
constexpr std::int64_t k_ns_per_h = 60 * k_ns_per_m;

bool fail(std::string* why, std::string message) {
    if (why) *why = std::move(message);
    return false;
}

} // namespace

std::optional<Duration> parse_duration(std::string_view text, std::string* why) {
    if (text.starts_with('-')) {
        fail(why, fmt::format("{} is negative; a duration is 0 or more, {}", quote_input(text),
                              k_duration_help));
        return std::nullopt;
    }
    std::size_t i = 0;
    // Integer part, then an optional fraction; at least one digit overall.
    std::int64_t whole = 0;
    std::size_t whole_digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        if (whole > k_max_duration.count()) { // keeps the multiply below in range
            fail(why, fmt::format("{} is too long; the limit is {}", quote_input(text),
                                  format_duration(k_max_duration)));
            return std::nullopt;
        }
        whole = whole * 10 + (text[i] - '0');
        ++whole_digits;
        ++i;
    }
    std::int64_t frac = 0;     // fraction digits as an integer
    std::int64_t frac_den = 1; // 10^(number of fraction digits)
    std::size_t frac_digits = 0;
    if (i < text.size() && text[i] == '.') {
        ++i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            if (frac_digits < 9) { // nanosecond resolution is the floor
                frac = frac * 10 + (text[i] - '0');
                frac_den *= 10;
            }
            ++frac_digits;
            ++i;
        }
        if (frac_digits == 0) {
            fail(why, fmt::format("{} is not a duration: expected digits after '.'; use {}",
                                  quote_input(text), k_duration_help));
            return std::nullopt;
        }
    }
    if (whole_digits == 0 && frac_digits == 0) {
        fail(why, text.empty() ? fmt::format("empty duration; use {}", k_duration_help)
                               : fmt::format("{} is not a duration; use {}", quote_input(text),
                                             k_duration_help));
        return std::nullopt;
    }
    const std::string_view unit = text.substr(i);
    std::int64_t scale = 0;
    if (unit == "ms")
        scale = k_ns_per_ms;
    else if (unit == "s")
        scale = k_ns_per_s;
    else if (unit == "m")
        scale = k_ns_per_m;
    else if (unit == "h")
        scale = k_ns_per_h;
    if (scale == 0) {
        fail(why, unit.empty()
                      ? fmt::format("{} has no unit; use {}", quote_input(text), k_duration_help)
                      : fmt::format("{} has an unknown unit {}; use {}", quote_input(text),
                                    quote_input(unit), k_duration_help));
        return std::nullopt;
    }
    if (whole > k_max_duration.count() / scale) {
        fail(why, fmt::format("{} is too long; the limit is {}", quote_input(text),
                              format_duration(k_max_duration)));
        return std::nullopt;
    }
    // frac/frac_den * scale, rounded down to whole nanoseconds; frac < frac_den
    // <= 1e9 and scale <= 3.6e12, so split to avoid overflowing 64 bits.
    const std::int64_t frac_ns = (scale / frac_den) * frac + ((scale % frac_den) * frac) / frac_den;
    const Duration d{whole * scale + frac_ns};
    if (d > k_max_duration) {
        fail(why, fmt::format("{} is too long; the limit is {}", quote_input(text),
                              format_duration(k_max_duration)));
        return std::nullopt;
    }
    return d;
}

std::string format_duration(Duration d) {
    const std::int64_t ns = d.count();
    if (ns == 0) return "0s";
    if (ns % k_ns_per_h == 0) return fmt::format("{}h", ns / k_ns_per_h);
    if (ns % k_ns_per_m == 0) return fmt::format("{}m", ns / k_ns_per_m);
    // Seconds with as many decimals as needed when >= 1s, else milliseconds.
    const bool seconds = ns >= k_ns_per_s;
    const std::int64_t unit = seconds ? k_ns_per_s : k_ns_per_ms;
    std::string out = fmt::format("{}", ns / unit);
    std::int64_t rest = ns % unit;
    if (rest != 0) {
        std::string digits = fmt::format("{:0{}}", rest, seconds ? 9 : 6);
        while (!digits.empty() && digits.back() == '0')
            digits.pop_back();
        out += '.';
        out += digits;
    }
    out += seconds ? "s" : "ms";
    return out;
}

} // namespace forkspawn
