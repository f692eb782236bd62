// SPDX-License-Identifier: MIT
#include "forkspawn/stop_sequence.hpp"

#include "forkspawn/diagnostic.hpp"
#include "forkspawn/signals.hpp"

#include <csignal>
#include <fmt/format.h>

namespace forkspawn {

StopSequence StopSequence::standard() {
    return StopSequence{{StopStep{SIGTERM, std::chrono::milliseconds(1600)}, StopStep{SIGKILL}}};
}

Duration StopSequence::grace() const {
    Duration total{0};
    for (const auto& step : steps)
        total += step.wait;
    return total;
}

std::string StopSequence::to_string() const {
    std::string out;
    for (const auto& step : steps) {
        if (!out.empty()) out += ',';
        out += signal_name(step.signo);
        if (step.signo != SIGKILL) {
            out += ',';
            out += format_duration(step.wait);
        }
    }
    return out;
}

std::optional<StopSequence> parse_stop_tokens(const std::vector<StopToken>& tokens,
                                              std::vector<StopError>& errors) {
    const std::size_t errors_before = errors.size();
    StopSequence seq;
    if (tokens.empty()) {
        errors.push_back({0, fmt::format("empty stop sequence; use {}", k_stop_help)});
        return std::nullopt;
    }
    bool expect_signal = true;
    bool killed = false;
    Duration total{0};
    for (const auto& token : tokens) {
        if (killed) {
            errors.push_back(
                {token.index, fmt::format("{} comes after SIGKILL; SIGKILL ends a stop sequence",
                                          quote_input(token.text))});
            break;
        }
        const auto signo = parse_signal(token.text);
        std::string why;
        const auto wait = signo ? std::nullopt : parse_duration(token.text, &why);
        if (!signo && !wait) {
            errors.push_back({token.index, expect_signal
                                               ? fmt::format("{} is not a signal name; expected {}",
                                                             quote_input(token.text), k_signal_help)
                                               : fmt::format("expected a wait: {}", why)});
            // Keep going in the expected rhythm to find further errors.
            if (expect_signal) seq.steps.push_back({SIGTERM, {}});
            expect_signal = !expect_signal;
            continue;
        }
        if (expect_signal && wait) {
            errors.push_back(
                {token.index, seq.steps.empty()
                                  ? fmt::format("a stop sequence starts with a signal, not the "
                                                "wait {}; use {}",
                                                quote_input(token.text), k_stop_help)
                                  : fmt::format("two waits in a row ({}); put a signal "
                                                "between them",
                                                quote_input(token.text))});
            continue;
        }
        if (!expect_signal && signo) {
            errors.push_back(
                {token.index, fmt::format("{} follows a signal without a wait; put a wait "
                                          "such as 1s between two signals",
                                          quote_input(token.text))});
            continue;
        }
        if (signo && *signo == SIGSTOP) {
            // Every stop signal is followed by SIGCONT, so that a stopped
            // actor can act on it: SIGSTOP would be undone at once.
            errors.push_back({token.index, "SIGSTOP cannot stop an actor (each stop signal is "
                                           "followed by SIGCONT); use SIGTERM, SIGINT or "
                                           "whatever signal the program stops on"});
            seq.steps.push_back({SIGTERM, {}}); // keep the rhythm for further errors
            expect_signal = false;
            continue;
        }
        if (signo) {
            if (*signo == SIGKILL) killed = true;
            seq.steps.push_back({*signo, {}});
            expect_signal = *signo == SIGKILL; // nothing follows SIGKILL
        } else {
            seq.steps.back().wait = *wait;
            expect_signal = true;
            // Each wait is at most k_max_duration, but the supervisor adds
            // them up (grace(), nursery deadlines): keep the sum in range too.
            total += *wait;
            if (total > k_max_duration) {
                errors.push_back({token.index, fmt::format("the waits add up to more than {}; "
                                                           "that is the limit for the whole "
                                                           "sequence",
                                                           format_duration(k_max_duration))});
                break;
            }
        }
    }
    if (errors.size() != errors_before) return std::nullopt;
    if (!killed) {
        if (!expect_signal && tokens.size() == 1) {
            // A lone signal (`--stop=TERM`): it, the default wait, SIGKILL.
            seq.steps.back().wait = StopSequence::standard().steps.front().wait;
            seq.steps.push_back({SIGKILL, {}});
            return seq;
        }
        if (!expect_signal) {
            // Ends in a signal other than SIGKILL: there is no wait to end it.
            errors.push_back(
                {tokens.back().index,
                 fmt::format("the sequence ends with {} and no wait; add a wait after it "
                             "(SIGKILL follows), e.g. {},1.6s",
                             signal_name(seq.steps.back().signo),
                             signal_name(seq.steps.back().signo))});
            return std::nullopt;
        }
        seq.steps.push_back({SIGKILL, {}});
    }
    return seq;
}

std::optional<StopSequence> parse_stop_sequence(std::string_view text, std::string* why) {
    std::vector<StopToken> tokens;
    std::size_t start = 0;
    for (std::size_t index = 0;; ++index) {
        const std::size_t comma = text.find(',', start);
        std::string_view part = text.substr(
            start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        while (!part.empty() && part.front() == ' ')
            part.remove_prefix(1);
        while (!part.empty() && part.back() == ' ')
            part.remove_suffix(1);
        if (!(text.empty() && index == 0)) tokens.push_back({std::string(part), index});
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    std::vector<StopError> errors;
    auto seq = parse_stop_tokens(tokens, errors);
    if (!seq && why) {
        why->clear();
        for (const auto& e : errors) {
            if (!why->empty()) *why += "; ";
            *why += e.message;
        }
    }
    return seq;
}

} // namespace forkspawn
