// SPDX-License-Identifier: MIT
// A stop sequence says how an actor is cancelled: signals separated by waits,
// always ending in SIGKILL. `SIGTERM,1.6s,SIGKILL` is two steps:
// {SIGTERM, wait 1.6s} then {SIGKILL}. Invariants of a valid sequence: it has
// at least one step, the last step (and only the last) is SIGKILL, every
// step before it has a wait, and the waits add up to at most k_max_duration.
#pragma once

#include "forkspawn/duration.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace forkspawn {

struct StopStep {
    int signo = 0;
    Duration wait{0}; // how long to wait after sending, before the next step
    bool operator==(const StopStep&) const = default;
};

struct StopSequence {
    std::vector<StopStep> steps;
    bool operator==(const StopSequence&) const = default;

    // SIGTERM, 1.6s, SIGKILL
    static StopSequence standard();
    // Sum of the waits: the longest a cancel can take before SIGKILL.
    Duration grace() const;
    // "SIGTERM,1.6s,SIGKILL"
    std::string to_string() const;
};

inline constexpr std::string_view k_stop_help =
    "signals and waits that alternate, starting with a signal, e.g. "
    "SIGTERM,1.6s,SIGKILL (SIGKILL is appended when the sequence ends in a wait; a lone "
    "signal such as TERM means TERM,1.6s,SIGKILL)";

// One element of a stop sequence as it was written, with where it came from,
// so errors can point at it. `index` is its position in the JSON array or in
// the comma-separated list.
struct StopToken {
    std::string text;
    std::size_t index = 0;
};

struct StopError {
    std::size_t index; // the token the error is about
    std::string message;
};

// Builds a sequence from its tokens, appending SIGKILL when the tokens end in
// a wait. On failure returns nullopt and fills `errors` (one per bad token).
std::optional<StopSequence> parse_stop_tokens(const std::vector<StopToken>& tokens,
                                              std::vector<StopError>& errors);

// The command-line form: "SIGTERM,1.6s,SIGKILL". Errors are joined into `why`.
std::optional<StopSequence> parse_stop_sequence(std::string_view text, std::string* why);

} // namespace forkspawn
