#include "forkspawn/supervisor.hpp"

#include "forkspawn/backend.hpp"
#include "forkspawn/channel.hpp"
#include "forkspawn/command.hpp"
#include "forkspawn/error.hpp"
#include "forkspawn/event_loop.hpp"
#include "forkspawn/guardian.hpp"
#include "forkspawn/guardian_protocol.hpp"
#include "forkspawn/lifecycle.hpp"
#include "forkspawn/process_handle.hpp"
#include "forkspawn/line_splitter.hpp"
#include "forkspawn/signals.hpp"
#include "forkspawn/stop_machine.hpp"
#include "forkspawn/sweep.hpp"
#include "forkspawn/tree_report.hpp"
#include "forkspawn/sys.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <queue>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unordered_map>

extern char** environ;

namespace forkspawn::supervise {

namespace {

// The signals the signalfd takes: blocked in every thread of a supervisor.
sigset_t supervised_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD})
        sigaddset(&set, signo);
    return set;
}

// A page of started pids for `count` actors (StartedPage): -1 in the
// UniqueFd when none could be made (the tree runs without it).
UniqueFd make_started_page(std::size_t count) {
    if (count == 0) return UniqueFd();
    UniqueFd fd(::memfd_create("forkspawn-started", MFD_CLOEXEC));
    if (fd && ::ftruncate(fd.get(), static_cast<off_t>(count * sizeof(std::int32_t))) < 0)
        fd.reset();
    return fd;
}

// forkspawn's own process group when its stdin is its controlling terminal
// and it is in the terminal's foreground; 0 otherwise.
pid_t foreground_terminal_group() {
    if (::isatty(STDIN_FILENO) != 1) return 0;
    const pid_t fg = ::tcgetpgrp(STDIN_FILENO);
    return fg > 0 && fg == ::getpgrp() ? fg : 0;
}

// While an actor holds the terminal, forkspawn is a background group of it:
// it must neither stop when it writes to it (TOSTOP) nor when it gives the
// terminal back (tcsetpgrp from the background raises SIGTTOU). Actors get
// default dispositions back in exec_child.
void ignore_terminal_stops() {
    ::signal(SIGTTOU, SIG_IGN);
    ::signal(SIGTTIN, SIG_IGN);
}

} // namespace

void block_supervised_signals() {
    const sigset_t set = supervised_signals();
    if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) sys::fail("pthread_sigmask");
    // A closed report pipe must be an EPIPE we can act on, not a death.
    ::signal(SIGPIPE, SIG_IGN);
}

namespace {

using report::Outcome;
using lifecycle::Event;
using lifecycle::State;

[[noreturn]] void nursery_child_main(void* arg);
int run_sub_supervisor(const spec::Actor& nursery, const Options& options, int channel,
                       int guardian, TimePoint t0);

enum class Tag : std::uint32_t {
    signal = 1,
    timer,
    backend,
    pidfd,
    error_pipe,
    output,
    sink,
    channel,  // to a nursery child (index: the actor)
    parent,   // to this sub-supervisor's parent
    guardian, // the guardian's socket, while messages wait for room in it
};

std::uint64_t make_tag(Tag t, std::size_t index = 0) {
    return (static_cast<std::uint64_t>(t) << 32) | static_cast<std::uint32_t>(index);
}

enum class TimerKind : std::uint32_t {
    deadline = 1, // one its lifecycle armed (a stop step, a start that was cancelled)
    actor_timeout,
    tree_timeout,
    deaf_nursery,
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

Duration nursery_grace(const spec::Actor& nursery) {
    Duration longest{0};
    for (const auto& c : nursery.actors)
        longest =
            std::max(longest, c.kind == spec::Kind::nursery ? nursery_grace(c) : c.stop.grace());
    return longest + k_nursery_margin;
}

// A nursery actor's "stop sequence": signal 0 stands for the cancel message.
StopSequence nursery_stop(const spec::Actor& nursery) {
    return StopSequence{{StopStep{0, nursery_grace(nursery)}, StopStep{SIGKILL, {}}}};
}

std::string stop_signal_name(int signo) {
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
    sigset_t signal_mask{}; // the child's mask: the supervised signals blocked
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
std::string cut_text(std::string text, std::size_t limit) {
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
    UniqueFd output; // read end of the prefix pipe
    bool output_live = false;    // read from its spawn on
    bool output_watched = false; // in the epoll set (not while output is paused)
    LineSplitter lines{k_line_limit}; // its output, cut into lines
    std::optional<std::string> cancel_reason;
    std::optional<std::string> spawn_error;
    bool failed = false; // counts as a failure of the nursery
    std::optional<TimePoint> started, ended;
    std::optional<int> exit_code, term_signal;
    Outcome outcome = Outcome::not_started;

    // Nursery actors: the channel to the sub-supervisor.
    std::unique_ptr<NurseryStart> start;
    UniqueFd channel;
    std::deque<std::string> outbox;
    bool said_exit = false;         // it said goodbye before closing the channel

    bool nursery() const { return spec->kind == spec::Kind::nursery; }

    explicit ActorRun(const spec::Actor& a)
        : spec(&a), life(a.kind == spec::Kind::nursery ? nursery_stop(a) : a.stop) {}

    lifecycle::State state() const { return life.state(); }
    bool done() const { return life.state() == lifecycle::State::ended; }
    const StopMachine& stop() const { return life.stop(); }
};

std::optional<std::string> status_text(const ActorRun& a) {
    return report::status_text(a.exit_code, a.term_signal ? std::optional(signal_name(*a.term_signal))
                                                          : std::nullopt);
}

report::Kind kind_of(const spec::Actor& a) {
    return a.kind == spec::Kind::nursery ? report::Kind::nursery : report::Kind::cmd;
}

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
    }

    // A sub-supervisor: reports and lifecycle events go up `parent`.
    Supervisor(const spec::Actor& nursery, const Options& options, Sink& log_sink, UniqueFd parent,
               TimePoint t0, int guardian_fd)
        : m_nursery(nursery), m_options(options), m_log_sink(log_sink), m_parent(std::move(parent)),
          m_t0(t0), m_guardian_fd(guardian_fd) {
        for (const auto& child : nursery.actors)
            m_actors.emplace_back(child);
        number_children();
    }

    // Runs the nursery to its end; an internal error (any exception) kills
    // everything it started at once, and the result says so (exit 70).
    Result run();
    // Sends what is queued for the parent, waiting at most `limit`.
    void flush_parent(std::chrono::milliseconds limit);
    // The last message to the parent: everything before it arrived. The
    // log goes first, for a bounded time (the parent waits for this exit);
    // what a log reader that took nothing leaves is dropped, and the count
    // goes up so that the root says it once.
    void say_goodbye() {
        using std::chrono::duration_cast, std::chrono::milliseconds;
        if (!m_log_sink.drain(duration_cast<milliseconds>(k_output_drain_limit),
                              duration_cast<milliseconds>(k_output_stall)))
            m_output_dropped += m_log_sink.discard();
        send_parent(channel::Exit{m_output_dropped});
        flush_parent(std::chrono::seconds(5));
    }

  private:
    void supervise();  // the event loop, until every actor ended
    void end_of_run(); // leftovers killed, helpers stopped
    Result result();

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
    UniqueFd m_parent; // sub-supervisors only
    std::deque<std::string> m_parent_outbox;
    bool m_parent_gone = false;
    TimePoint m_t0;
    int m_guardian_fd = -1; // the root's guardian pipe (the root: its own)
    bool root() const { return m_report_sink != nullptr; }

    // The root's report: one slot per actor of the whole tree, depth-first.
    std::optional<TreeReport> m_tree;
    // Actors below the nurseries we run, by pid, from their "spawned"
    // events: if their sub-supervisor dies they are adopted by us, and we
    // reap and report them.
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
    bool remote_is(pid_t pid, const Remote& r) const {
        return r.start_ticks != 0 && process_start_ticks(pid) == r.start_ticks;
    }
    std::unordered_map<pid_t, Remote> m_remote;

    // ---- the page of started pids (StartedPage) -------------------------
    std::vector<std::size_t> m_slot; // each child's entry, ascending
    std::size_t m_slots_end = 0;     // one past the last entry of our subtree

    static std::size_t count_below(const spec::Actor& a) {
        std::size_t n = 0;
        for (const auto& c : a.actors)
            n += 1 + count_below(c);
        return n;
    }
    void number_children() {
        std::size_t next = m_options.first_slot;
        for (const auto& child : m_nursery.actors) {
            m_slot.push_back(next);
            next += 1 + count_below(child);
        }
        m_slots_end = next;
    }
    std::int32_t* started_slot(std::size_t i) const {
        const backend::StartedPage& page = m_options.page;
        return page.slots && m_slot[i] < page.count ? page.slots + m_slot[i] : nullptr;
    }
    // The actor of entry k below `actors` (whose first entry is `first`).
    static const spec::Actor* actor_at(const std::vector<spec::Actor>& actors, std::size_t first,
                                       std::size_t k) {
        for (const auto& a : actors) {
            if (k == first) return &a;
            const std::size_t end = first + 1 + count_below(a);
            if (k < end) return actor_at(a.actors, first + 1, k);
            first = end;
        }
        return nullptr;
    }
    // An adopted process that is an actor deeper in our subtree, forked by a
    // sub-supervisor that was killed before it reported it: its entry in the
    // page still holds its pid (nobody reaped it; it is our zombie now, so
    // the pid cannot have been given to anyone else). Our own children's
    // entries are not looked at: they are ours to know.
    std::optional<Remote> started_below(pid_t pid) {
        const backend::StartedPage& page = m_options.page;
        if (!page.slots || m_slot.empty()) return std::nullopt;
        const std::size_t end = std::min(m_slots_end, page.count);
        for (std::size_t k = m_slot.front(); k < end; ++k) {
            if (__atomic_load_n(page.slots + k, __ATOMIC_ACQUIRE) != pid ||
                std::binary_search(m_slot.begin(), m_slot.end(), k))
                continue;
            const spec::Actor* a = actor_at(m_nursery.actors, m_slot.front(), k);
            if (!a) return std::nullopt;
            __atomic_store_n(page.slots + k, 0, __ATOMIC_RELEASE);
            return Remote{a->path, kind_of(*a),
                          std::nullopt, 0};
        }
        return std::nullopt;
    }

