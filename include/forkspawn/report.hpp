// SPDX-License-Identifier: MIT
// The report: how every actor ended, as plain data, and its renderings
// (table for people, json and jsonl for scripts). Rendering is pure: it
// returns text and never writes anywhere itself.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace forkspawn::report {

enum class Outcome { completed, failed, spawn_failed, cancelled, killed, not_started };
std::string_view outcome_name(Outcome o);

enum class Kind { cmd, nursery };
std::string_view kind_name(Kind k);
std::optional<Kind> parse_kind(std::string_view name);

// How the run ended, as a whole.
enum class Result { completed, failed, timeout, cancelled, internal_error };
std::string_view result_name(Result r);

// The one rendering of how a process ended: "rc=3" or "signal=SIGKILL";
// none when neither is known (it never ran).
std::optional<std::string> status_text(std::optional<int> exit_code,
                                       const std::optional<std::string>& signal);

struct StopReport {
    std::vector<std::string> sent; // signal names in the order sent, e.g. SIGTERM, SIGKILL
    bool escalated = false;        // SIGKILL was sent
    double exit_after_ms = 0;      // from the first stop signal to the exit
    std::vector<double> sent_ms;   // when each of `sent` was sent, ms since forkspawn started
};

// One run of an actor's process (DESIGN "Restarts"); the actor's own fields
// describe its last one.
struct Attempt {
    std::optional<long> pid;
    std::optional<std::string> status; // "rc=3"; none for a spawn that failed
    Outcome outcome = Outcome::not_started;
    std::optional<double> started_ms;
    std::optional<double> ended_ms;
};
// How many attempts a report keeps, the last ones; attempts_dropped counts
// the rest.
inline constexpr std::size_t k_max_attempts = 20;

// What an actor used over all its attempts (DESIGN "The report", usage):
// CPU time and peak memory of it and what it started.
struct Usage {
    double cpu_user_ms = 0;
    double cpu_system_ms = 0;
    std::optional<std::uint64_t> max_rss_kib; // peak resident memory
    // Where the numbers come from: "cgroup" (its cgroup's cpu.stat and
    // memory.peak), "rusage" (the kernel's rusage of its main process and
    // the descendants that process waited for), "cgroup+rusage" (CPU from
    // its cgroup, peak memory from rusage: no memory controller).
    std::string source;
    bool operator==(const Usage&) const = default;
};

struct ActorReport {
    std::string path; // root/etl/load
    std::string name; // load
    Kind kind = Kind::cmd;
    std::string backend; // spawn backend key
    std::optional<long> pid;
    std::optional<std::string> status; // "rc=3" or "signal=SIGKILL"; none if never ran
    std::optional<int> exit_code;
    std::optional<std::string> signal; // "SIGKILL"
    Outcome outcome = Outcome::not_started;
    std::optional<std::string> cancel_reason; // "timeout", "sibling_failed", "signal:SIGINT", ...
    std::optional<std::string> error;         // spawn failure text
    std::optional<double> started_ms;         // since forkspawn started
    std::optional<double> ended_ms;
    std::optional<double> runtime_ms;
    std::optional<double> ready_ms;         // when it became ready (its last attempt)
    std::optional<std::string> status_text; // its last STATUS= (sd_notify)
    std::optional<StopReport> stop;         // set once a stop sequence began
    unsigned restarts = 0;
    std::vector<Attempt> attempts; // the last k_max_attempts, oldest first
    std::size_t attempts_dropped = 0;
    std::optional<Usage> usage; // none when it never ran
    // Its last lines of output (≤ k_tail_lines, ≤ k_tail_bytes), kept when
    // it failed or was killed and its output passed through forkspawn;
    // none otherwise (the field is then absent from the JSON).
    std::optional<std::vector<std::string>> output_tail;
};
inline constexpr std::size_t k_tail_lines = 10;
inline constexpr std::size_t k_tail_bytes = 4096;

// A cancel reason that is the actor's own failure (its timeout, readiness
// or watchdog: DESIGN "Restarts"), not something done to it.
inline bool own_failure_reason(const std::optional<std::string>& reason) {
    return reason && (*reason == "timeout" || *reason == "not_ready" || *reason == "watchdog");
}

