// SPDX-License-Identifier: MIT
// Dependencies and readiness as the spec states them (DESIGN "Dependencies
// and readiness"): what a child waits for among its siblings (`after`), how
// an actor says it is ready (`ready`), and how often a ready notify actor
// must say it is alive (`watchdog`). Plain values; the supervisor acts on
// them.
#pragma once

#include "forkspawn/duration.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace forkspawn {

// What a child waits for on a sibling: its execve confirmed, its readiness,
// its completion, or its end (any outcome) for good.
enum class AfterCondition { started, ready, completed, ended };
std::string_view after_condition_name(AfterCondition c);
std::optional<AfterCondition> parse_after_condition(std::string_view text);
inline constexpr std::string_view k_after_help = R"("started", "ready", "completed", "ended")";

struct After {
    std::string sibling;
    std::size_t index = 0; // the sibling's index among the nursery's children
    AfterCondition condition = AfterCondition::ready;
    bool operator==(const After&) const = default;
};

struct Ready {
    enum class Source { none, notify, fd, output, exec, tcp };
    Source source = Source::none;  // none: ready as soon as it started
    int fd = -1;                   // fd: the notification fd's number (3 to 9)
    std::string pattern;           // output: a regular expression (RE2 syntax)
    std::vector<std::string> argv; // exec: the probe
    std::string host;              // tcp: a numeric address
    std::uint16_t port = 0;
    Duration interval{};                         // exec, tcp: between tries, and a probe's limit
    Duration timeout = std::chrono::seconds(90); // not ready by then: it fails
    bool operator==(const Ready&) const = default;
};
std::string_view ready_source_name(Ready::Source s);

inline constexpr int k_min_ready_fd = 3, k_max_ready_fd = 9;
inline constexpr Duration k_exec_interval = std::chrono::seconds(1);
inline constexpr Duration k_tcp_interval = std::chrono::milliseconds(200);

// "HOST:PORT" with a numeric IPv4 address, "[IPv6]" or "localhost"
// (127.0.0.1): names are not resolved, since a lookup could block the event
// loop. False with `why` set when it is not one.
bool parse_tcp_address(std::string_view text, std::string& host, std::uint16_t& port,
                       std::string* why);

} // namespace forkspawn