    std::vector<ActorRun> m_actors;
    Guardian m_guardian;
    std::unique_ptr<backend::Backend> m_backend;
    EventLoop m_loop;
    UniqueFd m_signalfd, m_dev_null;
    std::unordered_map<pid_t, std::size_t> m_by_pid;

    // Why the root nursery was cancelled: the first cause decides the exit.
    std::optional<std::string> m_cancel_cause;
    bool m_work_done = false; // every non-daemon actor completed
    int m_exit_code = 0;
    report::Result m_result = report::Result::completed;
    bool m_failed = false;
    int m_sigint_count = 0;
    bool m_output_paused = false;
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
    bool m_log_registered = false, m_report_registered = false;
    std::size_t m_orphans = 0;

    double ms_since_start(TimePoint t) const { return to_ms(t - m_t0); }

    void log(int level, std::string_view text) {
        if (m_options.verbosity >= level) m_log_sink.write(fmt::format("forkspawn: {}\n", text));
    }

    // ---- setup ---------------------------------------------------------
    void setup() {
        m_loop.open(make_tag(Tag::timer));
        sigset_t set;
        sigemptyset(&set);
        for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD})
            sigaddset(&set, signo);
        m_signalfd = UniqueFd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!m_signalfd) sys::fail("signalfd");
        m_dev_null = UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
        if (!m_dev_null) sys::fail("open /dev/null");
        // The guardian first: it sets FORKSPAWN_TREE, which every process
        // started from now on inherits. Sub-supervisors register their
        // actors with the root's.
        if (root()) m_guardian = Guardian::start();
        m_backend = backend::make_backend(m_options.backend);
        if (!m_backend) throw Error("unknown spawn backend " + m_options.backend);
        if (root()) m_guardian_fd = m_guardian.fd();
        m_backend->set_guardian_fd(m_guardian_fd);
        m_backend->set_started_page(m_options.page);
        if (m_parent) watch(m_parent.get(), make_tag(Tag::parent), EPOLLIN);
        watch(m_signalfd.get(), make_tag(Tag::signal), EPOLLIN);
        watch(m_backend->ready_fd(), make_tag(Tag::backend), EPOLLIN);
        if (m_log_sink.pollable()) {
            watch(m_log_sink.fd(), make_tag(Tag::sink, 0), 0);
            m_log_registered = true;
        }
        if (root() && m_report_sink->pollable() && m_report_sink->fd() != m_log_sink.fd()) {
            watch(m_report_sink->fd(), make_tag(Tag::sink, 1), 0);
            m_report_registered = true;
        }
    }

    void watch(int fd, std::uint64_t tag, std::uint32_t events) { m_loop.watch(fd, tag, events); }
    void rewatch(int fd, std::uint64_t tag, std::uint32_t events) {
        m_loop.rewatch(fd, tag, events);
    }
    void unwatch(int fd) { m_loop.unwatch(fd); }

    // ---- timers ------------------------------------------------------------
    void add_timer(TimePoint when, TimerKind kind, std::size_t index = 0) {
        m_loop.add_timer(when, (static_cast<std::uint64_t>(kind) << 32) | index);
    }
    void on_timer() {
        const TimePoint now = Clock::now();
        for (const std::uint64_t token : m_loop.take_due(now)) {
            const auto kind = static_cast<TimerKind>(token >> 32);
            const std::size_t index = token & 0xffffffffu;
            switch (kind) {
            case TimerKind::deadline:
                // Its own clock reading: a batch of due actors takes a while
                // to signal, and the time each signal went out is reported.
                apply(index, Event::deadline, Clock::now());
                break;
            case TimerKind::actor_timeout:
                actor_timeout(index);
                break;
            case TimerKind::deaf_nursery:
                if (ActorRun& a = m_actors[index]; a.life.has_process()) {
                    if (!a.cancel_reason) a.cancel_reason = "channel_closed";
                    apply(index, Event::kill, now);
                }
                break;
            case TimerKind::tree_timeout:
                reap_exited();
                // Once the work is done only daemons are left, being cancelled.
                if (!m_cancel_cause && !m_work_done) {
                    // --timeout, or the root's own timeout in the spec.
                    log(1, fmt::format("the tree's timeout of {} ran out; cancelling the tree",
                                       format_duration(*m_options.tree_timeout)));
                    set_cause("tree_timeout", k_exit_timeout, report::Result::timeout);
                    cancel_all("tree_timeout");
                }
                break;
            }
        }
    }

    // ---- spawning ----------------------------------------------------------
    // Children start in order, at most k_spawn_window command actors in
    // flight (submitted, spawn not reported yet) at a time: each holds its
    // stdio and output pipe fds until then, so a wide tree prepared all at
    // once would run out of fds before the first actor could be reaped
    // (10,000 actors: 30,000 fds). The rest start as spawns are reported.
    static constexpr std::size_t k_spawn_window = 32;
    std::size_t m_next_start = 0;
    std::size_t m_in_flight = 0;

    void start_more() {
        while (m_next_start < m_actors.size() && m_in_flight < k_spawn_window) {
            if (m_cancel_cause) return; // a failure while starting: the rest never start
            const std::size_t i = m_next_start++;
            if (m_actors[i].state() == State::waiting) begin_start(i);
        }
    }

    // Its start slot came: it starts now, or waits in line for the terminal.
    void begin_start(std::size_t i) {
        ActorRun& a = m_actors[i];
        if (wants_terminal(a) && (m_terminal_holder || !m_terminal_lease)) {
            log(2, fmt::format("{} waits for the terminal", a.spec->path));
            wait_for_terminal(i);
            return; // stays waiting: started when the terminal is free
        }
        apply(i, Event::start); // submit()
    }

    UniqueFd dup_fd(int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3)); }

    // An actor's {"file": PATH}, opened on the loop thread, so never with a
    // wait: a plain O_WRONLY open of a FIFO sleeps until a reader opens it
    // (fifo(7)), and a terminal's may wait for carrier. With O_NONBLOCK a
    // FIFO without a reader fails at once with ENXIO, and a regular file
    // ignores the flag. The flag is then cleared: the actor expects blocking
    // writes, and F_SETFL changes only this open file description, which is
    // the actor's alone. -1 in the UniqueFd on failure, errno set.
    static UniqueFd open_output_file(const std::string& path) {
        UniqueFd fd(::open(
            path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644));
        if (!fd) return fd;
        const int flags = ::fcntl(fd.get(), F_GETFL);
        if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) {
            const int err = errno;
            fd.reset();
            errno = err;
        }
        return fd;
    }

    // Why open_output_file failed, for the actor's spawn error. ENXIO also
    // means a socket or a device without a driver: the FIFO is checked.
    static std::string output_open_error(const std::string& path, int err) {
        struct stat st;
        if (err == ENXIO && ::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode))
            return "no reader on the FIFO (ENXIO)";
        return errno_text(err);
    }

    bool wants_terminal(const ActorRun& a) const {
        return m_options.terminal_home > 0 && !a.nursery() &&
               a.spec->stdin_mode == spec::StdinMode::inherit;
    }

    void submit(std::size_t i) {
        ActorRun& a = m_actors[i];
        const spec::Actor& s = *a.spec;
        if (a.nursery()) {
            submit_nursery(i);
            return;
        }
        const bool terminal = wants_terminal(a);
        // Out of fds (EMFILE, ENFILE) is a spawn failure of this actor, not
        // a fatal error of the supervisor: the tree is torn down as usual.
        const auto setup_failed = [&](const char* what) {
            spawn_failed(
                i, fmt::format("failed to set up {} ({}): {}", s.name, what, errno_text(errno)));
        };
        UniqueFd in, out;
        if (s.stdin_mode == spec::StdinMode::null) {
            in = dup_fd(m_dev_null.get());
            if (!in) return setup_failed("stdin /dev/null");
        }
        switch (s.output.mode) {
        case spec::Output::Mode::prefix: {
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC) < 0) return setup_failed("output pipe");
            a.output = UniqueFd(fds[0]);
            out = UniqueFd(fds[1]);
            sys::set_nonblocking(a.output.get());
            break; // watched once the spawn is reported (see started)
        }
        case spec::Output::Mode::inherit:
            break;
        case spec::Output::Mode::null:
            out = dup_fd(m_dev_null.get());
            if (!out) return setup_failed("stdout /dev/null");
            break;
        case spec::Output::Mode::file:
            out = open_output_file(s.output.path);
            if (!out) {
                const int err = errno;
                spawn_failed(i, fmt::format("failed to set up {} (open output {}): {}", s.name,
                                            s.output.path, output_open_error(s.output.path, err)));
                return;
            }
            break;
        }
        a.prepared = std::make_unique<backend::PreparedCommand>(s, environ, std::move(in),
                                                                std::move(out), UniqueFd());
        if (!a.prepared->found()) {
            // What execvp(3) would say, before any fork: nothing runs.
            a.prepared.reset();
            spawn_failed(
                i, fmt::format("failed to execute {}: {}", cut_text(s.argv.front(), k_quote_limit),
                               errno_text(ENOENT)));
            return;
        }
        ++m_in_flight;
        backend::SpawnRequest request{i, a.prepared->args()};
        request.args.take_terminal = terminal;
        request.args.started_slot = started_slot(i);
        if (terminal) m_terminal_holder = i;
        m_backend->submit(request);
    }

    void wait_for_terminal(std::size_t i) {
        m_terminal_waiting.push_back(i);
        if (!m_terminal_lease && !m_terminal_asked) {
            m_terminal_asked = true;
            send_parent(channel::TerminalWant{true});
        }
        pass_terminal_on();
    }

    // Hands the free terminal to the first waiting actor that still wants
    // it; with nobody left, a sub-supervisor gives its lease back.
    void pass_terminal_on() {
        while (m_terminal_lease && !m_terminal_holder && !m_terminal_waiting.empty()) {
            const std::size_t next = m_terminal_waiting.front();
            m_terminal_waiting.pop_front();
            ActorRun& a = m_actors[next];
            if (a.nursery()) {
                if (!a.life.has_process() || !a.channel) continue;
                m_terminal_holder = next;
                send_child(a, channel::TerminalLent{});
            } else if (a.state() == State::waiting && !m_cancel_cause) {
                begin_start(next); // takes the terminal as it starts
            }
        }
        if (!root() && m_terminal_lease && !m_terminal_holder && m_terminal_waiting.empty()) {
            m_terminal_lease = false;
            m_terminal_asked = false;
            send_parent(channel::TerminalWant{false});
        }
    }

    // The holder ended, or its sub-supervisor gave the lease back: the
    // terminal goes back to forkspawn's group, unless a live group other
    // than the holder's has it now (the holder's own job control handed it
    // on, and that job is still running), and the next one gets it.
    void release_terminal(std::size_t i) {
        std::erase(m_terminal_waiting, i);
        if (m_terminal_holder != i) return;
        m_terminal_holder.reset();
        const pid_t home = m_options.terminal_home;
        const pid_t fg = ::tcgetpgrp(STDIN_FILENO);
        if (fg > 0 && fg != home && (fg == m_actors[i].pid || ::kill(-fg, 0) < 0) &&
            ::tcsetpgrp(STDIN_FILENO, home) < 0)
            log(1, fmt::format("cannot take the terminal back from {}: {}", m_actors[i].spec->path,
                               errno_text(errno)));
        pass_terminal_on();
    }

    // A nursery child is made while this thread waits (parked) for it; see
    // Backend::spawn_nursery. The child gets its end of a socketpair.
    void submit_nursery(std::size_t i) {
        ActorRun& a = m_actors[i];
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
            spawn_failed(i, fmt::format("failed to start {} (socketpair): {}", a.spec->name,
                                        errno_text(errno)));
            return;
        }
        UniqueFd mine(fds[0]), theirs(fds[1]);
        a.start = std::make_unique<NurseryStart>();
        a.start->nursery = a.spec;
        a.start->options = m_options;
        a.start->options.format = report::Format::none;
        a.start->options.tree_timeout.reset(); // the root keeps the tree's deadline
        a.start->channel = theirs.get();
        a.start->guardian = m_guardian_fd;
        a.start->parent_pid = ::getpid();
        a.start->t0 = m_t0;
        a.start->signal_mask = supervised_signals();
        a.start->options.first_slot = m_slot[i] + 1;
        a.start->started_slot = started_slot(i);
        sys::set_nonblocking(mine.get());
        a.channel = std::move(mine);
        // Both forms, the backend makes its own: a fork that runs
        // nursery_child_main, or a fresh image of forkspawn in its hidden
        // sub-supervisor mode.
        backend::NurseryRequest request;
        request.id = i;
        request.run = &nursery_child_main;
        request.arg = a.start.get();
        request.subtree = a.spec;
        request.options = nlohmann::json{{"path", a.spec->path},
                                         {"backend", m_options.backend},
                                         {"verbosity", m_options.verbosity},
                                         {"colour", m_options.colour},
                                         {"terminal_home", m_options.terminal_home},
                                         {"first_slot", m_slot[i] + 1},
                                         {"t0_ns", m_t0.time_since_epoch().count()}}
                              .dump();
        request.channel = theirs.get();
        request.started_slot = started_slot(i);
        auto done = m_backend->spawn_nursery(request);
        theirs.reset(); // the child has its copy
        watch(a.channel.get(), make_tag(Tag::channel, i), EPOLLIN);
        started(std::move(done));
    }

    void on_backend() {
        for (auto& done : m_backend->take_completions())
            started(std::move(done));
        reap_orphans(); // what waited for the backend's answers
        start_more();
    }

    void started(backend::SpawnCompletion done) {
        const std::size_t i = done.id;
        ActorRun& a = m_actors[i];
        if (!a.nursery()) --m_in_flight;
        if (a.prepared) a.prepared->release_child_fds(); // the child has its copies now
        if (done.pid < 0) {
            spawn_failed(i,
                         done.refused.empty()
                             ? fmt::format("failed to start {} ({}): {}", a.spec->name,
                                           done.failed_call, errno_text(done.error))
                             : fmt::format("failed to start {}: {}", a.spec->name, done.refused));
            return;
        }
        a.pid = done.pid;
        a.started = done.forked_at != TimePoint{} ? done.forked_at : Clock::now();
        m_by_pid[a.pid] = i;
        if (!done.pidfd) {
            // Without a pidfd the child cannot be tracked safely: kill it
            // while it is certainly unreaped (its pid is still its own). It
            // is reaped like an orphan when SIGCHLD says it died, so the
            // loop never waits for it here.
            ::kill(a.pid, SIGKILL);
            tell_guardian('-', a.pid);
            m_by_pid.erase(a.pid);
            a.pid = -1;
            spawn_failed(i, fmt::format("failed to track {} ({}): {}", a.spec->name,
                                        done.failed_call, errno_text(done.error)));
            return;
        }
        a.proc = ProcessHandle(a.pid, std::move(done.pidfd));
        a.error_pipe = std::move(done.error_pipe);
        // Registered by the child and its forking thread already, unless
        // the guardian's socket was full (they cannot wait) or a backend's
        // process holds a dead guardian's socket (see guardian_died): from
        // here too, where a message that does not fit waits its turn.
        tell_guardian('+', a.pid);
        // Its output is read only from now on: nothing it prints is
        // shown before its spawn is known (and its group guarded).
        a.output_live = true;
        watch_output(i);
        publish_spawned(a.spec->path, kind_of(*a.spec), a.pid,
                        ms_since_start(*a.started));
        watch(a.proc.fd(), make_tag(Tag::pidfd, i), EPOLLIN);
        if (a.error_pipe) watch(a.error_pipe.get(), make_tag(Tag::error_pipe, i), EPOLLIN);
        log(2, fmt::format("{} spawned, pid {}", a.spec->path, a.pid));
        if (a.spec->timeout) add_timer(*a.started + *a.spec->timeout, TimerKind::actor_timeout, i);
        // Until the exec-error pipe answers, whether execve succeeds is not
        // known (a sub-supervisor has nothing to exec, or is a fresh image
        // of forkspawn that reports its own failures).
        const bool ended = ended_before_its_stop(a);
        apply(i, Event::spawned, Clock::now(), (a.error_pipe && !a.nursery()) || ended);
        if (ended && !a.stop().started()) on_pidfd(i);
    }

    // The exec-error pipe: EOF means execve succeeded; a ChildError means
    // the child failed before or at execve and is exiting with 127.
    void on_error_pipe(std::size_t i) {
        ActorRun& a = m_actors[i];
        if (!a.error_pipe) return;
        const backend::SpawnArgs no_args;
        const backend::SpawnArgs& args = a.prepared ? a.prepared->args() : no_args;
        const std::string program = a.prepared ? a.prepared->program() : "/proc/self/exe";
        backend::ChildError e;
        const ssize_t n =
            sys::retry_eintr([&] { return ::read(a.error_pipe.get(), &e, sizeof e); });
        if (n < 0 && errno == EAGAIN) return;
        unwatch(a.error_pipe.get());
        if (n == static_cast<ssize_t>(sizeof e) && !a.spawn_error) {
            const auto stage = static_cast<backend::ChildStage>(e.stage);
            a.spawn_error = cut_text(
                stage == backend::ChildStage::exec
                    ? fmt::format("failed to execute {}: {}", cut_text(program, k_quote_limit),
                                  errno_text(e.err))
                    : fmt::format("failed to set up {} ({}): {}", a.spec->name,
                                  cut_text(backend::stage_text(stage, args), k_quote_limit),
                                  errno_text(e.err)),
                k_error_limit);
        }
        a.error_pipe.reset();
        // Read after its reap (on_pidfd): its end is what counts.
        if (a.exit_code || a.term_signal) return;
        if (ended_before_its_stop(a)) {
            on_pidfd(i);
            return;
        }
        apply(i, a.spawn_error ? Event::exec_failed : Event::exec_confirmed);
    }

    void spawn_failed(std::size_t i, std::string error) {
        ActorRun& a = m_actors[i];
        a.spawn_error = cut_text(std::move(error), k_error_limit);
        close_output(a);
        apply(i, Event::spawn_failed);
    }

    // ---- stopping ----------------------------------------------------------
    void signal_actor(ActorRun& a, int signo) {
        if (a.nursery()) {
            // A sub-supervisor is cancelled by message; SIGKILL is the
            // fallback when it does not finish in time.
            if (signo == 0) {
                send_child(a, channel::Cancel{*a.cancel_reason});
            } else {
                a.proc.signal(signo);
            }
            return;
        }
        // The group reaches the actor's own children. If the actor left its
        // group (its children may still be in it), the signal through its
        // handle still reaches the actor itself. A group that another actor
        // joined is not signalled as a whole: the signal is this actor's,
        // not its sibling's.
        const bool leader_in_group = a.proc.leads_group();
        const bool shared = hosts_other_actors(a.pid);
        const bool group_ok = !shared && a.proc.signal_group(signo) == 0;
        if (!group_ok || !leader_in_group || signo == SIGKILL) a.proc.signal(signo);
        if (signo != SIGKILL && signo != SIGCONT && signo != SIGSTOP) {
            // A stopped actor cannot act on the signal until it continues.
            if (shared || a.proc.signal_group(SIGCONT) != 0 || !leader_in_group)
                a.proc.signal(SIGCONT);
        }
    }

    // Whether another running actor of ours is in process group `pgid` (a
    // program may setpgid into a sibling's group: same session). Read from
    // the kernel (getpgid of each running actor) at most once per loop
    // iteration, when first asked; an actor that joins a group after that
    // is seen in the next one.
    std::unordered_map<pid_t, std::size_t> m_group_guests; // pgid -> actors in it not leading it
    bool m_group_guests_fresh = false;

    bool hosts_other_actors(pid_t pgid) {
        if (!m_group_guests_fresh) {
            m_group_guests.clear();
            for (const auto& b : m_actors) {
                const pid_t g = b.proc.group();
                if (g > 0 && g != b.pid) ++m_group_guests[g];
            }
            m_group_guests_fresh = true;
        }
        return m_group_guests.count(pgid) > 0;
    }

    // ---- the lifecycle: events in, actions out -----------------------------
    // Applies an event to actor i's lifecycle and carries out what it asks
    // for (lifecycle.hpp has the table). Every stop signal, deadline, spawn
    // and end of an actor goes through here.
    void apply(std::size_t i, Event e, TimePoint now = Clock::now(), bool exec_pending = false) {
        ActorRun& a = m_actors[i];
        const auto before = a.life.deadline();
        const lifecycle::Transition t = a.life.apply(e, now, exec_pending);
        if (t.ignored) return;
        const lifecycle::Actions& act = t.actions;
        if (act.withdraw && m_backend->withdraw(i)) {
            --m_in_flight;
            a.prepared.reset();
            close_output(a);
            apply(i, Event::withdrawn, now);
            return;
        }
        if (act.kill_starting) {
            if (!m_backend->kill_starting(i)) {
                // Not in the backend's hands for a moment (just taken from
                // its queue, or reported and not taken yet): look again.
                apply(i, Event::kill_missed, now);
                return;
            }
            log(1, fmt::format("{} was cancelled before its execve and has not reached it "
                               "within {}; sent SIGKILL",
                               a.spec->path, format_duration(a.stop().sequence().grace())));
        }
        if (act.signal) {
            const int signo = *act.signal;
            signal_actor(a, signo); // first: the message can wait, the deadline cannot
            if (t.from == State::stopping) {
                if (signo == SIGKILL && e == Event::deadline)
                    log(1, fmt::format("{} did not {} within {}; sent SIGKILL", a.spec->path,
                                       a.nursery() ? "finish its teardown" : "stop",
                                       format_duration(a.stop().sequence().grace())));
            } else if (t.from == State::cancelling_start && e == Event::deadline)
                log(1, fmt::format("{} was cancelled before its execve and has not reached it "
                                   "within {}; sent SIGKILL",
                                   a.spec->path, format_duration(a.stop().sequence().grace())));
            else if (e != Event::kill && a.cancel_reason)
                log(2, fmt::format("{} stopping ({}): {}", a.spec->path, *a.cancel_reason,
                                   stop_signal_name(signo)));
        }
        if (const auto d = a.life.deadline(); d && d != before)
            add_timer(*d, TimerKind::deadline, i);
        if (act.submit) submit(i);
        if (act.finish) finish(i, now);
    }

    // Stops actor i for `reason`: its stop sequence, or SIGKILL at once
    // after a second SIGINT.
    void stop_actor(std::size_t i, const std::string& reason) {
        m_actors[i].cancel_reason = reason;
        apply(i, m_sigint_count >= 2 ? Event::kill : Event::cancel);
    }

    // Takes every exit that happened before now, ahead of a signal or a
    // deadline: one that comes after the last actor ended has nothing left
    // to cancel, and must not be reported as having cancelled the tree.
    void reap_exited() {
        for (std::size_t i = 0; i < m_actors.size(); ++i)
            if (m_actors[i].life.has_process() && has_exited(m_actors[i])) on_pidfd(i);
    }

    // Exited and waitable, not reaped yet.
    static bool has_exited(const ActorRun& a) { return a.proc.exited(); }

    // A command actor that exited already and is only not reaped yet.
    static bool exited_unreaped(const ActorRun& a) { return !a.nursery() && has_exited(a); }

    // Cancelled while its spawn or execve was not confirmed, and ended on
    // its own meanwhile (a fast program): the answer it waited for must not
    // begin a stop on it. It is reaped instead, and reports how it ended.
    static bool ended_before_its_stop(const ActorRun& a) {
        return a.life.cancelled() && !a.stop().started() && exited_unreaped(a);
    }

    void actor_timeout(std::size_t i) {
        ActorRun& a = m_actors[i];
        // Ended just as its time ran out: it did not run past it.
        if (!a.life.has_process() || a.life.cancelled() || a.exit_code || a.term_signal ||
            exited_unreaped(a))
            return;
        log(1, fmt::format("{} ran past its timeout of {}; cancelling it", a.spec->path,
                           format_duration(*a.spec->timeout)));
        a.failed = true; // like timeout(1): running out of time is a failure
        stop_actor(i, "timeout");
        nursery_failed(i);
    }

    void cancel_actor(std::size_t i, const std::string& reason) {
        ActorRun& a = m_actors[i];
        if (a.done() || a.life.cancelled()) return;
        // It ended on its own: its reap (already due, or under way: a
        // channel drained by on_pidfd) reports that, and no cancel
        // happened, so it has no cancel reason either.
        if (a.exit_code || a.term_signal) return;
        if (a.life.has_process() && exited_unreaped(a)) return;
        stop_actor(i, reason);
    }

    void cancel_all(const std::string& reason) {
        for (std::size_t i = 0; i < m_actors.size(); ++i)
            cancel_actor(i, reason);
    }

    void set_cause(const std::string& cause, int exit_code, report::Result result) {
        if (m_cancel_cause) return;
        m_cancel_cause = cause;
        m_exit_code = exit_code;
        m_result = result;
    }

    void nursery_failed(std::size_t culprit) {
        m_failed = true;
        if (m_cancel_cause) return;
        set_cause("sibling_failed", k_exit_failed, report::Result::failed);
        // Tell the parent now, not when our teardown is over: it cancels
        // our siblings in parallel with it (one_for_all all the way up).
        send_parent(channel::Failing{});
        std::size_t running = 0;
        for (std::size_t i = 0; i < m_actors.size(); ++i)
            if (i != culprit && !m_actors[i].done()) ++running;
        if (running > 0)
            log(1, fmt::format("{} failed; cancelling {} sibling{} (one_for_all)",
                               m_actors[culprit].spec->path, running, running == 1 ? "" : "s"));
        for (std::size_t i = 0; i < m_actors.size(); ++i)
            if (i != culprit) cancel_actor(i, "sibling_failed");
    }

    // ---- reaping -----------------------------------------------------------
    void on_pidfd(std::size_t i) {
        ActorRun& a = m_actors[i];
        if (!a.proc) return;
        // Take down what the actor left in its group before the group id can
        // be reused (the leader is a zombie until the reap below); not when
        // another actor joined the group: what the actor left there is
        // adopted by us and killed at the end instead.
        if (!hosts_other_actors(a.pid))
            a.proc.signal_group(SIGKILL);
        else
            log(2, fmt::format("{}: another actor is in its process group; the group is left "
                               "alone",
                               a.spec->path));
        // Out of the epoll set before its pidfd is closed: a child being
        // created holds a copy of the fd until its execve, and with it the
        // epoll entry, which would then report a closed pidfd for ever.
        unwatch(a.proc.fd());
        bool lost = false;
        const auto status = a.proc.reap(&lost);
        if (!status) { // not yet waitable
            watch(a.proc.fd(), make_tag(Tag::pidfd, i), EPOLLIN);
            return;
        }
        if (lost) // reaped by someone else: a bug, but never a reason to spin
            log(0, fmt::format("{}: pid {} was reaped elsewhere; its status is lost", a.spec->path,
                               a.pid));
        const TimePoint now = Clock::now();
        a.exit_code = status->exit_code;
        a.term_signal = status->signal;
        on_error_pipe(i);             // the child is gone: its report, if any, is complete
        if (a.channel) on_channel(i); // and so is everything it sent us
        m_by_pid.erase(a.pid);
        // Reaped: its pid (= its group id) may be reused from now on, so the
        // guardian must never kill that group.
        tell_guardian('-', a.pid);
        // Cancelled while its execve was pending, it ended on its own before
        // any stop signal: no cancel happened, so it has no cancel reason.
        if (!a.stop().started()) a.cancel_reason.reset();
        apply(i, Event::exited, now);
        if (!a.done() && a.state() != State::restarting)
            throw std::logic_error(fmt::format("{} was reaped in lifecycle state {}", a.spec->path,
                                               lifecycle::state_name(a.state())));
    }

    // Reaps orphans adopted as subreaper. Actors forked by a forkserver
    // thread are children of that thread, so __WNOTHREAD makes this see only
    // the event loop thread's children: adopted orphans (and actors a backend
    // spawned from this thread, which are handled through their pidfd).
    void reap_orphans() {
        for (;;) {
            siginfo_t info{};
            if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT | __WNOTHREAD) < 0 ||
                info.si_pid == 0)
                return;
            if (auto it = m_by_pid.find(info.si_pid); it != m_by_pid.end()) {
                on_pidfd(it->second);
                continue;
            }
            if (auto it = m_remote.find(info.si_pid); it != m_remote.end()) {
                if (remote_is(info.si_pid, it->second)) {
                    reap_remote(info.si_pid, it->second);
                    continue;
                }
                m_remote.erase(it); // reaped below, and its pid given to this one
            }
            if (auto remote = started_below(info.si_pid)) {
                reap_remote(info.si_pid, *remote);
                continue;
            }
            if (m_backend && m_backend->reap_helper(info.si_pid)) {
                log(1, fmt::format("the {} helper process exited; spawns fail from now on",
                                   m_backend->key()));
                continue;
            }
            if (info.si_pid == m_guardian.pid()) {
                ::waitid(P_PID, static_cast<id_t>(info.si_pid), &info, WEXITED | WNOHANG);
                m_guardian.reaped();
                guardian_died();
                continue;
            }
            // A child the backend has created but not reported yet is not
            // an orphan: wait until the backend's answers are in, and taken
            // (a parked nursery spawn can read other answers meanwhile).
            if (m_backend && (m_backend->pending() > 0 || m_in_flight > 0)) return;
            siginfo_t reaped{};
            ::waitid(P_PID, static_cast<id_t>(info.si_pid), &reaped, WEXITED | WNOHANG);
            ++m_orphans;
            log(2, fmt::format("reaped orphan pid {}", info.si_pid));
        }
    }

    // Messages to the guardian from the event loop, in order. One that finds
    // the socket full waits here (and every later one behind it) until
    // EPOLLOUT: the loop never blocks on a guardian that stopped reading.
    std::deque<GuardianMessage> m_guardian_outbox;
    bool m_guardian_watched = false;

    void tell_guardian(char op, pid_t pgid, std::uint64_t start = 0) {
        if (m_guardian_fd < 0) return;
        m_guardian_outbox.push_back({op, pgid, start});
        flush_guardian();
    }
    void flush_guardian() {
        while (!m_guardian_outbox.empty()) {
            const GuardianMessage& m = m_guardian_outbox.front();
            if (!guardian_notify(m_guardian_fd, m.op, m.pgid, m.start)) {
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    m_guardian_outbox.clear(); // it is gone: guardian_died follows
                    break;
                }
                if (!m_guardian_watched)
                    watch(m_guardian_fd, make_tag(Tag::guardian), EPOLLOUT);
                m_guardian_watched = true;
                return;
            }
            m_guardian_outbox.pop_front();
        }
        if (m_guardian_watched) unwatch(m_guardian_fd);
        m_guardian_watched = false;
    }
    // At the end: what waits goes out if the guardian takes it within
    // `limit`. A registration that is lost is harmless then: every actor
    // was reaped, and the guardian kills a group only while its leader is
    // the process that was registered.
    void drain_guardian(std::chrono::milliseconds limit) {
        const TimePoint until = Clock::now() + limit;
        flush_guardian();
        while (!m_guardian_outbox.empty() && Clock::now() < until) {
            pollfd p{m_guardian_fd, POLLOUT, 0};
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            if (::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 1))) <= 0) break;
            flush_guardian();
        }
    }

    // The guardian died (someone killed it): without one, a kill -9 of
    // forkspawn would leave the actors' own children alive. A new one takes
    // its fd number and is told every group we know of: our actors' and,
    // from their "spawned" messages, those below us. Sub-supervisors and
    // the mp_forkserver server still hold the dead one's socket (their sends
    // fail quietly), so from now on the root registers what they spawn
    // itself, from the same messages.
    static constexpr int k_max_guardian_restarts = 10;
    int m_guardian_restarts = 0;

    void guardian_died() {
        if (m_guardian_restarts == k_max_guardian_restarts) {
            log(0, "the guardian process died again; a kill -9 of forkspawn could now leave "
                   "actors' children behind");
            return;
        }
        ++m_guardian_restarts;
        // What waits was for the dead one; the new one is told everything.
        if (m_guardian_watched) unwatch(m_guardian_fd);
        m_guardian_watched = false;
        m_guardian_outbox.clear();
        try {
            m_guardian.restart();
        } catch (const Error& e) {
            log(0, fmt::format("the guardian process died and no new one could be started ({}); "
                               "a kill -9 of forkspawn could now leave actors' children behind",
                               e.what()));
            return;
        }
        std::size_t groups = 0;
        for (const auto& a : m_actors)
            if (a.proc) {
                tell_guardian('+', a.pid);
                ++groups;
            }
        for (const auto& [pid, remote] : m_remote) {
            if (remote.start_ticks == 0) continue; // not provably that actor's
            tell_guardian('+', pid, remote.start_ticks);
            ++groups;
        }
        log(1, fmt::format("the guardian process died; started a new one (pid {}) and told it "
                           "{} process group(s)",
                           m_guardian.pid(), groups));
    }

    // An actor of a nursery below us whose sub-supervisor died: it was
    // adopted by us (the nearest living subreaper) and killed by its
    // parent-death signal. Report it with what we know.
    void reap_remote(pid_t pid, const Remote& remote) {
        ::kill(-pid, SIGKILL); // its group, while the zombie keeps the id ours
        siginfo_t info{};
        ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG);
        tell_guardian('-', pid);
        report::ActorReport r;
        r.path = remote.path;
        r.name = remote.path.substr(remote.path.rfind('/') + 1);
        r.kind = remote.kind;
        r.backend = m_options.backend;
        r.pid = pid;
        if (info.si_code == CLD_EXITED) {
            r.exit_code = info.si_status;
            r.outcome = info.si_status == 0 ? Outcome::completed : Outcome::failed;
        } else {
            r.signal = signal_name(info.si_status);
            r.outcome = info.si_status == SIGKILL ? Outcome::killed : Outcome::failed;
        }
        r.status = report::status_text(r.exit_code, r.signal);
        r.cancel_reason = "supervisor_killed";
        r.started_ms = remote.started_ms;
        r.ended_ms = ms_since_start(Clock::now());
        if (remote.started_ms) r.runtime_ms = *r.ended_ms - *remote.started_ms;
        m_remote.erase(pid);
        log(1, fmt::format("{} was orphaned by its supervisor; reaped ({})", r.path, *r.status));
        publish(r);
    }

    // ---- reports and events, up the tree -------------------------------
    void publish(const report::ActorReport& r) {
        if (!root()) {
            send_parent(channel::Reaped{r});
            return;
        }
        m_tree->reaped(r);
        if (m_options.format == report::Format::jsonl) {
            m_report_sink->write(report::jsonl_reaped(r));
            after_write();
        }
    }

    void publish_spawned(const std::string& path, report::Kind kind, pid_t pid,
                         double started_ms) {
        if (root()) {
            m_tree->spawned(path, pid, started_ms);
        } else {
            send_parent(
                channel::Spawned{path, kind, pid, started_ms, process_start_ticks(pid)});
        }
    }

    void send_parent(const channel::Up& message) {
        if (!m_parent || m_parent_gone) return;
        m_parent_outbox.push_back(channel::encode(message));
        flush_outbox(m_parent.get(), m_parent_outbox, make_tag(Tag::parent));
    }

    void send_child(ActorRun& a, const channel::Down& message) {
        if (!a.channel) return;
        a.outbox.push_back(channel::encode(message));
        flush_outbox(a.channel.get(), a.outbox,
                     make_tag(Tag::channel, static_cast<std::size_t>(&a - m_actors.data())));
    }

    // Sends queued datagrams until the socket is full; then waits for
    // EPOLLOUT. Returns false when the peer is gone.
    bool flush_outbox(int fd, std::deque<std::string>& outbox, std::uint64_t tag) {
        while (!outbox.empty()) {
            const auto& m = outbox.front();
            const ssize_t n = ::send(fd, m.data(), m.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (n < 0 && errno == EMSGSIZE) {
                // Never expected (messages are bounded): lose this one, not
                // the ones behind it.
                log(0, fmt::format("a channel message of {} bytes is too large to send; dropped",
                                   m.size()));
                outbox.pop_front();
                continue;
            }
            if (n < 0) {
                outbox.clear(); // EPIPE / ECONNRESET: nobody to tell
                rewatch(fd, tag, EPOLLIN);
                return false;
            }
            outbox.pop_front();
        }
        rewatch(fd, tag,
                outbox.empty() ? std::uint32_t{EPOLLIN} : std::uint32_t{EPOLLIN | EPOLLOUT});
        return true;
    }

    // Reads every datagram waiting on `fd`; returns false at EOF.
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

    void on_channel(std::size_t i, std::uint32_t events = EPOLLIN) {
        ActorRun& a = m_actors[i];
        if (!a.channel) return;
        if (events & EPOLLOUT) flush_outbox(a.channel.get(), a.outbox, make_tag(Tag::channel, i));
        using namespace channel;
        const auto handle = Overload{
            [&](const Exit& m) {
                a.said_exit = true;
                m_output_dropped += m.output_dropped;
            },
            [&](const Failing&) {
                if (!a.failed && !a.stop().started()) {
                    a.failed = true;
                    nursery_failed(i);
                }
            },
            [&](const Spawned& m) {
                const Remote r{m.path, m.kind, m.started_ms, m.start_ticks};
                if (m_guardian_restarts > 0 && r.start_ticks != 0)
                    tell_guardian('+', m.pid, r.start_ticks);
                m_remote[m.pid] = r;
                if (root())
                    publish_spawned(m.path, m.kind, m.pid, m.started_ms);
                else
                    send_parent(m);
            },
            [&](const TerminalWant& m) {
                if (!m.want) {
                    release_terminal(i);
                } else if (m_terminal_holder != i &&
                           std::find(m_terminal_waiting.begin(), m_terminal_waiting.end(), i) ==
                               m_terminal_waiting.end()) {
                    wait_for_terminal(i);
                }
            },
            [&](const Reaped& m) {
                if (m.actor.pid) { // 1..INT32_MAX (actor_from_json)
                    m_remote.erase(static_cast<pid_t>(*m.actor.pid));
                    if (m_guardian_restarts > 0) tell_guardian('-', static_cast<pid_t>(*m.actor.pid));
                }
                publish(m.actor);
            },
        };
        const bool open = read_messages(a.channel.get(), [&](std::string_view datagram) {
            if (auto message = decode_up(datagram)) std::visit(handle, *message);
        });
        if (open) return;
        unwatch(a.channel.get());
        a.channel.reset();
        a.outbox.clear();
        if (!a.said_exit && a.life.has_process() && !a.stop().started()) {
            // The sub-supervisor went away without a word: it crashed or was
            // killed, and its subtree is orphaned to us. The nursery failed.
            log(1, fmt::format("{}: its sub-supervisor process closed the channel early",
                               a.spec->path));
            a.failed = true;
            // Usually it is dying already (the socket closes before the
            // process is reaped); if it is still alive in a while, it is
            // deaf, and nothing is left but to kill it.
            add_timer(Clock::now() + k_deaf_grace, TimerKind::deaf_nursery, i);
            nursery_failed(i);
        }
    }

    void on_parent(std::uint32_t events) {
        if (!m_parent) return;
        if (events & EPOLLOUT) flush_outbox(m_parent.get(), m_parent_outbox, make_tag(Tag::parent));
        using namespace channel;
        const auto handle = Overload{
            [&](const Cancel& m) {
                log(2, fmt::format("{} cancelled ({})", m_nursery.path, m.reason));
                set_cause(m.reason, k_exit_ok, report::Result::cancelled);
                cancel_all(m.reason);
            },
            [&](const Dump&) { dump_tree(); },
            [&](const TerminalLent&) {
                if (!m_terminal_asked) return;
                m_terminal_lease = true;
                pass_terminal_on();
            },
        };
        const bool open = read_messages(m_parent.get(), [&](std::string_view datagram) {
            if (auto message = decode_down(datagram)) std::visit(handle, *message);
        });
        if (open) return;
        // The parent is gone (EOF): nobody will cancel us or read our
        // reports. Tear the subtree down.
        unwatch(m_parent.get());
        m_parent_gone = true;
        m_parent_outbox.clear();
        set_cause("parent_gone", k_exit_failed, report::Result::cancelled);
        cancel_all("parent_gone");
    }
    std::vector<char> m_message_buf = std::vector<char>(k_max_message); // one, reused

    void finish(std::size_t i, TimePoint now) {
        ActorRun& a = m_actors[i];
        a.ended = now;
        // Reaped (or never forked): the entry no longer names a process.
        if (std::int32_t* slot = started_slot(i)) __atomic_store_n(slot, 0, __ATOMIC_RELEASE);
        release_terminal(i);
        if (a.nursery() && a.said_exit) {
            // It reported every actor below it before it said goodbye: an
            // entry still here lost its "reaped", and its pid is free.
            const std::string below = a.spec->path + "/";
            std::erase_if(m_remote, [&](const auto& e) { return e.second.path.starts_with(below); });
        }
        if (a.spawn_error) {
            a.outcome = Outcome::spawn_failed;
            a.failed = true;
        } else if (!a.started) {
            a.outcome = Outcome::not_started;
        } else if (a.stop().started()) {
            const bool took_kill = a.term_signal == SIGKILL && a.stop().escalated();
            a.outcome = took_kill ? Outcome::killed : Outcome::cancelled;
        } else if (a.exit_code == 0) {
            a.outcome = Outcome::completed;
        } else {
            a.outcome = Outcome::failed;
            a.failed = true;
        }
        if (a.outcome == Outcome::failed || a.outcome == Outcome::spawn_failed ||
            m_options.verbosity >= 2) {
            std::string what = a.spawn_error ? *a.spawn_error : status_text(a).value_or("");
            log(a.outcome == Outcome::completed ? 2 : 1,
                fmt::format("{} {} ({})", a.spec->path, report::outcome_name(a.outcome), what));
        }
        if (a.channel && !a.proc) {
            unwatch(a.channel.get());
            a.channel.reset();
        }
        publish(make_report(a));
        // A timed-out actor failed the nursery when its time ran out.
        if (a.failed && a.cancel_reason != "timeout") nursery_failed(i);
        check_work_done();
    }

    // The nursery completes when every non-daemon child completed; then its
    // daemons are cancelled. A nursery of daemons only runs until cancelled.
    void check_work_done() {
        if (m_cancel_cause || m_work_done) return;
        bool any_work = false;
        for (const auto& a : m_actors) {
            if (a.spec->daemon) continue;
            any_work = true;
            if (!a.done()) return;
        }
        if (!any_work) return;
        bool daemons = false;
        for (std::size_t i = 0; i < m_actors.size(); ++i)
            if (m_actors[i].spec->daemon && !m_actors[i].done()) daemons = true;
        if (daemons) log(2, "work done; cancelling daemons");
        m_work_done = true;
        for (std::size_t i = 0; i < m_actors.size(); ++i)
            if (m_actors[i].spec->daemon) cancel_actor(i, "nursery_done");
    }

    bool all_done() const {
        return std::all_of(m_actors.begin(), m_actors.end(),
                           [](const ActorRun& a) { return a.done(); });
    }

    // ---- output ------------------------------------------------------------
    void emit_line(std::size_t i, std::string_view line) {
        const ActorRun& a = m_actors[i];
        if (m_options.colour) {
            const char* colour = k_prefix_colours[i % std::size(k_prefix_colours)];
            m_log_sink.write(fmt::format("{}{} |\x1b[0m {}\n", colour, a.spec->path, line));
        } else {
            m_log_sink.write(fmt::format("{} | {}\n", a.spec->path, line));
        }
    }

    // Reads what is there now; false at EOF. Unfinished lines count against
    // one budget for all actors: past it, each is printed as it is.
    bool on_output(std::size_t i) {
        ActorRun& a = m_actors[i];
        m_partial_bytes -= a.lines.held();
        const bool open = read_output(i);
        m_partial_bytes += a.lines.held();
        if (m_partial_bytes > k_partial_budget) {
            for (std::size_t k = 0; k < m_actors.size(); ++k)
                m_actors[k].lines.flush([&](std::string_view line) { emit_line(k, line); });
            m_partial_bytes = 0;
        }
        after_write();
        return open;
    }

    // An output pipe is in the epoll set only while it is read: a paused
    // one is taken out, since epoll reports a hang-up whatever the mask.
    void watch_output(std::size_t i) {
        ActorRun& a = m_actors[i];
        const bool want = a.output && a.output_live && !m_output_paused;
        if (want == a.output_watched) return;
        if (want)
            watch(a.output.get(), make_tag(Tag::output, i), EPOLLIN);
        else
            unwatch(a.output.get());
        a.output_watched = want;
    }
    void close_output(ActorRun& a) {
        if (a.output_watched) unwatch(a.output.get());
        a.output_watched = false;
        a.output.reset();
    }

    bool read_output(std::size_t i) {
        ActorRun& a = m_actors[i];
        if (!a.output) return false;

        char buf[16384];
        for (int rounds = 0; rounds < 4; ++rounds) { // bounded: other fds get their turn
            const ssize_t n = ::read(a.output.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            const auto emit = [&](std::string_view line) { emit_line(i, line); };
            if (n <= 0) {
                a.lines.flush(emit);
                close_output(a);
                return false;
            }
            a.lines.feed(std::string_view(buf, static_cast<std::size_t>(n)), emit);
            if (static_cast<std::size_t>(n) < sizeof buf) break;
        }
        return true;
    }
    std::size_t m_partial_bytes = 0; // unfinished lines held, all actors

    // Keeps the sinks' epoll interest and the output back-pressure in step
    // with what is buffered; notices a report that can no longer be written.
    void after_write() {
        if (m_log_registered)
            rewatch(m_log_sink.fd(), make_tag(Tag::sink, 0),
                    m_log_sink.buffered() ? std::uint32_t{EPOLLOUT} : 0u);
        if (m_report_registered)
            rewatch(m_report_sink->fd(), make_tag(Tag::sink, 1),
                    m_report_sink->buffered() ? std::uint32_t{EPOLLOUT} : 0u);
        const bool pause = m_log_sink.buffered() > k_log_high_water;
        const bool resume = m_log_sink.buffered() < k_log_low_water;
        if ((pause && !m_output_paused) || (resume && m_output_paused)) {
            m_output_paused = pause;
            for (std::size_t i = 0; i < m_actors.size(); ++i)
                watch_output(i);
        }
        if (root() && m_report_sink->broken() && m_options.format != report::Format::none &&
            !m_report_failed) {
            m_report_failed = true;
            // Running on would only produce a report nobody gets: the tree
            // is cancelled as for a signal. A reader that left is SIGPIPE's
            // case (exit 141); any other error (ENOSPC, EIO) is exit 74, and
            // the caller names it once the tree is down.
            if (m_report_sink->reader_gone()) {
                log(1, "the report's reader went away; cancelling the tree");
                set_cause("signal:SIGPIPE", 128 + SIGPIPE, report::Result::cancelled);
                cancel_all("signal:SIGPIPE");
            } else {
                log(1, fmt::format("cannot write the report to {}: {}; cancelling the tree",
                                   m_report_sink->name(), errno_text(m_report_sink->error())));
                set_cause("report_error", k_exit_io, report::Result::cancelled);
                cancel_all("report_error");
            }
        }
    }
    bool m_report_failed = false;

    // A pipe's write end reports EPOLLERR as soon as its reader is gone, even
    // with nothing to write: that is how a closed report reader is noticed
    // while the tree runs, not only at the next report line.
    void on_sink(std::size_t index, std::uint32_t events) {
        Sink& sink = index == 0 ? m_log_sink : *m_report_sink;
        bool& registered = index == 0 ? m_log_registered : m_report_registered;
        if (events & (EPOLLERR | EPOLLHUP)) {
            sink.mark_broken();
            unwatch(sink.fd());
            registered = false;
        } else {
            sink.flush_some();
        }
        after_write();
    }

    // ---- signals -----------------------------------------------------------
    void on_signal() {
        signalfd_siginfo si;
        while (::read(m_signalfd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            const int signo = static_cast<int>(si.ssi_signo);
            switch (signo) {
            case SIGCHLD:
                reap_orphans();
                break;
            case SIGUSR1:
                dump_tree();
                break;
            case SIGINT:
            case SIGTERM:
            case SIGHUP: {
                reap_exited();
                if (signo == SIGINT) ++m_sigint_count;
                const std::string reason = "signal:" + signal_name(signo);
                // The first cause decides the exit code: a signal during a
                // failure's teardown still exits 1, and during the daemons'
                // teardown once the work is done, 0; nor does a signal that
                // comes when every actor has ended cancel anything.
                const bool cancels_work = !m_work_done && !all_done();
                if (signo == SIGINT && m_sigint_count >= 2) {
                    log(1, "second SIGINT: killing now");
                    const TimePoint now = Clock::now();
                    // Every actor not ended, in whatever state: running ones
                    // get SIGKILL, ones being created are killed as soon as
                    // they exist, ones not started never start.
                    for (std::size_t i = 0; i < m_actors.size(); ++i) {
                        ActorRun& a = m_actors[i];
                        if (a.done() || a.exit_code || a.term_signal) continue;
                        if (!a.cancel_reason) a.cancel_reason = reason;
                        apply(i, Event::kill, now);
                    }
                    if (cancels_work) set_cause(reason, 128 + signo, report::Result::cancelled);
                    cancel_all(reason);
                    break;
                }
                if (m_cancel_cause && *m_cancel_cause == reason) break;
                log(1, m_cancel_cause || m_work_done
                           ? fmt::format("got {}; the tree is being torn down already",
                                         signal_name(signo))
                           : fmt::format("got {}; cancelling the tree", signal_name(signo)));
                if (cancels_work) set_cause(reason, 128 + signo, report::Result::cancelled);
                cancel_all(reason);
                break;
            }
            default:
                break;
            }
        }
    }

    void dump_tree() {
        const TimePoint now = Clock::now();
        std::string out = fmt::format("forkspawn: live tree of {} (pid {}) at {:.1f}ms\n",
                                      m_nursery.path, ::getpid(), ms_since_start(now));
        for (const auto& a : m_actors) {
            std::string state(lifecycle::public_name(a.state()));
            switch (a.state()) {
            case State::waiting:
                if (std::find(m_terminal_waiting.begin(), m_terminal_waiting.end(),
                              static_cast<std::size_t>(&a - m_actors.data())) !=
                    m_terminal_waiting.end())
                    state = "waiting for the terminal";
                break;
            case State::cancelling_start:
                if (!a.stop().started()) state = "stopping (before its execve)";
                break;
            case State::stopping:
            case State::killed:
                if (a.stop().started())
                    state += fmt::format(" (sent {})", stop_signal_name(a.stop().sent().back()));
                break;
            case State::ended:
                state = std::string(report::outcome_name(a.outcome));
                break;
            default:
                break;
            }
            out +=
                fmt::format("  {}  {}  pid {}  {}", a.spec->path, report::kind_name(kind_of(*a.spec)),
                            a.pid > 0 ? std::to_string(a.pid) : "-", state);
            const auto d = a.life.deadline();
            if (d && a.state() == State::stopping)
                out += fmt::format("  next signal in {:.1f}ms", to_ms(*d - now));
            else if (d)
                out += fmt::format("  SIGKILL in {:.1f}ms", to_ms(*d - now));
            else if ((a.state() == State::running || a.state() == State::ready) &&
                     a.spec->timeout && a.started)
                out += fmt::format("  timeout in {:.1f}ms",
                                   to_ms(*a.started + *a.spec->timeout - now));
            out += '\n';
        }
        m_log_sink.write(out);
        after_write();
        // Each sub-supervisor prints its own part.
        for (auto& a : m_actors)
            if (a.nursery() && a.life.has_process())
                send_child(a, channel::Dump{});
    }

    // ---- the end -----------------------------------------------------------
    // Every actor is reaped. Whatever is still our child escaped its actor
    // (double fork, setsid) and was adopted: stop it and what it started,
    // kill them, reap, repeat until nothing is left. The root sweeps the
    // whole tree by its FORKSPAWN_TREE id as the guardian would after a
    // kill -9 (a setsid fork bomb below an adopted child is found, stopped
    // and killed at once); a sub-supervisor takes only its own children, as
    // the rest of the tree is not over yet. Nothing here blocks: the sweep
    // and the waits for deaths have the deadline. False when something was
    // still alive when it passed.
    bool kill_orphans(Duration budget) {
        // The guardian's pid is asked each round: one that dies meanwhile
        // is replaced by the reap, and the new one is spared too.
        return kill_escaped(root() ? m_guardian.id() : std::string_view{},
                            [this] { return std::vector<pid_t>{m_guardian.pid()}; },
                            Clock::now() + budget, [this] { reap_orphans(); },
                            [this](std::size_t killed) {
                                log(2, fmt::format("killed escaped process(es): {}", killed));
                            });
    }

    // An internal error: the loop cannot go on, and nothing it started may
    // outlive it. The backend stops first (no new spawns), every actor's
    // handle and group gets SIGKILL, the root's guardian kills every
    // registered group and sweeps the tree, then the actors are reaped
    // (bounded) for the report and whatever was adopted is killed. Memory
    // may be what ran out: the kills come first and need no allocation;
    // each later step that allocates is guarded.
    void emergency_teardown() noexcept {
        try {
            log(0, fmt::format("internal error in {}: {}; killing everything it started",
                               m_nursery.path, m_internal_error.data()));
        } catch (...) {
        }
        try {
            m_backend.reset();
        } catch (...) {
        }
        for (auto& a : m_actors) {
            if (!a.proc) continue;
            a.proc.signal_group(SIGKILL); // the unreaped leader keeps the group id ours
            a.proc.signal(SIGKILL);
        }
        if (root()) m_guardian.kill_tree(Clock::now() + k_guardian_sweep_limit);
        const TimePoint until = Clock::now() + std::chrono::seconds(5);
        for (auto& a : m_actors) {
            if (a.done()) continue;
            if (a.proc) {
                const auto left =
                    std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
                pollfd p{a.proc.fd(), POLLIN, 0};
                ::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 0)));
                if (const auto status = a.proc.reap()) {
                    a.exit_code = status->exit_code;
                    a.term_signal = status->signal;
                    guardian_notify(m_guardian_fd, '-', a.pid); // no allocation here
                }
                a.proc.release();
            }
            a.life.abandon();
            a.ended = Clock::now();
            if (!a.started)
                a.outcome = Outcome::not_started;
            else if (a.exit_code)
                a.outcome = *a.exit_code == 0 ? Outcome::completed : Outcome::failed;
            else
                a.outcome = a.term_signal == SIGKILL ? Outcome::killed : Outcome::failed;
            if (a.outcome != Outcome::completed && !a.cancel_reason)
                a.cancel_reason = "internal_error";
            try {
                publish(make_report(a));
            } catch (...) {
            }
        }
        try {
            // What the actors left and we adopted (an env_clear actor's
            // setsid daemon carries no FORKSPAWN_TREE).
            kill_orphans(std::chrono::seconds(3));
            drain_outputs();
        } catch (...) {
        }
    }


    // What is left in the actors' pipes once they ended: read while the log
    // takes it, for a bounded time. A log reader that takes nothing (stderr
    // not read) holds the end of a run up for k_output_stall at most; what
    // it would not take is dropped and counted.
    void drain_outputs() {
        const auto until = Clock::now() + k_output_drain_limit;
        auto stalled_at = Clock::now() + k_output_stall;
        for (;;) {
            const std::size_t before = m_log_sink.buffered();
            bool open = false;
            for (std::size_t i = 0; i < m_actors.size(); ++i) {
                if (!m_actors[i].output) continue;
                // Above the high water mark, nothing more is read: it waits.
                open |= m_log_sink.buffered() > k_log_high_water || on_output(i);
            }
            if (!open) break;
            m_log_sink.flush_some();
            const auto now = Clock::now();
            if (m_log_sink.buffered() < before || m_log_sink.buffered() <= k_log_high_water)
                stalled_at = now + k_output_stall;
            if (now > until || now > stalled_at) break;
            m_loop.wait(10); // anything ready, or 10 ms
        }
        for (auto& a : m_actors) {
            if (!a.output) continue;
            // Its writers are gone: what is in the pipe is all there is.
            char buf[16384];
            for (int rounds = 0; rounds < 64; ++rounds) {
                const ssize_t n = ::read(a.output.get(), buf, sizeof buf);
                if (n <= 0) break;
                m_output_dropped += static_cast<std::size_t>(n);
            }
            m_output_dropped += a.lines.held();
            m_partial_bytes -= a.lines.held();
            a.lines.drop();
            close_output(a);
        }
    }
    std::size_t m_output_dropped = 0; // bytes of actors' output never written

    report::ActorReport make_report(const ActorRun& a) const {
        report::ActorReport r;
        r.path = a.spec->path;
        r.name = a.spec->name;
        r.kind = kind_of(*a.spec);
        r.backend = m_options.backend;
        if (a.pid > 0 && !a.spawn_error) r.pid = a.pid;
        if (!a.spawn_error) {
            r.status = status_text(a);
            r.exit_code = a.exit_code;
            if (a.term_signal) r.signal = signal_name(*a.term_signal);
        }
        r.outcome = a.outcome;
        r.cancel_reason = a.cancel_reason;
        r.error = a.spawn_error;
        if (a.started) r.started_ms = ms_since_start(*a.started);
        if (a.ended) r.ended_ms = ms_since_start(*a.ended);
        if (a.started && a.ended) r.runtime_ms = to_ms(*a.ended - *a.started);
        if (a.stop().started()) {
            report::StopReport s;
            for (int signo : a.stop().sent())
                s.sent.push_back(stop_signal_name(signo));
            for (TimePoint at : a.stop().sent_at())
                s.sent_ms.push_back(ms_since_start(at));
            s.escalated = a.stop().escalated();
            if (auto after = a.stop().exit_after()) s.exit_after_ms = to_ms(*after);
            r.stop = s;
        }
        return r;
    }
};

