// SPDX-License-Identifier: MIT
// The Supervisor of one nursery, for the files that implement it (not a
// public header): the actor's run record, the loop's tags and timers, the
// limits, and the class, whose methods live in files named after their
// concept (README, "Architecture"):
//   supervisor.cpp      the run from start to end; the lifecycle; signals, timers
//   spawner.cpp         the start window, stdio plans, backend completions
//   terminal.cpp        the terminal lent to one actor of the tree at a time
//   reaper.cpp          exits, orphans, adopted actors, the end-of-run kill,
//                       the emergency teardown after an internal error
//   guardian_link.cpp   registrations with the guardian, its replacement
//   nursery_link.cpp    reports and events up the tree, messages to children,
//                       the SIGUSR1 dump of the live tree
//   sub_supervisor.cpp  the child side of the channel; a sub-supervisor's start
//   output_mux.cpp      actors' output lines into the log, back-pressure
//   attempts.cpp        an attempt's end: the actor's report, or its restart
//   readiness.cpp       `after` conditions, readiness sources, the watchdog,
//                       stops in reverse dependency order
#pragma once

#include "forkspawn/backend.hpp"
#include "forkspawn/cgroup.hpp"
#include "forkspawn/channel.hpp"
#include "forkspawn/command.hpp"
#include "forkspawn/control.hpp"
#include "forkspawn/error.hpp"
#include "forkspawn/event_loop.hpp"
#include "forkspawn/guardian.hpp"
#include "forkspawn/guardian_protocol.hpp"
#include "forkspawn/lifecycle.hpp"
#include "forkspawn/line_splitter.hpp"
#include "forkspawn/process_handle.hpp"
#include "forkspawn/restart.hpp"
#include "forkspawn/signals.hpp"
#include "forkspawn/stop_machine.hpp"
#include "forkspawn/supervisor.hpp"
#include "forkspawn/sweep.hpp"
#include "forkspawn/sys.hpp"
#include "forkspawn/tree_report.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <deque>
#include <fcntl.h>
#include <fmt/format.h>
#include <memory>
#include <optional>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unordered_map>
#include <vector>

namespace re2 {
class RE2;
}

