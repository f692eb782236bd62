// SPDX-License-Identifier: MIT
// How a command actor's process runs and is stopped, beyond its argv and
// environment (DESIGN "Kill modes", the `kill`, `user`, `group`, `umask`,
// `nice` and `rlimits` fields): spec types and their parsers. The child
// side applies them (child_exec.cpp); user and group names are resolved on
// the supervisor's side just before each spawn (command.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace forkspawn::spec {

// Where the steps of a stop sequence go (systemd's KillMode names):
// `group` every step to the actor's process group; `main` every step to the
// main process only; `mixed` the stop signals to the main process and the
// final SIGKILL to the whole group. Whatever the mode, what is left of the
// actor is killed once its main process has exited.
enum class KillMode { group, main, mixed };
std::string_view kill_mode_name(KillMode m);
std::optional<KillMode> parse_kill_mode(std::string_view text);
inline constexpr std::string_view k_kill_mode_help = R"("group", "main", "mixed")";

// A user or group as written in the spec: a number, or a name looked up
// when the actor is spawned (a user made by an earlier actor counts).
struct Principal {
    std::string name;                // set when written as a name
    std::optional<std::uint32_t> id; // set when written as a number
    bool operator==(const Principal&) const = default;
    std::string to_string() const; // the name, or the number
};

// One resource limit: soft and hard, RLIM_INFINITY for unlimited.
struct Rlimit {
    int resource = 0; // RLIMIT_*
    std::uint64_t soft = 0;
    std::uint64_t hard = 0;
    bool operator==(const Rlimit&) const = default;
};

// One entry of the table of limits a spec may set.
struct RlimitName {
    const char* name; // "nofile", as prlimit(1) spells it
    int resource;     // RLIMIT_NOFILE
    enum Unit { count, bytes, seconds, microseconds } unit;
};
// Every limit, in alphabetical order.
const std::vector<RlimitName>& rlimit_names();
const RlimitName* find_rlimit(std::string_view name);
const RlimitName* find_rlimit(int resource);
// The allowed names, for messages: "as", "core", ...
std::string rlimit_help();

// One limit's value: a whole number, "infinity" (or "unlimited"), a size
// such as "2G" (binary units K, M, G, T) for a limit in bytes, a duration
// such as "10m" for cpu. nullopt with `why` when it is none of these.
std::optional<std::uint64_t> parse_rlimit_value(const RlimitName& limit, std::string_view text,
                                                bool is_number, std::string* why);
// "infinity", "2G", "1024", "10m"
std::string format_rlimit_value(const RlimitName& limit, std::uint64_t value);

// The process attributes of a command actor; each unset one is forkspawn's.
struct Execution {
    std::optional<Principal> user;
    std::optional<Principal> group;
    std::optional<mode_t> umask;
    std::optional<int> nice;     // -20 to 19
    std::vector<Rlimit> rlimits; // in the order of rlimit_names()
    bool operator==(const Execution&) const = default;
    bool empty() const { return *this == Execution{}; }
};

// "0027" (octal, 3 or 4 digits, each 0-7); nullopt when it is not one.
std::optional<mode_t> parse_umask(std::string_view text);
std::string format_umask(mode_t mask);

} // namespace forkspawn::spec