Result Supervisor::run() {
    try {
        supervise();
        end_of_run();
    } catch (const std::exception& e) {
        // Copied without allocating: running out of memory may be the error.
        std::snprintf(m_internal_error.data(), m_internal_error.size(), "%s", e.what());
        emergency_teardown();
    }
    return result();
}

void Supervisor::supervise() {
    setup();
    if (m_options.tree_timeout) add_timer(m_t0 + *m_options.tree_timeout, TimerKind::tree_timeout);
    start_more();
    check_work_done();
    while (!all_done()) {
        const auto events = m_loop.wait();
        m_group_guests_fresh = false; // time has passed: groups may have changed
        for (const epoll_event& event : events) {
            const std::uint64_t tag = event.data.u64;
            const auto kind = static_cast<Tag>(tag >> 32);
            const std::size_t index = tag & 0xffffffffu;
            switch (kind) {
            case Tag::signal:
                on_signal();
                break;
            case Tag::timer:
                on_timer();
                break;
            case Tag::backend:
                on_backend();
                break;
            case Tag::pidfd:
                on_pidfd(index);
                break;
            case Tag::error_pipe:
                on_error_pipe(index);
                break;
            case Tag::output:
                // Paused by an earlier event of this batch: it waits.
                if (!m_output_paused) on_output(index);
                break;
            case Tag::sink:
                on_sink(index, event.events);
                break;
            case Tag::channel:
                on_channel(index, event.events);
                break;
            case Tag::parent:
                on_parent(event.events);
                break;
            case Tag::guardian:
                flush_guardian();
                break;
            }
        }
    }
}