namespace forkspawn::supervise {

// Owns a compiled ready.output expression (readiness.cpp knows RE2).
struct RegexDeleter {
    void operator()(re2::RE2* re) const noexcept;
};

using lifecycle::Event;
using lifecycle::State;
using report::Outcome;

enum class Tag : std::uint32_t {
    signal = 1,
    timer,
    backend,
    pidfd,
    error_pipe,
    output,
    sink,
    channel,    // to a nursery child (index: the actor)
    parent,     // to this sub-supervisor's parent
    guardian,   // the guardian's socket, while messages wait for room in it
    ready,      // an actor's notify socket or notification fd (index: the actor)
    probe,      // an actor's tcp readiness connect in flight (index: the actor)
    probe_exit, // an actor's exec readiness probe's pidfd (index: the actor)
    cgroup,     // an emptying actor's cgroup.events (index: the actor)
    control,    // the control socket (index 0) and its clients (1 and up)
};

// Spawn request ids: an actor's index, or this bit with it for its exec
// readiness probe.
constexpr std::uint64_t k_probe_id = std::uint64_t{1} << 62;

inline std::uint64_t make_tag(Tag t, std::size_t index = 0) {
    return (static_cast<std::uint64_t>(t) << 32) | static_cast<std::uint32_t>(index);
}

enum class TimerKind : std::uint32_t {
    deadline = 1, // one its lifecycle armed (a stop step, a start that was cancelled)
    actor_timeout,
    tree_timeout,
    deaf_nursery,
    not_ready, // its ready.timeout
    watchdog,  // its watchdog
    probe,     // its next readiness try (tcp)
};

// How long a sub-supervisor that closed its channel may take to die.
constexpr Duration k_deaf_grace = std::chrono::milliseconds(500);

constexpr std::size_t k_line_limit = 64 * 1024;     // a longer line is cut, never held
constexpr std::size_t k_log_high_water = 1u << 20;  // pause actor output above this
constexpr std::size_t k_log_low_water = 256u << 10; // resume below this
// Unfinished lines held across all actors: past this they are printed as
// they are (cut), so that what is held stays bounded whatever the actor count.
constexpr std::size_t k_partial_budget = 1u << 20;
// At the end of a run, output waits this long at most for a log reader that
// takes nothing (stderr not read), then it is dropped and counted.
constexpr Duration k_output_stall = std::chrono::milliseconds(250);
constexpr Duration k_output_drain_limit = std::chrono::seconds(2);

// ANSI colours for actor prefixes on a terminal.
constexpr const char* k_prefix_colours[] = {"\x1b[36m", "\x1b[33m", "\x1b[35m", "\x1b[32m",
                                            "\x1b[34m", "\x1b[96m", "\x1b[93m", "\x1b[95m"};

// Time a sub-supervisor gets, after the cancel message, before its parent
// SIGKILLs it: its children are stopped in parallel, so the longest stop
// sequence below it, plus a margin per level for reaping and reporting.
constexpr Duration k_nursery_margin = std::chrono::milliseconds(1000);

// Independent children stop in parallel; a child's stop begins only once
// its dependents are reaped, so the longest chain of stops counts.
inline Duration nursery_grace(const spec::Actor& nursery) {
    const auto& kids = nursery.actors;
    const auto own = [](const spec::Actor& c) {
        return c.kind == spec::Kind::nursery ? nursery_grace(c) : c.stop.grace();
    };
    // chain[i]: i's own grace plus the longest chain of its dependents
    // (after points at a sibling, acyclic: check refused cycles).
    std::vector<std::optional<Duration>> chain(kids.size());
    const auto length = [&](auto& self, std::size_t i, std::size_t depth) -> Duration {
        if (chain[i]) return *chain[i];
        Duration longest{0};
        if (depth <= kids.size())
            for (std::size_t j = 0; j < kids.size(); ++j)
                for (const After& d : kids[j].after)
                    if (d.index == i) longest = std::max(longest, self(self, j, depth + 1));
        chain[i] = own(kids[i]) + longest;
        return *chain[i];
    };
    Duration longest{0};
    for (std::size_t i = 0; i < kids.size(); ++i)
        longest = std::max(longest, length(length, i, 0));
    return longest + k_nursery_margin;
}

// A nursery actor's "stop sequence": signal 0 stands for the cancel message.
inline StopSequence nursery_stop(const spec::Actor& nursery) {
    return StopSequence{{StopStep{0, nursery_grace(nursery)}, StopStep{SIGKILL, {}}}};
}

inline std::string stop_signal_name(int signo) {
    return signo == 0 ? "cancel" : signal_name(signo);
}

// What a forked nursery child needs, prepared by its parent before the fork
// and only read by the child (its own copy, after fork()).
struct NurseryStart {
    const spec::Actor* nursery = nullptr;
    Options options;
    int channel = -1;  // the child's end of the socketpair
    int guardian = -1; // the root guardian's pipe, to register groups at fork time
    pid_t parent_pid = 0;
    TimePoint t0;
    sigset_t signal_mask{};               // the child's mask: the supervised signals blocked
    std::int32_t* started_slot = nullptr; // its entry in the page of started pids
};

// The largest message on a parent <-> sub-supervisor channel (channel.hpp).
constexpr std::size_t k_max_message = 256 * 1024;
// An error that quotes what the spec gave (a 300,000-byte argv[0]) is cut to
// this, so that every report message stays far below what a datagram holds.
constexpr std::size_t k_error_limit = 4096;
constexpr std::size_t k_quote_limit = 1024; // what an error quotes (a path)

// `text` cut to at most `limit` bytes (at a UTF-8 character boundary) plus a
// note of how much was cut.
inline std::string cut_text(std::string text, std::size_t limit) {
    if (text.size() <= limit) return text;
    std::size_t end = limit;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
        --end;
    const std::size_t cut = text.size() - end;
    text.resize(end);
    text += fmt::format("... ({} bytes cut)", cut);
    return text;
}

struct ActorRun {
    const spec::Actor* spec = nullptr;
    lifecycle::Lifecycle life; // its state: see lifecycle.hpp
    std::unique_ptr<backend::PreparedCommand> prepared;
    pid_t pid = -1;     // of its last process, kept for the report
    ProcessHandle proc; // that process, until it is reaped
    UniqueFd error_pipe;
    UniqueFd output;                  // read end of the prefix pipe
    bool output_live = false;         // read from its spawn on
    bool output_watched = false;      // in the epoll set (not while output is paused)
    LineSplitter lines{k_line_limit}; // its output, cut into lines
    // Its last lines, for its report entry (output_tail) if it fails.
    OutputTail tail{report::k_tail_lines, report::k_tail_bytes};
    std::optional<std::string> cancel_reason;
    std::optional<std::string> spawn_error;
    bool failed = false; // counts as a failure of the nursery
    std::optional<TimePoint> started, ended;
    std::optional<int> exit_code, term_signal;
    Outcome outcome = Outcome::not_started;
    // What its attempts used so far (rusage of each reaped process).
    std::optional<report::Usage> usage;
    // Its cgroup (containment: made at its first spawn, kept across its
    // restarts, removed at its end), and that cgroup's events while it
    // empties (lifecycle State::emptying).
    cgroup::Cgroup cgroup;
    UniqueFd cgroup_events;
    // The control socket (control_link.cpp): what was last shown of it, and
    // a `ctl restart` under way (stopped, then started again at once).
    std::optional<control::LiveActor> live_sent;
    bool ctl_restart = false;

