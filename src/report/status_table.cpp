// SPDX-License-Identifier: MIT
// The live tree for people (`forkspawn ctl SOCKET status`): the columns,
// cells and colours of the run's table (table.cpp), and a line counting the
// actors per state.
#include "report_impl.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <utility>

namespace forkspawn::report {

namespace {

enum Column : std::size_t {
    col_path,
    col_kind,
    col_pid,
    col_state,
    col_outcome,
    col_restarts,
    col_ready,
    col_runtime,
    col_status,
    column_count
};

using Row = std::array<std::string, column_count>;

// The states as they come in a life, for the count; any other is counted
// after these, in the order it first appears.
constexpr std::string_view k_state_order[] = {"waiting",  "starting",   "running", "ready",
                                              "stopping", "restarting", "ended"};

std::optional<Outcome> parse_outcome(std::string_view name) {
    for (std::size_t o = 0; o < k_outcome_count; ++o)
        if (outcome_name(static_cast<Outcome>(o)) == name) return static_cast<Outcome>(o);
    return std::nullopt;
}

Row status_row(const StatusRow& a) {
    Row row;
    row[col_path] = printable(a.path);
    row[col_kind] = std::string(kind_name(a.kind));
    row[col_pid] = a.pid ? fmt::format("{}", *a.pid) : std::string(k_absent);
    row[col_state] = a.state.empty() ? std::string(k_absent) : printable(a.state);
    // Why it was cancelled goes with its outcome; a reason alone is a stop
    // under way.
    if (a.outcome && a.cancel_reason)
        row[col_outcome] =
            fmt::format("{} ({})", printable(*a.outcome), printable(*a.cancel_reason));
    else if (a.outcome)
        row[col_outcome] = printable(*a.outcome);
    else if (a.cancel_reason)
        row[col_outcome] = fmt::format("{} ({})", k_absent, printable(*a.cancel_reason));
    else
        row[col_outcome] = std::string(k_absent);
    row[col_restarts] = fmt::format("{}", a.restarts);
    // Ready says something once it has started.
    row[col_ready] = a.ready ? "yes" : a.attempt > 0 ? "no" : std::string(k_absent);
    row[col_runtime] = a.runtime_ms ? format_runtime(*a.runtime_ms) : std::string(k_absent);
    row[col_status] = a.status_text ? printable(*a.status_text) : std::string(k_absent);
    return row;
}

std::string count_line(const std::vector<StatusRow>& actors, double now_ms) {
    std::vector<std::pair<std::string_view, std::size_t>> counts;
    for (const auto state : k_state_order)
        counts.emplace_back(state, 0);
    for (const auto& a : actors) {
        const auto it = std::find_if(counts.begin(), counts.end(),
                                     [&](const auto& c) { return c.first == a.state; });
        if (it != counts.end())
            ++it->second;
        else
            counts.emplace_back(a.state, 1);
    }
    std::string line = fmt::format("up {}, {} actor{}", format_runtime(now_ms), actors.size(),
                                   actors.size() == 1 ? "" : "s");
    std::string_view sep = ": ";
    for (const auto& [state, n] : counts) {
        if (n == 0) continue;
        line += fmt::format("{}{} {}", sep, n,
                            state.empty() ? std::string(k_absent) : printable(state));
        sep = ", ";
    }
    line += '\n';
    return line;
}

} // namespace

std::string render_status_table(const std::vector<StatusRow>& actors, double now_ms, bool colour) {
    const Row header = {"PATH",     "KIND",  "PID",     "STATE", "OUTCOME",
                        "RESTARTS", "READY", "RUNTIME", "STATUS"};
    std::vector<Row> rows;
    rows.reserve(actors.size());
    for (const auto& a : actors)
        rows.push_back(status_row(a));
    const auto widths = column_widths(header, rows);

    std::string out = aligned_line(header, widths, col_outcome, "");
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto outcome = actors[i].outcome ? parse_outcome(*actors[i].outcome) : std::nullopt;
        out += aligned_line(rows[i], widths, col_outcome,
                            colour && outcome ? outcome_colour(*outcome) : "");
    }
    out += count_line(actors, now_ms);
    return out;
}

} // namespace forkspawn::report