void Supervisor::end_of_run() {
    // The backend first: every actor is reaped, so it has nothing left to
    // make. It joins its forkserver thread or stops its server, and then
    // every process still our child escaped an actor.
    m_backend.reset();
    const bool clean = kill_orphans(root() ? k_root_kill_budget : k_nursery_kill_budget);
    drain_outputs();
    drain_guardian(std::chrono::seconds(1));
    if (clean) {
        m_guardian.stop(); // only now: "nothing is to be killed"
        return;
    }
    // A sub-supervisor leaves the rest to the supervisors above it, which
    // adopt what it could not kill.
    log(0, fmt::format("processes started by {} were still alive after {} of killing them{}",
                       m_nursery.path,
                       format_duration(root() ? k_root_kill_budget : k_nursery_kill_budget),
                       root() ? "; the guardian kills what is left" : ""));
    if (root()) m_guardian.kill_tree(Clock::now() + k_guardian_sweep_limit);
    m_leftovers = true;
}

Result Supervisor::result() {
    Result result;
    if (m_internal_error[0] != '\0' || m_leftovers) {
        m_exit_code = k_exit_internal;
        m_result = report::Result::internal_error;
    } else if (!m_cancel_cause) {
        m_exit_code = m_failed ? k_exit_failed : k_exit_ok;
        m_result = m_failed ? report::Result::failed : report::Result::completed;
    }
    result.exit_code = m_exit_code;
    result.output_dropped = m_output_dropped;
    result.summary = {FORKSPAWN_VERSION, m_options.backend, m_result, m_exit_code,
                      ms_since_start(Clock::now())};
    if (root()) result.actors = m_tree->finish();
    if (m_orphans > 0) log(2, fmt::format("reaped {} escaped process(es)", m_orphans));
    return result;
}