    // Nursery actors: the channel to the sub-supervisor.
    std::unique_ptr<NurseryStart> start;
    UniqueFd channel;
    std::deque<std::string> outbox;
    bool said_exit = false; // it said goodbye before closing the channel

    // Restarts (DESIGN "Restarts"): the attempt under way (1: the first),
    // the restarts so far, the consecutive ones that set the backoff, and
    // the report's record of the attempts.
    unsigned attempt = 0;
    unsigned restarts = 0;
    unsigned backoff_step = 0;
    bool gave_up = false;    // a restart was refused: the nursery's intensity was reached
    bool rejoin = false;     // stopped for a sibling's restart: starts again with the group
    bool holds_slot = false; // counts against the nursery's max_running
    std::deque<report::Attempt> attempts;
    std::size_t attempts_dropped = 0;
    // When this attempt's own timeout and a deaf sub-supervisor's grace are
    // due: a timer of an earlier attempt is not this one's.
    std::optional<TimePoint> timeout_due, deaf_due;

    // Readiness (readiness.cpp): the source's fd (the notify socket, the
    // notification pipe's read end), a tcp try in flight, the compiled
    // ready.output expression; whether this attempt was started (exec
    // confirmed) and ready, when, and its STATUS=; when its readiness,
    // watchdog and next tcp try are due. A stop that waits for its
    // dependents to be reaped first keeps its reason in stop_pending.
    UniqueFd ready_fd;
    UniqueFd probe_fd;
    std::unique_ptr<re2::RE2, RegexDeleter> ready_re;
    UniqueFd output_file; // its {"file": PATH} when ready.output reads its output
    bool was_started = false, was_ready = false;
    bool ready_early = false;  // said it before its execve was confirmed
    bool said_waiting = false; // logged that it waits for its dependencies
    std::optional<TimePoint> ready_at;
    std::optional<std::string> status_text;
    std::optional<TimePoint> ready_due, watchdog_due, probe_due;
    std::optional<std::string> stop_pending;
    // Its exec readiness probe: the command being created, the one running.
    std::unique_ptr<backend::PreparedCommand> probe_cmd;
    bool probe_spawning = false;
    ProcessHandle probe;
    bool probe_killed = false;  // ran past its interval, or its actor ended
    bool probe_missing = false; // its program is nowhere in PATH (said once)

    bool nursery() const { return spec->kind == spec::Kind::nursery; }

    explicit ActorRun(const spec::Actor& a)
        : spec(&a), life(a.kind == spec::Kind::nursery ? nursery_stop(a) : a.stop) {}

