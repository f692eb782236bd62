// SPDX-License-Identifier: MIT
// What the report's renderings share (not a public header): report.cpp
// writes JSON and jsonl, table.cpp the table for people, status_table.cpp
// the live tree of `forkspawn ctl SOCKET status` with the same looks.
#pragma once

#include "forkspawn/report.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

// The tables for people (table.cpp).

// What a cell shows for a value that is absent.
inline constexpr std::string_view k_absent = "-";

// A table cell as it may safely reach a terminal: valid UTF-8 with no control characters, so
// a program name cannot break the layout with a newline or smuggle escape sequences into the
// user's terminal. Each invalid byte becomes U+FFFD; controls are shown escaped.
std::string printable(std::string_view s);

// Width in terminal columns of a printable() string: one per code point.
std::size_t visible_width(std::string_view s);

// 203.4ms below a second, 1.70s from there on: a glance should tell the order of magnitude.
std::string format_runtime(double ms);

// The ANSI colour of an outcome's cell.
std::string_view outcome_colour(Outcome o);

// One line of aligned columns, with its newline: each cell padded to its column's width and
// separated by a gap, trailing spaces dropped. The cell `coloured` is wrapped in `colour` and
// a reset when `colour` is not empty; padding is computed from the visible text so the escape
// bytes never shift the columns after it.
std::string aligned_line(std::span<const std::string> cells, std::span<const std::size_t> widths,
                         std::size_t coloured, std::string_view colour);

// The width of each column: its widest cell, the header's included.
template <std::size_t N>
std::array<std::size_t, N> column_widths(const std::array<std::string, N>& header,
                                         const std::vector<std::array<std::string, N>>& rows) {
    std::array<std::size_t, N> widths{};
    for (std::size_t c = 0; c < N; ++c)
        widths[c] = visible_width(header[c]);
    for (const auto& row : rows)
        for (std::size_t c = 0; c < N; ++c)
            widths[c] = std::max(widths[c], visible_width(row[c]));
    return widths;
}

} // namespace forkspawn::report