void Supervisor::flush_parent(std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    while (m_parent && !m_parent_gone && !m_parent_outbox.empty()) {
        if (!flush_outbox(m_parent.get(), m_parent_outbox, make_tag(Tag::parent))) return;
        if (m_parent_outbox.empty()) return;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        if (left.count() <= 0) return;
        pollfd p{m_parent.get(), POLLOUT, 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
    }
}

// The sub-supervisor: the child of a fork without exec, entered on the
// forkserver thread's stack of the parent's image. It touches only the
// immutable subtree spec it was handed (its own copy) and objects it makes
// itself — a fresh event loop, forkserver thread, signalfd and sinks — and
// leaves with _exit, so nothing of the parent's image (atexit handlers,
// static destructors, stdio buffers) runs twice.
[[noreturn]] void nursery_child_main(void* arg) {
    const NurseryStart& start = *static_cast<const NurseryStart*>(arg);
    // The final mask first, in one call. The forkserver thread forked with
    // every signal blocked; the supervised ones must stay blocked for the
    // signalfd this supervisor makes. Unblocked even for a moment (an empty
    // mask, then blocking them again), a SIGTERM to the group would kill it
    // by the default action instead of cancelling its subtree.
    backend::ChildSetup setup;
    setup.mask = &start.signal_mask;
    setup.started_slot = start.started_slot;
    setup.parent_pid = start.parent_pid;
    setup.fds[0] = {start.channel, 3};
    setup.fds[1] = {start.guardian, 4};
    setup.fds[2] = {start.options.page.fd, 5};
    setup.fd_count = 3;
    setup.keep_cloexec = true; // it runs on without exec
    backend::setup_child(setup);
    const int guardian = start.guardian >= 0 ? 4 : -1;
    const int page = start.options.page.fd >= 0 ? 5 : -1;
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    Options options = start.options;
    options.page.fd = page >= 0 ? 5 : -1;
    ::_exit(run_sub_supervisor(*start.nursery, options, 3, guardian >= 0 ? 4 : -1, start.t0));
}

int run_sub_supervisor(const spec::Actor& nursery, const Options& options, int channel,
                       int guardian, TimePoint t0) {
    try {
        block_supervised_signals();
        Sink log_sink(STDERR_FILENO);
        Supervisor supervisor(nursery, options, log_sink, UniqueFd(channel), t0, guardian);
        const int code = supervisor.run().exit_code;
        supervisor.say_goodbye();
        return code;
    } catch (const std::exception& e) {
        const std::string text =
            fmt::format("forkspawn: error in {}: {}\n", nursery.path, e.what());
        [[maybe_unused]] auto n = ::write(STDERR_FILENO, text.data(), text.size());
        return k_exit_failed;
    }
}

} // namespace