    lifecycle::State state() const { return life.state(); }
    bool done() const { return life.state() == lifecycle::State::ended; }
    const StopMachine& stop() const { return life.stop(); }
};

inline std::optional<std::string> status_text(const ActorRun& a) {
    return report::status_text(
        a.exit_code, a.term_signal ? std::optional(signal_name(*a.term_signal)) : std::nullopt);
}

// Adds one reaped process's rusage to `usage`: CPU times add up over
// attempts, the peak is the highest of them.
// `peak_known`: ru_maxrss is the program's (see Backend::child_shares_memory).
inline void add_rusage(std::optional<report::Usage>& usage, const rusage& ru,
                       bool peak_known = true) {
    if (!usage) usage = report::Usage{0, 0, std::nullopt, "rusage"};
    const auto ms = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) * 1000.0 + static_cast<double>(t.tv_usec) / 1000.0;
    };
    usage->cpu_user_ms += ms(ru.ru_utime);
    usage->cpu_system_ms += ms(ru.ru_stime);
    if (!peak_known) return;
    const auto peak = static_cast<std::uint64_t>(std::max(ru.ru_maxrss, 0L)); // KiB on Linux
    usage->max_rss_kib = std::max(usage->max_rss_kib.value_or(0), peak);
}

inline report::Kind kind_of(const spec::Actor& a) {
    return a.kind == spec::Kind::nursery ? report::Kind::nursery : report::Kind::cmd;
}

// An actor below the nurseries we run, known by pid from its "spawned"
// event: if its sub-supervisor dies it is adopted by us, and we reap and
// report it.
struct Remote {
    std::string path;
    report::Kind kind = report::Kind::cmd;
    std::optional<double> started_ms; // unknown when found in the page of started pids
    // When it started (process_start_ticks, read by its supervisor
    // while it held it unreaped): the pid is this actor's only while a
    // process with that pid has that start. Its "reaped" may never come
    // (its supervisor was killed between the reap and the message), and
    // the pid may then be given to any process.
    std::uint64_t start_ticks = 0;
};

// The signals the signalfd takes: blocked in every thread of a supervisor.
sigset_t supervised_signals();
// While an actor holds the terminal, forkspawn is a background group of it
// (supervisor.cpp).
void ignore_terminal_stops();

// The sub-supervisor's entry in a fork that runs on (a NurseryStart as its
// argument), and its run in either form (sub_supervisor.cpp).
[[noreturn]] void nursery_child_main(void* arg);
int run_sub_supervisor(const spec::Actor& nursery, const Options& options, int channel,
                       int guardian, TimePoint t0);

// One nursery's supervisor: the root, or a sub-supervisor in a child
// process. It owns the event loop, the backend, the guardian link and its
// actors; supervisor.cpp tells the story of a run, and each concept file
// below holds the methods of its part.
class Supervisor {
  public:
    // The root: reports go to `report_sink`, in the slots of the whole tree.
    Supervisor(const spec::Actor& nursery, const Options& options, Sink& report_sink,
               Sink& log_sink)
        : m_nursery(nursery), m_options(options), m_report_sink(&report_sink), m_log_sink(log_sink),
          m_t0(Clock::now()), m_terminal_lease(true) {
        for (const auto& child : nursery.actors)
            m_actors.emplace_back(child);
        m_tree.emplace(nursery, options.backend);
        number_children();
        index_dependents();
        m_restart_window = RestartWindow(nursery.intensity);
    }

    // A sub-supervisor: reports and lifecycle events go up `parent`.
    Supervisor(const spec::Actor& nursery, const Options& options, Sink& log_sink, UniqueFd parent,
               TimePoint t0, int guardian_fd)
        : m_nursery(nursery), m_options(options), m_log_sink(log_sink), m_t0(t0),
          m_guardian_fd(guardian_fd), m_parent(std::move(parent)) {
        for (const auto& child : nursery.actors)
            m_actors.emplace_back(child);
        number_children();
        index_dependents();
        m_restart_window = RestartWindow(nursery.intensity);
    }

    // Runs the nursery to its end; an internal error (any exception) kills
    // everything it started at once, and the result says so (exit 70).
    Result run();
    // Sends what is queued for the parent, waiting at most `limit`.
    void flush_parent(std::chrono::milliseconds limit);
    // The last message to the parent (sub_supervisor.cpp).
    void say_goodbye();

