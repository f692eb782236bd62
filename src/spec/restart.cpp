// SPDX-License-Identifier: MIT
#include "forkspawn/restart.hpp"

#include <charconv>
#include <fmt/format.h>

namespace forkspawn {

std::string_view restart_policy_name(RestartPolicy p) {
    switch (p) {
    case RestartPolicy::never:
        return "never";
    case RestartPolicy::on_failure:
        return "on_failure";
    case RestartPolicy::always:
        return "always";
    }
    return "never";
}

std::optional<RestartPolicy> parse_restart_policy(std::string_view text) {
    for (auto p : {RestartPolicy::never, RestartPolicy::on_failure, RestartPolicy::always})
        if (text == restart_policy_name(p)) return p;
    return std::nullopt;
}

Duration Backoff::delay(unsigned k) const {
    Duration d = initial;
    // Doubling stops at max (and long before the representation could
    // overflow: max is at most a year).
    for (unsigned i = 1; i < k && d < max; ++i)
        d *= 2;
    return std::min(d, max);
}

std::string Intensity::to_string() const {
    return unlimited ? "unlimited" : fmt::format("{}/{}", restarts, format_duration(period));
}

std::optional<Intensity> parse_intensity(std::string_view text, std::string* why) {
    const auto fail = [&](std::string message) -> std::optional<Intensity> {
        if (why) *why = std::move(message);
        return std::nullopt;
    };
    if (text == "unlimited") return Intensity{0, Duration{0}, true};
    const auto slash = text.find('/');
    if (slash == std::string_view::npos)
        return fail(fmt::format("not an intensity; use {}", k_intensity_help));
    const std::string_view count = text.substr(0, slash), period = text.substr(slash + 1);
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
    if (count.empty() || ec != std::errc() || end != count.data() + count.size())
        return fail(
            fmt::format("the count before '/' must be a whole number; use {}", k_intensity_help));
    if (n > 1'000'000)
        return fail("the count before '/' is larger than 1000000; use \"unlimited\" instead");
    std::string duration_why;
    const auto d = parse_duration(period, &duration_why);
    if (!d) return fail(fmt::format("the period after '/': {}", duration_why));
    if (d->count() == 0) return fail("the period after '/' must be longer than 0s");
    return Intensity{n, *d, false};
}

void RestartWindow::forget_before(TimePoint now) {
    while (!m_times.empty() && now - m_times.front() >= m_intensity.period)
        m_times.pop_front();
}

bool RestartWindow::admit(TimePoint now) {
    if (m_intensity.unlimited) return true;
    forget_before(now);
    if (m_times.size() + 1 > m_intensity.restarts) return false;
    m_times.push_back(now);
    return true;
}

std::size_t RestartWindow::recent(TimePoint now) {
    forget_before(now);
    return m_times.size();
}

} // namespace forkspawn