int run_reexec_nursery(const char* options_json) {
    // exec_child set the process group, the parent-death signal and fds
    // 0-4; what is left is to read the subtree, as a root would read a spec.
    // Its parent wrote the options and the subtree: what is wrong with them
    // is an error to say (cli::run prints it), not something to guess past.
    const auto j = nlohmann::json::parse(options_json, nullptr, false);
    if (!j.is_object())
        throw Error(fmt::format("__nursery: the options are not a JSON object: {}", options_json));
    std::string text;
    char buf[65536];
    ssize_t n;
    while ((n = sys::retry_eintr(
                [&] { return ::pread(4, buf, sizeof buf, static_cast<off_t>(text.size())); })) > 0)
        text.append(buf, static_cast<std::size_t>(n));
    if (n < 0)
        throw Error(
            fmt::format("__nursery: cannot read the subtree spec on fd 4: {}", errno_text(errno)));
    ::close(4);
    auto parsed = spec::parse(text);
    if (!parsed.spec)
        throw Error("__nursery: the subtree spec on fd 4 is not valid: " +
                    format_diagnostic("fd 4", parsed.errors.front()));
    spec::Actor nursery = std::move(parsed.spec->root);
    spec::set_paths(nursery, j.value("path", nursery.name));
    Options options;
    options.backend = j.value("backend", "trio");
    options.verbosity = j.value("verbosity", 1);
    options.colour = j.value("colour", false);
    options.terminal_home = j.value("terminal_home", pid_t{0});
    options.first_slot = j.value("first_slot", std::size_t{0});
    // fd 6 is the page of started pids when the parent had one.
    if (::fcntl(6, F_GETFD) >= 0) {
        ::fcntl(6, F_SETFD, FD_CLOEXEC);
        options.page = backend::map_started_page(6);
    }
    if (options.terminal_home > 0) ignore_terminal_stops(); // exec_child reset them
    options.format = report::Format::none;
    const TimePoint t0{Clock::duration(j.value("t0_ns", std::int64_t{0}))};
    // Started with the actors' fd limit, like any actor: raise it again.
    backend::raise_fd_limit();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    // fd 5 is the guardian's pipe when the parent had one.
    const int guardian = ::fcntl(5, F_GETFD) >= 0 ? 5 : -1;
    if (guardian >= 0) ::fcntl(guardian, F_SETFD, FD_CLOEXEC);
    ::fcntl(3, F_SETFD, FD_CLOEXEC);
    return run_sub_supervisor(nursery, options, 3, guardian, t0);
}

Result run(const spec::Spec& spec, const Options& options, Sink& report_sink, Sink& log_sink) {
    // Orphans of any depth come back to us, to be reaped and killed.
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) sys::fail("prctl(PR_SET_CHILD_SUBREAPER)");
    Options root_options = options;
    root_options.terminal_home = foreground_terminal_group();
    const UniqueFd page_fd = make_started_page(spec.actor_count);
    root_options.page = backend::map_started_page(page_fd.get());
    if (root_options.terminal_home > 0) ignore_terminal_stops();
    Supervisor supervisor(spec.root, root_options, report_sink, log_sink);
    return supervisor.run();
}

} // namespace forkspawn::supervise
