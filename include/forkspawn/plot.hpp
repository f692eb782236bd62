// SPDX-License-Identifier: MIT
// `forkspawn plot`: a run's report drawn as an SVG timeline, one row per
// actor at every depth (as `systemd-analyze plot` draws a boot). Pure: text
// in, SVG or an error out; the command line reads the file and writes the
// SVG. The input is a whole `--report=json` document or a `--report=jsonl`
// stream, told apart by its first line; fields it does not know are
// ignored. The SVG is plain SVG 1.1 with no script and nothing external,
// every piece of report text in it escaped, and its size linear in the
// number of actors.
#pragma once

#include "forkspawn/report.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace forkspawn::report {

// The largest report plot reads: ten thousand actors take a few MiB.
inline constexpr std::size_t k_plot_max_bytes = std::size_t{64} << 20;

struct PlotActor {
    ActorReport report;
    // When each attempt became ready: a jsonl stream's `ready` events, or
    // the report's ready_ms (its last attempt) when there are none.
    std::vector<double> ready_ms;
};

// What a plot draws; strings are empty and optionals unset when the
// report does not say.
struct PlotRun {
    std::string backend;
    std::string containment;
    std::string result;
    std::optional<int> exit_code;
    std::optional<double> duration_ms;
    std::optional<std::string> cause; // "root/etl/extract failed (rc=3)"
    // False for a jsonl stream that ended before its summary line (the run
    // was cut short): what it reaped is still drawn.
    bool has_summary = true;
    // As the report lists them; a jsonl stream's in the order of each
    // actor's first event. Paths are unique.
    std::vector<PlotActor> actors;
};

// What is wrong with a report, and where: line and column count from 1
// (0: not known), `pointer` is a JSON pointer into the document or the
// jsonl line ("" when none).
struct PlotError {
    std::size_t line = 0;
    std::size_t column = 0;
    std::string pointer;
    std::string message;
};
// "run.json:3:14: /actors/2: what is wrong", with what of it is known.
std::string format_plot_error(std::string_view source, const PlotError& e);

struct PlotInput {
    std::optional<PlotRun> run;     // set exactly when error is not
    std::optional<PlotError> error; // the first problem found
};
PlotInput parse_plot_input(std::string_view text);

// The timeline: a title with the result, a legend, a time axis, and a row
// per actor, each nursery followed by its actors, indented by depth.
std::string render_svg(const PlotRun& run);

} // namespace forkspawn::report
