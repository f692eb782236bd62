// SPDX-License-Identifier: MIT
// The spec's validator, for the files that implement it (not a public
// header): spec.cpp walks the tree (actors, children, names, where each
// field may be), fields.cpp parses each field's value. Every problem becomes
// one Diagnostic; nothing stops at the first.
#pragma once

#include "forkspawn/json_reader.hpp"
#include "forkspawn/restart.hpp"
#include "forkspawn/spec.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace forkspawn::spec {
using json::Type;
using json::Value;

inline constexpr std::string_view k_name_help = "letters, digits, '_', '.' and '-'";
inline constexpr std::string_view k_output_help =
    "\"prefix\", \"inherit\", \"null\" or {\"file\": PATH}";

// Fields by where they are allowed.
inline constexpr std::array k_all_fields{"name",
                                         "cmd",
                                         "actors",
                                         "daemon",
                                         "stop",
                                         "timeout",
                                         "env",
                                         "env_clear",
                                         "cwd",
                                         "stdin",
                                         "output",
                                         "strategy",
                                         "intensity",
                                         "max_running",
                                         "restart",
                                         "backoff",
                                         "success_exit_codes",
                                         "after",
                                         "ready",
                                         "watchdog",
                                         "kill",
                                         "user",
                                         "group",
                                         "umask",
                                         "nice",
                                         "rlimits"};
inline constexpr std::array k_command_only{
    "env",   "env_clear", "cwd",  "stdin",  "success_exit_codes", "watchdog", "user",
    "group", "umask",     "nice", "rlimits"};
inline constexpr std::array k_nursery_only{"strategy", "intensity", "max_running"};

template <std::size_t N>
inline bool contains(const std::array<const char*, N>& set, std::string_view key) {
    return std::find(set.begin(), set.end(), key) != set.end();
}

class Validator {
  public:
    Validator(const Defaults& defaults, const Limits& limits)
        : m_defaults(defaults), m_limits(limits) {}

    std::vector<Diagnostic> errors;
    std::vector<Diagnostic> warnings;
    std::size_t actor_count = 0;

    Actor root(const Value& v) {
        Inherited inherited{m_defaults.stop, m_defaults.output, Backoff{}, KillMode::group};
        return actor(v, "", "", inherited, 0);
    }

    // An error at `pos` (JSON pointer `pointer`); a value of the wrong type.
    void error(Position pos, std::string pointer, std::string message) {
        errors.push_back({pos, std::move(pointer), std::move(message)});
    }
    void type_error(const Value& v, const std::string& ptr, std::string_view expected) {
        error(v.pos, ptr, fmt::format("must be {}, not {}", expected, json::type_name(v.type)));
    }

  private:
    // What a nursery hands down to its children for fields they leave out.
    struct Inherited {
        StopSequence stop;
        Output output;
        Backoff backoff;
        KillMode kill;
    };

    const Defaults& m_defaults;
    const Limits& m_limits;
    bool m_reported_too_many = false;

    // Where each key of one object was first written. A lookup per key keeps
    // an object of many (duplicate) keys linear, not quadratic.
    using FirstKeys = std::map<std::string_view, Position>;

    // Records `m`'s key; false (and an error) when the object already had it.
    // The reader keeps duplicates; JSON parsers disagree on which one wins,
    // so a spec must not have them.
    bool first_key(FirstKeys& first, const json::Member& m, const std::string& mptr,
                   std::string_view what) {
        const auto [it, inserted] = first.emplace(m.key, m.key_pos);
        if (inserted) return true;
        error(m.key_pos, mptr,
              fmt::format("duplicate {} {} (first at line {}, column {})", what, quote_input(m.key),
                          it->second.line, it->second.column));
        return false;
    }

    std::optional<std::string> plain_string(const Value& v, const std::string& ptr,
                                            std::string_view expected);

    std::optional<bool> boolean(const Value& v, const std::string& ptr);

    // A duration longer than 0s, or (allow_zero) of 0s too.
    std::optional<Duration> duration(const Value& v, const std::string& ptr,
                                     bool allow_zero = false);

    std::optional<StopSequence> stop(const Value& v, const std::string& ptr);

    std::optional<Output> output(const Value& v, const std::string& ptr);

    void argv(const Value& v, const std::string& ptr, Actor& a);

    void env(const Value& v, const std::string& ptr, Actor& a);

    // The supervision fields (fields.cpp).
    std::optional<Strategy> strategy(const Value& v, const std::string& ptr);
    std::optional<RestartPolicy> restart(const Value& v, const std::string& ptr);
    std::optional<Backoff> backoff(const Value& v, const std::string& ptr);
    std::optional<Intensity> intensity(const Value& v, const std::string& ptr);
    std::optional<std::size_t> max_running(const Value& v, const std::string& ptr);
    void success_exit_codes(const Value& v, const std::string& ptr, Actor& a);

    // Dependencies and readiness (readiness.cpp): each actor's own fields,
    // then what only the whole nursery shows (unknown siblings, cycles).
    void after(const Value& v, const std::string& ptr, Actor& a);
    void ready(const Value& v, const std::string& ptr, Actor& a);
    void dependencies(const Value& v, const std::string& ptr, Actor& parent);
    void readiness_needs(const Value& v, const std::string& ptr, const Actor& a);

    // The execution fields of a command actor (execution.cpp).
    std::optional<KillMode> kill_mode(const Value& v, const std::string& ptr);
    std::optional<Principal> principal(const Value& v, const std::string& ptr,
                                       std::string_view what);
    std::optional<mode_t> umask(const Value& v, const std::string& ptr);
    std::optional<int> nice(const Value& v, const std::string& ptr);
    void rlimits(const Value& v, const std::string& ptr, Actor& a);

    void unknown_field(const json::Member& m, const std::string& mptr);

    Actor actor(const Value& v, const std::string& ptr, const std::string& parent_path,
                const Inherited& inherited, std::size_t depth);

    void children(const Value& v, const std::string& ptr, Actor& parent, std::size_t depth);
};

} // namespace forkspawn::spec
