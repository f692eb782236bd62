// SPDX-License-Identifier: MIT
// Restarts, as Erlang/OTP supervisors count them: an actor's restart policy,
// the backoff before each restart, and a nursery's restart intensity (more
// than N restarts within DUR and the nursery gives up). Pure arithmetic on
// durations and time points: the supervisor passes the clock in.
#pragma once

#include "forkspawn/duration.hpp"

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace forkspawn {

// OTP's temporary, transient and permanent.
enum class RestartPolicy { never, on_failure, always };

std::string_view restart_policy_name(RestartPolicy p);
std::optional<RestartPolicy> parse_restart_policy(std::string_view text);
inline constexpr std::string_view k_restart_help = R"("never", "on_failure", "always")";

// Whether an attempt that ended this way is restarted under `policy`: a
// cancelled attempt never is (the caller does not ask), a failed one under
// on_failure and always, a completed one under always only.
inline bool restarts_after(RestartPolicy policy, bool failed) {
    return policy == RestartPolicy::always || (policy == RestartPolicy::on_failure && failed);
}

// The delay before the k-th consecutive restart (k >= 1): initial doubled
// k-1 times, capped at max. One duration in the spec is a fixed delay
// (initial == max).
struct Backoff {
    Duration initial = std::chrono::milliseconds(100);
    Duration max = std::chrono::seconds(10);
    bool operator==(const Backoff&) const = default;

    Duration delay(unsigned k) const;
    // Whether an attempt that ran `ran` resets the count: it was stable for
    // at least `max`.
    bool stable(Duration ran) const { return ran >= max; }
};

// "N/DUR", or unlimited.
struct Intensity {
    std::size_t restarts = 5;
    Duration period = std::chrono::seconds(10);
    bool unlimited = false;
    bool operator==(const Intensity&) const = default;

    std::string to_string() const; // "5/10s", "unlimited"
};

inline constexpr std::string_view k_intensity_help =
    R"("N/DUR" (at most N restarts within DUR, e.g. "5/10s") or "unlimited")";
// Parses `text`; nullopt and `why` set when it is not an intensity.
std::optional<Intensity> parse_intensity(std::string_view text, std::string* why = nullptr);

// One nursery's restarts within its intensity's period.
class RestartWindow {
  public:
    explicit RestartWindow(Intensity intensity) : m_intensity(intensity) {}
    // A restart at `now`: true, and counted, when it keeps the nursery at
    // most N restarts within the period; false when it would be one more:
    // the nursery gives up (nothing is counted).
    bool admit(TimePoint now);
    // Restarts counted within the period ending at `now`.
    std::size_t recent(TimePoint now);

  private:
    void forget_before(TimePoint now);
    Intensity m_intensity;
    std::deque<TimePoint> m_times; // ascending
};

} // namespace forkspawn