  private:
    // ---- supervisor.cpp: the run, the lifecycle, signals and timers --------
    void supervise();  // the event loop, until every actor ended
    void end_of_run(); // leftovers killed, helpers stopped
    Result result();
    void setup();
    void add_timer(TimePoint when, TimerKind kind, std::size_t index = 0);
    void on_timer();
    void on_signal();
    // `restart` (exited only): the attempt is restarted after that delay.
    void apply(std::size_t i, Event e, TimePoint now = Clock::now(), bool exec_pending = false,
               std::optional<Duration> restart = std::nullopt);
    void stop_actor(std::size_t i, const std::string& reason);
    void actor_timeout(std::size_t i);
    void cancel_actor(std::size_t i, const std::string& reason);
    void cancel_all(const std::string& reason);
    void set_cause(const std::string& cause, int exit_code, report::Result result);
    void nursery_failed(std::size_t culprit);
    void check_work_done();
    static bool ended_before_its_stop(const ActorRun& a);
    // Exited and waitable, not reaped yet.
    static bool has_exited(const ActorRun& a) { return a.proc.exited(); }
    // A command actor that exited already and is only not reaped yet.
    static bool exited_unreaped(const ActorRun& a) { return !a.nursery() && has_exited(a); }
    // Its attempt was reaped and its end is being reported (an actor that
    // waits for its restart keeps its last attempt's status, and is not).
    static bool reaped_unreported(const ActorRun& a) {
        return a.state() != State::restarting && (a.exit_code || a.term_signal);
    }
    bool all_done() const {
        return std::all_of(m_actors.begin(), m_actors.end(),
                           [](const ActorRun& a) { return a.done(); });
    }
    bool root() const { return m_report_sink != nullptr; }
    double ms_since_start(TimePoint t) const { return to_ms(t - m_t0); }
    void log(int level, std::string_view text) {
        if (m_options.verbosity >= level) m_log_sink.write(fmt::format("forkspawn: {}\n", text));
    }
    void watch(int fd, std::uint64_t tag, std::uint32_t events) { m_loop.watch(fd, tag, events); }
    void rewatch(int fd, std::uint64_t tag, std::uint32_t events) {
        m_loop.rewatch(fd, tag, events);
    }
    void unwatch(int fd) { m_loop.unwatch(fd); }

    // How long the end-of-run kill of escaped processes may take; the root's
    // covers the whole tree, a sub-supervisor's only its own children.
    static constexpr Duration k_root_kill_budget = std::chrono::seconds(10);
    static constexpr Duration k_nursery_kill_budget = std::chrono::seconds(3);
    std::array<char, 512> m_internal_error{}; // what() of the error, when there was one
    bool m_leftovers = false;                 // the end-of-run kill ran out of time

    const spec::Actor& m_nursery;
    const Options& m_options;
    Sink* m_report_sink = nullptr; // the root only
    Sink& m_log_sink;
    TimePoint m_t0;
    std::vector<ActorRun> m_actors;
    Guardian m_guardian; // the root's (guardian_link.cpp)

    // ---- containment.cpp: cgroups (DESIGN "Containment") --------------------
    // Where the children's cgroups are made: the root's is the run's cgroup,
    // made here; a sub-supervisor's is its nursery's, made by its parent.
    // Empty: process groups only.
    cgroup::Cgroup m_cgroup_home;
    std::string m_containment = "process_group"; // the report's: or "cgroup"
    void setup_cgroups();
    // Makes actor i's cgroup at its first spawn; false when it could not
    // (then it is spawn_failed).
    bool prepare_cgroup(std::size_t i);
    // Actor i's main process was reaped: true when its cgroup still holds
    // processes (killed), and it waits in State::emptying for them to go.
    bool empties(std::size_t i, TimePoint now);
    void on_cgroup(std::size_t i);
    void emptying_deadline(std::size_t i, TimePoint now);
    // Its end for good: its usage read from its cgroup, the cgroup removed.
    void end_cgroup(ActorRun& a);
    void remove_cgroup(ActorRun& a);
    // The run's cgroup, at the end of the run (the root).
    void remove_run_cgroup();
    // The tail of an exit, once the actor's cgroup is empty: the restart
    // decision and the lifecycle's exited.
    void exit_applied(std::size_t i, TimePoint now);
    bool peak_known(const ActorRun& a, const rusage& ru);
    std::optional<long> m_own_peak_kib; // forkspawn's ru_maxrss, this turn of the loop
    std::unique_ptr<backend::Backend> m_backend;
    EventLoop m_loop;
    UniqueFd m_signalfd, m_dev_null;
    // The root's report: one slot per actor of the whole tree, depth-first.
    std::optional<TreeReport> m_tree;