// What decided a failed run (DESIGN "The report", cause): the actor whose
// own failure came first. A nursery counts only when nothing below it
// failed of its own (its supervisor died, say).
struct Cause {
    std::string path;
    Outcome outcome = Outcome::failed;
    std::optional<std::string> status;
    std::optional<std::string> cancel_reason;
    std::optional<std::string> error;
};

struct Summary {
    std::string version;
    std::string backend;
    Result result = Result::completed;
    int exit_code = 0;
    double duration_ms = 0;
    // How actors were contained: "cgroup" (a cgroup v2 each) or
    // "process_group" (DESIGN "Containment").
    std::string containment = "process_group";
    std::optional<Cause> cause; // none unless failed or timed out
    // Command actors per outcome (indexed by Outcome): a failure three
    // levels deep counts once, not once per nursery above it.
    std::array<std::size_t, 6> counts{};
};

// The first own failure that decided `result`: for `failed`, the actor
// (at any depth) that failed first of its own (failed, spawn_failed, or
// cancelled for its timeout, readiness or watchdog); for `timeout`, the
// root with `tree_timeout`; otherwise none.
std::optional<Cause> find_cause(Result result, const std::vector<ActorReport>& actors);
// Sets `s.cause` and `s.counts` from the final report entries.
void summarize(Summary& s, const std::vector<ActorReport>& actors);

enum class Format { table, json, jsonl, none };

// One JSON object for an actor (the fields of DESIGN.md, nulls included).
std::string actor_json(const ActorReport& a);
// The inverse of actor_json, for reports that travel from sub-supervisors;
// nullopt if `text` is not such an object.
std::optional<ActorReport> parse_actor_json(std::string_view text);
// The same from a parsed value (a message that carries a report).
std::optional<ActorReport> actor_from_json(const nlohmann::json& j);
// One jsonl line: {"event": "reaped", ...actor fields} with a newline.
std::string jsonl_reaped(const ActorReport& a);
// The events of an actor's run, as they happen (each a line with a newline;
// `ms`: since forkspawn started): it was spawned for its `attempt` (1, 2, ...),
// an attempt that will be restarted ended, and the restart waits `delay_ms`.
std::string jsonl_spawned(const std::string& path, long pid, unsigned attempt, double ms);
std::string jsonl_exited(const std::string& path, unsigned attempt,
                         const std::optional<std::string>& status, Outcome outcome, double ms);
std::string jsonl_restarting(const std::string& path, unsigned attempt, double delay_ms, double ms);
// It became ready (DESIGN "Dependencies and readiness") at `ready_ms`.
std::string jsonl_ready(const std::string& path, unsigned attempt, double ready_ms);
// {"event": "summary", ...summary fields} with a newline.
std::string jsonl_summary(const Summary& s);
// The whole json report, one object, with a final newline.
std::string render_json(const Summary& s, const std::vector<ActorReport>& actors);
// Aligned columns; ANSI colour on the outcome when `colour` is set. With
// a `width` (terminal columns; 0: none), long paths are shortened in the
// middle and NOTE wraps so that rows fit. Then the summary: the result,
// command actors per outcome, and the cause with its last output.
std::string render_table(const Summary& s, const std::vector<ActorReport>& actors, bool colour,
                         std::size_t width = 0);

// One actor of the live tree, as `forkspawn ctl SOCKET status` shows it
// (the control socket's status reply; DESIGN "Control").
struct StatusRow {
    std::string path;
    Kind kind = Kind::cmd;
    std::optional<long> pid;
    std::string state;                        // waiting, starting, running, ready, ...
    std::optional<std::string> outcome;       // its end, or its last attempt's
    std::optional<std::string> cancel_reason; // "ctl_stop", "sibling_failed", ...
    unsigned restarts = 0;
    unsigned attempt = 0; // 0: never started
    bool ready = false;
    std::optional<std::string> status_text; // its last STATUS= (sd_notify)
    std::optional<double> runtime_ms;
};
// The live tree for people, as render_table looks: a header, aligned
// columns (PATH KIND PID STATE OUTCOME RESTARTS READY RUNTIME STATUS, '-'
// for what is absent), ANSI colour on the outcome when `colour` is set, and
// a line counting the actors per state (`now_ms`: since forkspawn started).
std::string render_status_table(const std::vector<StatusRow>& actors, double now_ms, bool colour);

} // namespace forkspawn::report
