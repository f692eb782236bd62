// SPDX-License-Identifier: MIT
// The spawn tree as users describe it, validated and normalized: every
// inherited field (stop, output) is resolved on every actor, every name and
// path is checked, and nothing from the JSON text is needed afterwards.
// A Spec is immutable once parsed; supervisors (including sub-supervisors in
// forked children) only read it.
#pragma once

#include "forkspawn/diagnostic.hpp"
#include "forkspawn/duration.hpp"
#include "forkspawn/execution.hpp"
#include "forkspawn/readiness.hpp"
#include "forkspawn/restart.hpp"
#include "forkspawn/stop_sequence.hpp"

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace forkspawn::spec {

enum class Kind { command, nursery };
enum class StdinMode { null, inherit };
// What a nursery does when a child ends (DESIGN "Strategies").
enum class Strategy { one_for_all, one_for_one, rest_for_one };
std::string_view strategy_name(Strategy s);
std::optional<Strategy> parse_strategy(std::string_view text);
inline constexpr std::string_view k_strategy_help =
    R"("one_for_all", "one_for_one", "rest_for_one")";

struct Output {
    enum class Mode { prefix, inherit, null, file };
    Mode mode = Mode::prefix;
    std::string path; // for Mode::file
    bool operator==(const Output&) const = default;
    std::string to_string() const; // "prefix", "file:/var/log/x"
};

struct Actor {
    std::string name;
    std::string path; // "root/etl/load"
    Kind kind = Kind::command;
    Position pos; // where the actor's object starts in the spec

    // Every actor.
    bool daemon = false;
    StopSequence stop;
    std::optional<Duration> timeout;
    Output output;
    RestartPolicy restart = RestartPolicy::never;
    Backoff backoff;          // inherited
    std::vector<After> after; // conditions on siblings, in spec order
    Ready ready;
    KillMode kill = KillMode::group; // inherited; applies to command actors

    // Command actors.
    std::vector<std::string> argv;
    std::vector<std::pair<std::string, std::string>> env; // in spec order
    bool env_clear = false;
    std::optional<std::string> cwd;
    StdinMode stdin_mode = StdinMode::null;
    std::vector<int> success_exit_codes{0}; // ascending
    std::optional<Duration> watchdog;       // with ready.notify
    Execution execution;                    // user, group, umask, nice, rlimits

    // Nursery actors (and the root).
    Strategy strategy = Strategy::one_for_all;
    Intensity intensity;
    std::optional<std::size_t> max_running; // none: unlimited
    std::vector<Actor> actors;

    // Whether an exit with `code` counts as completed.
    bool success(int code) const {
        for (int c : success_exit_codes)
            if (c == code) return true;
        return false;
    }
};

// What the command line supplies for fields the spec leaves out.
struct Defaults {
    StopSequence stop = StopSequence::standard();
    Output output;
    std::optional<std::size_t> max_running; // the root's, unless the spec gives one (-j)
};

struct Limits {
    std::size_t max_bytes = 16u << 20; // size of the spec text
    std::size_t max_actors = 100'000;  // in the whole tree
    std::size_t max_depth = 32;        // nurseries nested in nurseries
    std::size_t max_name_length = 128;
};

struct Spec {
    Actor root;
    std::size_t actor_count = 0; // every actor below the root
};

struct ParseResult {
    std::optional<Spec> spec;       // set exactly when errors is empty
    std::vector<Diagnostic> errors; // every error found, in text order
    // What is valid but may not do what its author means (a restart policy
    // under one_for_all restarts the siblings too), in text order.
    std::vector<Diagnostic> warnings;
};

ParseResult parse(std::string_view text, const Defaults& defaults = {}, const Limits& limits = {});

// The normalized tree, one line per actor, indented by depth. Without
// `env_values`, env values show as their length (they may be secrets).
std::string format_tree(const Spec& spec, bool env_values = true);

// A spec document whose root is `nursery`, every field written out as
// resolved (nothing left to inheritance), so that parse() of it gives the
// same subtree. Used to hand a subtree to a re-executed sub-supervisor.
std::string subtree_json(const Actor& nursery);

// Looks a variable up in forkspawn's environment (getenv in the CLI).
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// `value` with each ${NAME} replaced by lookup(NAME) (unset: empty) and
// each $$ by '$'; any other '$' is itself. nullopt, and why, for a '${'
// that is not ${NAME}.
std::optional<std::string> expand_env(std::string_view value, const EnvLookup& lookup,
                                      std::string* why);

// Resolves a parsed spec where it runs: env values expanded, and relative
// paths made absolute: cwd and output files from `base_dir` (the spec
// file's directory, or the current one for stdin), a program path with a
// slash from the actor's cwd when it has one, else from `base_dir`.
void resolve(Spec& spec, const std::string& base_dir, const EnvLookup& lookup);

// Sets `a.path` to `path` and every descendant's path below it.
void set_paths(Actor& a, const std::string& path);

} // namespace forkspawn::spec