    // Why the root nursery was cancelled: the first cause decides the exit.
    std::optional<std::string> m_cancel_cause;
    bool m_work_done = false; // every non-daemon actor completed
    int m_exit_code = 0;
    report::Result m_result = report::Result::completed;
    bool m_failed = false;
    int m_sigint_count = 0;

    // ---- attempts.cpp: an attempt's end, for good or to restart -----------
    void finish(std::size_t i, TimePoint now, State from);
    void end_attempt(std::size_t i, TimePoint now);
    void record_attempt(ActorRun& a, report::Outcome outcome) const;
    static bool attempt_failed(const ActorRun& a);
    std::optional<Duration> restart_delay(std::size_t i, TimePoint now);
    void attempt_ended(std::size_t i, TimePoint now);
    void restart_now(std::size_t i);
    void reset_attempt(ActorRun& a);
    void give_up(std::size_t culprit);
    void begin_group_restart(std::size_t culprit, TimePoint not_before);
    void try_group_start();

    RestartWindow m_restart_window{Intensity{}};
    // A restart of a group (one_for_all: every child; rest_for_one: the
    // culprit and the children after it): each member is stopped, and once
    // all are down they start again in spec order, none before not_before.
    struct GroupRestart {
        std::size_t first = 0;
        TimePoint not_before;
    };
    std::optional<GroupRestart> m_group;

    // ---- readiness.cpp: after, readiness sources, watchdog, stop order ----
    enum class Gate { open, wait, never };
    Gate dependencies_met(std::size_t i, const After** unmet = nullptr) const;
    bool prepare_readiness(std::size_t i, backend::CommandExtras& extras);
    void on_running(std::size_t i, TimePoint now);
    void mark_ready(std::size_t i, TimePoint now);
    void publish_ready(const channel::Ready& m);
    void on_ready_fd(std::size_t i);
    void on_notify(std::size_t i);
    void on_probe(std::size_t i);
    void try_tcp(std::size_t i, TimePoint now);
    void start_probe(std::size_t i, TimePoint now);
    void probe_started(std::size_t i, backend::SpawnCompletion done);
    void on_probe_exit(std::size_t i);
    void kill_probe(ActorRun& a);
    void readiness_timer(TimerKind kind, std::size_t i, TimePoint now);
    void readiness_failed(std::size_t i, const std::string& reason, std::string what);
    void close_readiness(std::size_t i);
    void drain_readiness(std::size_t i);
    void started_before_its_exit(std::size_t i);
    bool match_ready_line(std::size_t i, std::string_view line);
    bool has_stopping_dependent(std::size_t i) const;
    void release_stops();
    template <typename Pred> void cancel_where(Pred pred, const std::string& reason) {
        // Marked first, released in dependency order (release_stops).
        for (std::size_t i = 0; i < m_actors.size(); ++i) {
            ActorRun& a = m_actors[i];
            if (!pred(i) || a.done() || a.life.cancelled() || a.stop_pending) continue;
            a.stop_pending = reason;
            ++m_pending_stops;
        }
        release_stops();
    }
    void clear_stop_pending(ActorRun& a) {
        if (a.stop_pending) --m_pending_stops;
        a.stop_pending.reset();
    }
    void index_dependents();
    // A stop of its own making that counts as its failure (restarted per policy).
    static bool own_failure(const ActorRun& a) {
        return report::own_failure_reason(a.cancel_reason);
    }
    std::vector<std::size_t> m_blocked; // waiting on `after`, in spec order
    // Each child's dependents (the siblings whose `after` names it), and
    // how many stops wait for dependents to be reaped.
    std::vector<std::vector<std::size_t>> m_dependents;
    std::size_t m_pending_stops = 0;
    bool m_releasing = false, m_release_again = false; // release_stops is running
    // Exec probes being created or not reaped yet: the run ends after them.
    std::size_t m_probes_active = 0, m_probes_spawning = 0;
    std::unordered_map<pid_t, std::size_t> m_probe_by_pid;

