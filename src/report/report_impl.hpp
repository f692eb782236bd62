// What the report's renderings share (not a public header): report.cpp
// writes JSON and jsonl, table.cpp the table for people.
#pragma once

#include "forkspawn/report.hpp"

#include <cmath>
#include <cstddef>

namespace forkspawn::report {

inline constexpr std::size_t k_outcome_count = 6;
static_assert(static_cast<std::size_t>(Outcome::not_started) + 1 == k_outcome_count,
              "summary counts are indexed by Outcome");

// Timings are measured in nanoseconds but a tenth of a millisecond is all a reader can use.
inline double round_ms(double ms) {
    // Adding +0.0 turns -0.0 (a tiny negative clock skew rounded away) into 0.0, so JSON never
    // shows "-0.0".
    return std::round(ms * 10.0) / 10.0 + 0.0;
}

} // namespace forkspawn::report