    // ---- spawner.cpp: the start window, stdio, backend completions ---------
    void start_more();
    void begin_start(std::size_t i);
    void submit(std::size_t i);
    void submit_nursery(std::size_t i);
    void on_backend();
    void started(backend::SpawnCompletion done);
    void on_error_pipe(std::size_t i);
    void spawn_failed(std::size_t i, std::string error);
    UniqueFd dup_fd(int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3)); }
    static UniqueFd open_output_file(const std::string& path);
    static std::string output_open_error(const std::string& path, int err);

    // Children start in order, at most k_spawn_window command actors in
    // flight (submitted, spawn not reported yet) at a time: each holds its
    // stdio and output pipe fds until then, so a wide tree prepared all at
    // once would run out of fds before the first actor could be reaped
    // (10,000 actors: 30,000 fds). The rest start as spawns are reported.
    static constexpr std::size_t k_spawn_window = 32;
    std::size_t m_next_start = 0;
    std::size_t m_in_flight = 0;
    // Children started and not ended for good (restarting ones included: a
    // restart keeps its slot, ahead of children never started), against
    // the nursery's max_running.
    std::size_t m_holding = 0;
    bool m_starting = false;    // start_more is running
    bool m_start_again = false; // asked again meanwhile

    // ---- terminal.cpp: one actor of the tree at a time holds the terminal --
    bool wants_terminal(const ActorRun& a) const;
    void wait_for_terminal(std::size_t i);
    void pass_terminal_on();
    void release_terminal(std::size_t i);

    // The terminal (stdin "inherit" on forkspawn's foreground terminal) is
    // held by one actor of the whole tree at a time. The root may always
    // hand it out; a sub-supervisor only while its parent lent it the
    // terminal (asked for with a "terminal" message when one of its actors
    // wants it, given back when none does). The holder is an actor of ours,
    // or a nursery actor whose sub-supervisor holds the lease; the waiting
    // are command actors not started yet and nurseries that asked, in the
    // order they asked.
    bool m_terminal_lease = false; // the root's is always set
    bool m_terminal_asked = false;
    std::optional<std::size_t> m_terminal_holder;
    std::deque<std::size_t> m_terminal_waiting;

    // ---- reaper.cpp: exits, orphans, adopted actors, the end-of-run kill ----
    void on_pidfd(std::size_t i);
    void reap_exited();
    void reap_orphans();
    void reap_remote(pid_t pid, const Remote& remote);
    bool kill_orphans(Duration budget);
    void emergency_teardown() noexcept;
    void signal_actor(ActorRun& a, int signo, bool resume = true);
    bool hosts_other_actors(pid_t pgid);
    static std::size_t count_below(const spec::Actor& a);
    void number_children();
    std::int32_t* started_slot(std::size_t i) const;
    static const spec::Actor* actor_at(const std::vector<spec::Actor>& actors, std::size_t first,
                                       std::size_t k);
    std::optional<Remote> started_below(pid_t pid);
    bool remote_is(pid_t pid, const Remote& r) const {
        return r.start_ticks != 0 && process_start_ticks(pid) == r.start_ticks;
    }

    std::unordered_map<pid_t, std::size_t> m_by_pid;
    std::size_t m_orphans = 0;
    // Actors below the nurseries we run, by pid, from their "spawned"
    // events: if their sub-supervisor dies they are adopted by us, and we
    // reap and report them.
    std::unordered_map<pid_t, Remote> m_remote;
    // The page of started pids (StartedPage).
    std::vector<std::size_t> m_slot; // each child's entry, ascending
    std::size_t m_slots_end = 0;     // one past the last entry of our subtree
    // Whether another running actor of ours is in process group `pgid` (a
    // program may setpgid into a sibling's group: same session). Read from
    // the kernel (getpgid of each running actor) at most once per loop
    // iteration, when first asked; an actor that joins a group after that
    // is seen in the next one.
    std::unordered_map<pid_t, std::size_t> m_group_guests; // pgid -> actors in it not leading it
    bool m_group_guests_fresh = false;

    // ---- guardian_link.cpp: registrations with the guardian ----------------
    void tell_guardian(char op, pid_t pgid, std::uint64_t start = 0);
    void flush_guardian();
    void drain_guardian(std::chrono::milliseconds limit);
    void guardian_died();

    int m_guardian_fd = -1; // the root's guardian pipe (the root: its own)
    // Messages to the guardian from the event loop, in order. One that finds
    // the socket full waits here (and every later one behind it) until
    // EPOLLOUT: the loop never blocks on a guardian that stopped reading.
    std::deque<GuardianMessage> m_guardian_outbox;
    bool m_guardian_watched = false;
    static constexpr int k_max_guardian_restarts = 10;
    int m_guardian_restarts = 0;

    // ---- control_link.cpp: the control socket (DESIGN "Control") ----------
    // Requests are answered by the root, from its live table of the whole
    // tree; stop, start, restart and signal are carried out by the
    // supervisor of the actor's nursery (down the channels). A request that
    // waits for the tree to change (stop, start, restart, wait) is pending
    // until the live table shows it done.
    struct Pending {
        control::Server::ClientId client = 0;
        control::Request request;
        std::uint64_t number = 0;         // its id on the channels
        std::vector<std::size_t> targets; // entries of the live table
        std::vector<unsigned> baseline;   // start, restart: each target's attempt before
        std::vector<bool> moved;          // start, restart: seen not ended since
    };
    void setup_control();
    void on_control(std::size_t index, std::uint32_t events);
    void control_request(control::Server::ClientId client, const control::Request& r);
    std::optional<std::string> control_route(std::uint64_t number, control::Op op,
                                             const std::string& path, int signo);
    std::optional<std::string> control_apply(std::size_t i, control::Op op, int signo);
    void control_refused(std::uint64_t number, const std::string& error);
    void control_progress();
    bool control_done(Pending& p);
    void control_finish(const report::Summary& summary);
    void revived(std::size_t i);
    control::LiveActor live_of(const ActorRun& a) const;
    void live_changed(std::size_t i);
    void live_update(const control::LiveActor& l);
    // A jsonl event line: to the report (--report=jsonl) and to the
    // control clients that asked for events.
    bool wants_events() const {
        return m_options.format == report::Format::jsonl ||
               (m_control && m_control->has_subscribers());
    }
    void emit_event(const std::string& line);

    std::unique_ptr<control::Server> m_control; // the root, with --control
    control::LiveTable m_live;
    std::vector<Pending> m_pending;
    std::uint64_t m_next_request = 1;

    // ---- nursery_link.cpp: reports and events up, messages to children ---
    void publish(const report::ActorReport& r);
    void publish_spawned(const std::string& path, report::Kind kind, pid_t pid, double started_ms,
                         unsigned attempt);
    void publish_attempt_ended(const channel::AttemptEnded& m);
    void send_parent(const channel::Up& message);
    void send_child(ActorRun& a, const channel::Down& message);
    bool flush_outbox(int fd, std::deque<std::string>& outbox, std::uint64_t tag);
    void on_channel(std::size_t i, std::uint32_t events = EPOLLIN);
    void dump_tree(); // SIGUSR1: ours, then each sub-supervisor its own part
    report::ActorReport make_report(const ActorRun& a) const;
    // Reads every datagram there is now, handing each to `handle` as a
    // string; false at EOF (or an error: the peer is gone either way).
    template <typename F> bool read_messages(int fd, F&& handle) {
        auto& buf = m_message_buf;
        for (;;) {
            const ssize_t n =
                sys::retry_recv([&] { return ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT); });
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
            if (n <= 0) return false;
            handle(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        }
    }

    std::vector<char> m_message_buf = std::vector<char>(k_max_message); // one, reused

    // ---- sub_supervisor.cpp: the child side of the channel -----------------
    void on_parent(std::uint32_t events);

    UniqueFd m_parent; // sub-supervisors only
    std::deque<std::string> m_parent_outbox;
    bool m_parent_gone = false;

    // ---- output_mux.cpp: actors' output lines into the log -----------------
    void emit_line(std::size_t i, std::string_view line);
    bool on_output(std::size_t i);
    bool read_output(std::size_t i);
    void watch_output(std::size_t i);
    void close_output(ActorRun& a);
    static bool to_log(const ActorRun& a);
    std::string spawn_detail(const ActorRun& a) const;
    void pause_tree();
    void shift_deadlines(Duration by);
    std::optional<std::vector<std::string>> output_tail(const ActorRun& a) const;
    void after_write();
    void on_sink(std::size_t index, std::uint32_t events);
    void drain_outputs();

    bool m_output_paused = false;
    bool m_log_registered = false, m_report_registered = false;
    bool m_report_failed = false;
    std::size_t m_partial_bytes = 0;  // unfinished lines held, all actors
    std::size_t m_output_dropped = 0; // bytes of actors' output never written
};

} // namespace forkspawn::supervise
