#include "forkspawn/supervisor.hpp"

#include "forkspawn/backend.hpp"
#include "forkspawn/command.hpp"
#include "forkspawn/error.hpp"
#include "forkspawn/guardian.hpp"
#include "forkspawn/signals.hpp"
#include "forkspawn/stop_machine.hpp"
#include "forkspawn/sys.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <queue>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unordered_map>

extern char** environ;

namespace forkspawn::supervise {

void block_supervised_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD}) sigaddset(&set, signo);
    if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) sys::fail("pthread_sigmask");
    // A closed report pipe must be an EPIPE we can act on, not a death.
    ::signal(SIGPIPE, SIG_IGN);
}

namespace {

using report::Outcome;

enum class Tag : std::uint32_t { signal = 1, timer, backend, pidfd, error_pipe, output, sink };

std::uint64_t make_tag(Tag t, std::size_t index = 0) {
    return (static_cast<std::uint64_t>(t) << 32) | static_cast<std::uint32_t>(index);
}

enum class TimerKind : std::uint32_t { stop_step = 1, actor_timeout, tree_timeout };

constexpr std::size_t k_line_limit = 64 * 1024;       // a longer line is cut, never held
constexpr std::size_t k_log_high_water = 1u << 20;    // pause actor output above this
constexpr std::size_t k_log_low_water = 256u << 10;   // resume below this

// ANSI colours for actor prefixes on a terminal.
constexpr const char* k_prefix_colours[] = {"\x1b[36m", "\x1b[33m", "\x1b[35m", "\x1b[32m",
                                            "\x1b[34m", "\x1b[96m", "\x1b[93m", "\x1b[95m"};

enum class Phase { pending, spawning, running, done };

struct ActorRun {
    const spec::Actor* spec = nullptr;
    Phase phase = Phase::pending;
    std::unique_ptr<backend::PreparedCommand> prepared;
    pid_t pid = -1;
    UniqueFd pidfd;
    UniqueFd error_pipe;
    UniqueFd output; // read end of the prefix pipe
    std::string partial;
    StopMachine stop;
    std::optional<std::string> cancel_reason;
    std::optional<std::string> spawn_error;
    bool failed = false; // counts as a failure of the nursery
    std::optional<TimePoint> started, ended;
    std::optional<int> exit_code, term_signal;
    Outcome outcome = Outcome::not_started;

    explicit ActorRun(const spec::Actor& a) : spec(&a), stop(a.stop) {}
    bool live() const { return phase == Phase::spawning || phase == Phase::running; }
};

std::string status_text(const ActorRun& a) {
    if (a.exit_code) return fmt::format("rc={}", *a.exit_code);
    if (a.term_signal) return "signal=" + signal_name(*a.term_signal);
    return "";
}

class Supervisor {
  public:
    Supervisor(const spec::Spec& spec, const Options& options, Sink& report_sink, Sink& log_sink)
        : m_spec(spec), m_options(options), m_report_sink(report_sink), m_log_sink(log_sink),
          m_t0(Clock::now()) {
        for (const auto& child : spec.root.actors) m_actors.emplace_back(child);
    }

    Result run();

  private:
    const spec::Spec& m_spec;
    const Options& m_options;
    Sink& m_report_sink;
    Sink& m_log_sink;
    TimePoint m_t0;
    std::vector<ActorRun> m_actors;
    Guardian m_guardian;
    std::unique_ptr<backend::Backend> m_backend;
    UniqueFd m_epoll, m_signalfd, m_timerfd, m_dev_null;
    using TimerEntry = std::pair<TimePoint, std::uint64_t>;
    std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> m_timers;
    std::optional<TimePoint> m_armed;
    std::unordered_map<pid_t, std::size_t> m_by_pid;

    // Why the root nursery was cancelled: the first cause decides the exit.
    std::optional<std::string> m_cancel_cause;
    bool m_work_done = false; // every non-daemon actor completed
    int m_exit_code = 0;
    std::string m_result = "completed";
    bool m_failed = false;
    int m_sigint_count = 0;
    bool m_output_paused = false;
    bool m_log_registered = false, m_report_registered = false;
    std::size_t m_orphans = 0;

    double ms_since_start(TimePoint t) const { return to_ms(t - m_t0); }

    void log(int level, std::string_view text) {
        if (m_options.verbosity >= level) m_log_sink.write(fmt::format("forkspawn: {}\n", text));
    }

    // ---- setup ---------------------------------------------------------
    void setup() {
        m_epoll = sys::make_epoll();
        sigset_t set;
        sigemptyset(&set);
        for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD}) sigaddset(&set, signo);
        m_signalfd = UniqueFd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!m_signalfd) sys::fail("signalfd");
        m_timerfd = UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
        if (!m_timerfd) sys::fail("timerfd_create");
        m_dev_null = UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
        if (!m_dev_null) sys::fail("open /dev/null");
        // The guardian first: it must be forked while this process has one thread.
        m_guardian = Guardian::start();
        m_backend = backend::make_backend(m_options.backend);
        if (!m_backend) throw Error("unknown spawn backend " + m_options.backend);
        watch(m_signalfd.get(), make_tag(Tag::signal), EPOLLIN);
        watch(m_timerfd.get(), make_tag(Tag::timer), EPOLLIN);
        watch(m_backend->ready_fd(), make_tag(Tag::backend), EPOLLIN);
        if (m_log_sink.pollable()) {
            watch(m_log_sink.fd(), make_tag(Tag::sink, 0), 0);
            m_log_registered = true;
        }
        if (m_report_sink.pollable() && m_report_sink.fd() != m_log_sink.fd()) {
            watch(m_report_sink.fd(), make_tag(Tag::sink, 1), 0);
            m_report_registered = true;
        }
    }

    void watch(int fd, std::uint64_t tag, std::uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = tag;
        if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev) < 0) sys::fail("epoll_ctl(ADD)");
    }
    void rewatch(int fd, std::uint64_t tag, std::uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = tag;
        ::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, fd, &ev);
    }
    void unwatch(int fd) { ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr); }

    // ---- timers ------------------------------------------------------------
    void add_timer(TimePoint when, TimerKind kind, std::size_t index = 0) {
        m_timers.emplace(when, (static_cast<std::uint64_t>(kind) << 32) | index);
        arm_timer();
    }
    void arm_timer() {
        if (m_timers.empty()) return;
        const TimePoint next = m_timers.top().first;
        if (m_armed && *m_armed == next) return;
        m_armed = next;
        itimerspec spec{};
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            next.time_since_epoch())
                            .count();
        // steady_clock is CLOCK_MONOTONIC on Linux; an absolute deadline has
        // no drift from the time spent computing it. 0 would disarm: use 1ns.
        spec.it_value.tv_sec = ns / 1'000'000'000;
        spec.it_value.tv_nsec = std::max<long>(ns % 1'000'000'000, spec.it_value.tv_sec ? 0 : 1);
        ::timerfd_settime(m_timerfd.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
    }
    void on_timer() {
        std::uint64_t expirations;
        while (::read(m_timerfd.get(), &expirations, sizeof expirations) > 0) {
        }
        m_armed.reset();
        const TimePoint now = Clock::now();
        while (!m_timers.empty() && m_timers.top().first <= now) {
            const auto [when, token] = m_timers.top();
            m_timers.pop();
            const auto kind = static_cast<TimerKind>(token >> 32);
            const std::size_t index = token & 0xffffffffu;
            switch (kind) {
            case TimerKind::stop_step: stop_deadline(index, now); break;
            case TimerKind::actor_timeout: actor_timeout(index); break;
            case TimerKind::tree_timeout:
                if (!m_cancel_cause) {
                    log(1, fmt::format("--timeout of {} ran out; cancelling the tree",
                                       format_duration(*m_options.tree_timeout)));
                    set_cause("tree_timeout", k_exit_timeout, "timeout");
                    cancel_all("tree_timeout");
                }
                break;
            }
        }
        arm_timer();
    }

    // ---- spawning ----------------------------------------------------------
    void start_all() {
        for (std::size_t i = 0; i < m_actors.size(); ++i) {
            if (m_cancel_cause) break; // a failure while starting: the rest never start
            submit(i);
        }
    }

    UniqueFd dup_fd(int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3)); }

    void submit(std::size_t i) {
        ActorRun& a = m_actors[i];
        const spec::Actor& s = *a.spec;
        UniqueFd in, out;
        if (s.stdin_mode == spec::StdinMode::null) in = dup_fd(m_dev_null.get());
        switch (s.output.mode) {
        case spec::Output::Mode::prefix: {
            auto pipe = sys::make_pipe();
            sys::set_nonblocking(pipe.read.get());
            a.output = std::move(pipe.read);
            out = std::move(pipe.write);
            watch(a.output.get(), make_tag(Tag::output, i), m_output_paused ? 0u : std::uint32_t{EPOLLIN});
            break;
        }
        case spec::Output::Mode::inherit: break;
        case spec::Output::Mode::null: out = dup_fd(m_dev_null.get()); break;
        case spec::Output::Mode::file:
            out = UniqueFd(::open(s.output.path.c_str(),
                                  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644));
            if (!out) {
                spawn_failed(i, fmt::format("failed to set up {} (open output {}): {}", s.name,
                                            s.output.path, errno_text(errno)));
                return;
            }
            break;
        }
        a.prepared = std::make_unique<backend::PreparedCommand>(s, environ, std::move(in),
                                                                std::move(out), UniqueFd());
        a.phase = Phase::spawning;
        m_backend->submit({i, a.prepared->args()});
    }

    void on_backend() {
        for (auto& done : m_backend->take_completions()) {
            const std::size_t i = done.id;
            ActorRun& a = m_actors[i];
            a.prepared->release_child_fds(); // the child has its copies now
            if (done.pid < 0) {
                spawn_failed(i, fmt::format("failed to start {} ({}): {}", a.spec->name,
                                            done.failed_call, errno_text(done.error)));
                continue;
            }
            a.pid = done.pid;
            a.started = Clock::now();
            m_by_pid[a.pid] = i;
            if (!done.pidfd) {
                // Without a pidfd the child cannot be tracked safely: kill it
                // while it is certainly unreaped, and reap it by pid.
                ::kill(a.pid, SIGKILL);
                ::waitpid(a.pid, nullptr, 0);
                m_by_pid.erase(a.pid);
                a.pid = -1;
                spawn_failed(i, fmt::format("failed to track {} ({}): {}", a.spec->name,
                                            done.failed_call, errno_text(done.error)));
                continue;
            }
            a.pidfd = std::move(done.pidfd);
            a.error_pipe = std::move(done.error_pipe);
            a.phase = Phase::running;
            m_guardian.watch_group(a.pid);
            watch(a.pidfd.get(), make_tag(Tag::pidfd, i), EPOLLIN);
            watch(a.error_pipe.get(), make_tag(Tag::error_pipe, i), EPOLLIN);
            log(2, fmt::format("{} spawned, pid {}", a.spec->path, a.pid));
            if (a.spec->timeout) add_timer(*a.started + *a.spec->timeout, TimerKind::actor_timeout, i);
            if (a.cancel_reason) begin_stop(i); // cancelled while it was being forked
        }
    }

    // The exec-error pipe: EOF means execve succeeded; a ChildError means
    // the child failed before or at execve and is exiting with 127.
    void on_error_pipe(std::size_t i) {
        ActorRun& a = m_actors[i];
        if (!a.error_pipe) return;
        backend::ChildError e;
        const ssize_t n = sys::retry_eintr([&] { return ::read(a.error_pipe.get(), &e, sizeof e); });
        if (n < 0 && errno == EAGAIN) return;
        unwatch(a.error_pipe.get());
        if (n == static_cast<ssize_t>(sizeof e) && !a.spawn_error) {
            const auto stage = static_cast<backend::ChildStage>(e.stage);
            a.spawn_error =
                stage == backend::ChildStage::exec
                    ? fmt::format("failed to execute {}: {}", a.prepared->program(),
                                  errno_text(e.err))
                    : fmt::format("failed to set up {} ({}): {}", a.spec->name,
                                  backend::stage_text(stage, a.prepared->args()), errno_text(e.err));
        }
        a.error_pipe.reset();
    }

    void spawn_failed(std::size_t i, std::string error) {
        ActorRun& a = m_actors[i];
        a.spawn_error = std::move(error);
        if (a.output) unwatch(a.output.get());
        a.output.reset();
        finish(i, Clock::now());
    }

    // ---- stopping ----------------------------------------------------------
    void signal_actor(ActorRun& a, int signo) {
        // The group reaches the actor's own children; the leader is unreaped,
        // so its pid (= the group id) cannot have been reused. If the actor
        // left its group, the pidfd still reaches the actor itself.
        const bool group_ok = ::kill(-a.pid, signo) == 0;
        if (!group_ok || signo == SIGKILL) sys::pidfd_send_signal(a.pidfd.get(), signo);
        if (signo != SIGKILL && signo != SIGCONT && signo != SIGSTOP) {
            // A stopped actor cannot act on the signal until it continues.
            if (::kill(-a.pid, SIGCONT) != 0) sys::pidfd_send_signal(a.pidfd.get(), SIGCONT);
        }
    }

    void begin_stop(std::size_t i) {
        ActorRun& a = m_actors[i];
        if (a.phase != Phase::running || a.stop.started()) return;
        const TimePoint now = Clock::now();
        const int signo = m_sigint_count >= 2 ? *a.stop.kill_now(now) : a.stop.begin(now);
        log(2, fmt::format("{} stopping ({}): {}", a.spec->path, *a.cancel_reason,
                           signal_name(signo)));
        signal_actor(a, signo);
        if (auto d = a.stop.deadline()) add_timer(*d, TimerKind::stop_step, i);
    }

    void stop_deadline(std::size_t i, TimePoint now) {
        ActorRun& a = m_actors[i];
        if (a.phase != Phase::running) return;
        const auto signo = a.stop.on_deadline(now);
        if (!signo) return;
        if (*signo == SIGKILL)
            log(1, fmt::format("{} did not stop within {}; sending SIGKILL", a.spec->path,
                               format_duration(a.stop.sequence().grace())));
        signal_actor(a, *signo);
        if (auto d = a.stop.deadline()) add_timer(*d, TimerKind::stop_step, i);
    }

    void actor_timeout(std::size_t i) {
        ActorRun& a = m_actors[i];
        if (a.phase != Phase::running || a.cancel_reason) return;
        log(1, fmt::format("{} ran past its timeout of {}; cancelling it", a.spec->path,
                           format_duration(*a.spec->timeout)));
        a.cancel_reason = "timeout";
        a.failed = true; // like timeout(1): running out of time is a failure
        begin_stop(i);
        nursery_failed(i);
    }

    void cancel_actor(std::size_t i, const std::string& reason) {
        ActorRun& a = m_actors[i];
        if (a.phase == Phase::done || a.cancel_reason) return;
        a.cancel_reason = reason;
        if (a.phase == Phase::pending) {
            finish(i, Clock::now());
        } else if (a.phase == Phase::spawning) {
            if (m_backend->withdraw(i)) {
                a.prepared.reset();
                if (a.output) unwatch(a.output.get());
                a.output.reset();
                finish(i, Clock::now());
            }
            // else: being forked right now; begin_stop runs when it completes
        } else {
            begin_stop(i);
        }
    }

    void cancel_all(const std::string& reason) {
        for (std::size_t i = 0; i < m_actors.size(); ++i) cancel_actor(i, reason);
    }

    void set_cause(const std::string& cause, int exit_code, const std::string& result) {
        if (m_cancel_cause) return;
        m_cancel_cause = cause;
        m_exit_code = exit_code;
        m_result = result;
    }

    void nursery_failed(std::size_t culprit) {
        m_failed = true;
        if (m_cancel_cause) return;
        set_cause("sibling_failed", k_exit_failed, "failed");
        std::size_t running = 0;
        for (std::size_t i = 0; i < m_actors.size(); ++i)
            if (i != culprit && m_actors[i].phase != Phase::done) ++running;
        if (running > 0)
            log(1, fmt::format("{} failed; cancelling {} sibling{} (one_for_all)",
                               m_actors[culprit].spec->path, running, running == 1 ? "" : "s"));
        for (std::size_t i = 0; i < m_actors.size(); ++i)
            if (i != culprit) cancel_actor(i, "sibling_failed");
    }

    // ---- reaping -----------------------------------------------------------
    void on_pidfd(std::size_t i) {
        ActorRun& a = m_actors[i];
        if (a.phase != Phase::running) return;
        // Take down what the actor left in its group before the group id can
        // be reused (the leader is a zombie until the waitid below).
        ::kill(-a.pid, SIGKILL);
        siginfo_t info{};
        if (sys::retry_eintr([&] {
                return ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(a.pidfd.get()),
                                &info, WEXITED | WNOHANG);
            }) < 0 ||
            info.si_pid == 0)
            return; // not yet waitable
        const TimePoint now = Clock::now();
        if (info.si_code == CLD_EXITED) a.exit_code = info.si_status;
        else a.term_signal = info.si_status;
        on_error_pipe(i); // the child is gone: its report, if any, is complete
        unwatch(a.pidfd.get());
        a.pidfd.reset();
        m_by_pid.erase(a.pid);
        m_guardian.forget_group(a.pid);
        a.stop.exited(now);
        finish(i, now);
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
            siginfo_t reaped{};
            ::waitid(P_PID, static_cast<id_t>(info.si_pid), &reaped, WEXITED | WNOHANG);
            if (info.si_pid == m_guardian.pid()) {
                m_guardian.reaped();
                log(1, "the guardian process died; a kill -9 of forkspawn could now leave "
                       "actors' children behind");
                continue;
            }
            ++m_orphans;
            log(2, fmt::format("reaped orphan pid {}", info.si_pid));
        }
    }

    void finish(std::size_t i, TimePoint now) {
        ActorRun& a = m_actors[i];
        a.phase = Phase::done;
        a.ended = now;
        if (a.spawn_error) {
            a.outcome = Outcome::spawn_failed;
            a.failed = true;
        } else if (!a.started) {
            a.outcome = Outcome::not_started;
        } else if (a.stop.started()) {
            const bool took_kill = a.term_signal == SIGKILL &&
                                   std::count(a.stop.sent().begin(), a.stop.sent().end(), SIGKILL);
            a.outcome = took_kill ? Outcome::killed : Outcome::cancelled;
        } else if (a.exit_code == 0) {
            a.outcome = Outcome::completed;
        } else {
            a.outcome = Outcome::failed;
            a.failed = true;
        }
        if (a.outcome == Outcome::failed || a.outcome == Outcome::spawn_failed ||
            m_options.verbosity >= 2) {
            std::string what = a.spawn_error ? *a.spawn_error : status_text(a);
            log(a.outcome == Outcome::completed ? 2 : 1,
                fmt::format("{} {} ({})", a.spec->path, report::outcome_name(a.outcome), what));
        }
        if (m_options.format == report::Format::jsonl) {
            m_report_sink.write(report::jsonl_reaped(make_report(a)));
            after_write();
        }
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
            if (a.phase != Phase::done) return;
        }
        if (!any_work) return;
        bool daemons = false;
        for (std::size_t i = 0; i < m_actors.size(); ++i)
            if (m_actors[i].spec->daemon && m_actors[i].phase != Phase::done) daemons = true;
        if (daemons) log(2, "work done; cancelling daemons");
        m_work_done = true;
        for (std::size_t i = 0; i < m_actors.size(); ++i)
            if (m_actors[i].spec->daemon) cancel_actor(i, "nursery_done");
    }

    bool all_done() const {
        return std::all_of(m_actors.begin(), m_actors.end(),
                           [](const ActorRun& a) { return a.phase == Phase::done; });
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

    // Reads what is there now; false at EOF.
    bool on_output(std::size_t i) {
        ActorRun& a = m_actors[i];
        if (!a.output) return false;
        char buf[16384];
        for (int rounds = 0; rounds < 4; ++rounds) { // bounded: other fds get their turn
            const ssize_t n = ::read(a.output.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            if (n <= 0) {
                if (!a.partial.empty()) emit_line(i, a.partial);
                a.partial.clear();
                unwatch(a.output.get());
                a.output.reset();
                after_write();
                return false;
            }
            std::string_view chunk(buf, static_cast<std::size_t>(n));
            while (!chunk.empty()) {
                const std::size_t nl = chunk.find('\n');
                if (nl == std::string_view::npos) {
                    a.partial.append(chunk);
                    if (a.partial.size() >= k_line_limit) {
                        emit_line(i, a.partial);
                        a.partial.clear();
                    }
                    break;
                }
                a.partial.append(chunk.substr(0, nl));
                emit_line(i, a.partial);
                a.partial.clear();
                chunk.remove_prefix(nl + 1);
            }
            if (static_cast<std::size_t>(n) < sizeof buf) break;
        }
        after_write();
        return true;
    }

    // Keeps the sinks' epoll interest and the output back-pressure in step
    // with what is buffered; notices a report reader that went away.
    void after_write() {
        if (m_log_registered)
            rewatch(m_log_sink.fd(), make_tag(Tag::sink, 0), m_log_sink.buffered() ? std::uint32_t{EPOLLOUT} : 0u);
        if (m_report_registered)
            rewatch(m_report_sink.fd(), make_tag(Tag::sink, 1),
                    m_report_sink.buffered() ? std::uint32_t{EPOLLOUT} : 0u);
        const bool pause = m_log_sink.buffered() > k_log_high_water;
        const bool resume = m_log_sink.buffered() < k_log_low_water;
        if ((pause && !m_output_paused) || (resume && m_output_paused)) {
            m_output_paused = pause;
            for (std::size_t i = 0; i < m_actors.size(); ++i)
                if (m_actors[i].output)
                    rewatch(m_actors[i].output.get(), make_tag(Tag::output, i),
                            m_output_paused ? 0u : std::uint32_t{EPOLLIN});
        }
        if (m_report_sink.broken() && m_options.format != report::Format::none && !m_report_gone) {
            m_report_gone = true;
            log(1, "the report's reader went away; cancelling the tree");
            set_cause("signal:SIGPIPE", 128 + SIGPIPE, "cancelled");
            cancel_all("signal:SIGPIPE");
        }
    }
    bool m_report_gone = false;

    // A pipe's write end reports EPOLLERR as soon as its reader is gone, even
    // with nothing to write: that is how a closed report reader is noticed
    // while the tree runs, not only at the next report line.
    void on_sink(std::size_t index, std::uint32_t events) {
        Sink& sink = index == 0 ? m_log_sink : m_report_sink;
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
            case SIGCHLD: reap_orphans(); break;
            case SIGUSR1: dump_tree(); break;
            case SIGINT:
            case SIGTERM:
            case SIGHUP: {
                if (signo == SIGINT) ++m_sigint_count;
                const std::string reason = "signal:" + signal_name(signo);
                if (signo == SIGINT && m_sigint_count >= 2) {
                    log(1, "second SIGINT: killing now");
                    const TimePoint now = Clock::now();
                    for (auto& a : m_actors) {
                        if (a.phase != Phase::running) continue;
                        if (!a.cancel_reason) a.cancel_reason = reason;
                        if (auto k = a.stop.kill_now(now)) signal_actor(a, *k);
                    }
                    set_cause(reason, 128 + signo, "cancelled");
                    cancel_all(reason);
                    break;
                }
                if (m_cancel_cause && *m_cancel_cause == reason) break;
                log(1, fmt::format("got {}; cancelling the tree", signal_name(signo)));
                // The first cause decides the exit code: a signal during a
                // failure's teardown still exits 1.
                set_cause(reason, 128 + signo, "cancelled");
                cancel_all(reason);
                break;
            }
            default: break;
            }
        }
    }

    void dump_tree() {
        const TimePoint now = Clock::now();
        std::string out = fmt::format("forkspawn: live tree at {:.1f}ms\n", ms_since_start(now));
        out += fmt::format("{}  nursery  pid {}\n", m_spec.root.path, ::getpid());
        for (const auto& a : m_actors) {
            std::string state;
            switch (a.phase) {
            case Phase::pending: state = "pending"; break;
            case Phase::spawning: state = "spawning"; break;
            case Phase::running:
                state = a.stop.started() ? fmt::format("stopping (sent {})",
                                                       signal_name(a.stop.sent().back()))
                                         : "running";
                break;
            case Phase::done: state = std::string(report::outcome_name(a.outcome)); break;
            }
            out += fmt::format("  {}  pid {}  {}", a.spec->path, a.pid > 0 ? std::to_string(a.pid) : "-", state);
            if (auto d = a.stop.deadline())
                out += fmt::format("  next signal in {:.1f}ms", to_ms(*d - now));
            else if (a.phase == Phase::running && a.spec->timeout && a.started && !a.stop.started())
                out += fmt::format("  timeout in {:.1f}ms", to_ms(*a.started + *a.spec->timeout - now));
            out += '\n';
        }
        m_log_sink.write(out);
        after_write();
    }

    // ---- the end -----------------------------------------------------------
    // Every actor is reaped. Whatever is still our child escaped its actor
    // (double fork, setsid) and was adopted: kill it, reap it, repeat until
    // nothing is left. Our unreaped children's pids cannot be reused, so
    // signalling them by pid is safe.
    void kill_orphans() {
        const auto until = Clock::now() + std::chrono::seconds(5);
        for (;;) {
            reap_orphans();
            auto children = living_children();
            std::erase(children, m_guardian.pid());
            if (children.empty() || Clock::now() > until) return;
            for (pid_t pid : children) {
                ::kill(pid, SIGKILL);
                log(2, fmt::format("killed escaped process {}", pid));
            }
            for (pid_t pid : children) {
                siginfo_t info{};
                ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED);
                ++m_orphans;
            }
        }
    }

    static std::vector<pid_t> living_children() {
        std::vector<pid_t> out;
        const pid_t self = ::getpid();
        DIR* proc = ::opendir("/proc");
        if (!proc) return out;
        while (dirent* entry = ::readdir(proc)) {
            const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
            if (pid <= 0) continue;
            char path[64];
            std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
            UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
            if (!fd) continue;
            char buf[512];
            const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
            if (n <= 0) continue;
            buf[n] = '\0';
            const char* paren = std::strrchr(buf, ')');
            if (!paren) continue;
            char state = 0;
            int ppid = 0;
            if (std::sscanf(paren + 1, " %c %d", &state, &ppid) == 2 && ppid == self)
                out.push_back(pid);
        }
        ::closedir(proc);
        return out;
    }

    void drain_outputs() {
        const auto until = Clock::now() + std::chrono::seconds(2);
        for (;;) {
            bool open = false;
            for (std::size_t i = 0; i < m_actors.size(); ++i)
                if (m_actors[i].output) open |= on_output(i);
            if (!open || Clock::now() > until) break;
            epoll_event events[16];
            ::epoll_wait(m_epoll.get(), events, 16, 50);
        }
        for (auto& a : m_actors) a.output.reset();
    }

    report::ActorReport make_report(const ActorRun& a) const {
        report::ActorReport r;
        r.path = a.spec->path;
        r.name = a.spec->name;
        r.kind = a.spec->kind == spec::Kind::command ? "cmd" : "nursery";
        r.backend = m_options.backend;
        if (a.pid > 0 && !a.spawn_error) r.pid = a.pid;
        if (!a.spawn_error) {
            if (a.exit_code || a.term_signal) r.status = status_text(a);
            r.exit_code = a.exit_code;
            if (a.term_signal) r.signal = signal_name(*a.term_signal);
        }
        r.outcome = a.outcome;
        r.cancel_reason = a.cancel_reason;
        r.error = a.spawn_error;
        if (a.started) r.started_ms = ms_since_start(*a.started);
        if (a.ended) r.ended_ms = ms_since_start(*a.ended);
        if (a.started && a.ended) r.runtime_ms = to_ms(*a.ended - *a.started);
        if (a.stop.started()) {
            report::StopReport s;
            for (int signo : a.stop.sent()) s.sent.push_back(signal_name(signo));
            s.escalated = std::count(a.stop.sent().begin(), a.stop.sent().end(), SIGKILL) > 0;
            if (auto after = a.stop.exit_after()) s.exit_after_ms = to_ms(*after);
            r.stop = s;
        }
        return r;
    }
};

Result Supervisor::run() {
    setup();
    if (m_options.tree_timeout)
        add_timer(m_t0 + *m_options.tree_timeout, TimerKind::tree_timeout);
    start_all();
    check_work_done();
    epoll_event events[64];
    while (!all_done()) {
        const int n = ::epoll_wait(m_epoll.get(), events, 64, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            sys::fail("epoll_wait");
        }
        for (int k = 0; k < n; ++k) {
            const std::uint64_t tag = events[k].data.u64;
            const auto kind = static_cast<Tag>(tag >> 32);
            const std::size_t index = tag & 0xffffffffu;
            switch (kind) {
            case Tag::signal: on_signal(); break;
            case Tag::timer: on_timer(); break;
            case Tag::backend: on_backend(); break;
            case Tag::pidfd: on_pidfd(index); break;
            case Tag::error_pipe: on_error_pipe(index); break;
            case Tag::output: on_output(index); break;
            case Tag::sink: on_sink(index, events[k].events); break;
            }
        }
    }
    kill_orphans();
    drain_outputs();
    m_backend.reset(); // joins the forkserver thread: every child is reaped
    m_guardian.stop();

    Result result;
    if (!m_cancel_cause) {
        m_exit_code = m_failed ? k_exit_failed : k_exit_ok;
        m_result = m_failed ? "failed" : "completed";
    }
    result.exit_code = m_exit_code;
    result.summary = {FORKSPAWN_VERSION, m_options.backend, m_result, m_exit_code,
                      ms_since_start(Clock::now())};
    for (const auto& a : m_actors) result.actors.push_back(make_report(a));
    if (m_orphans > 0) log(2, fmt::format("reaped {} escaped process(es)", m_orphans));
    return result;
}

} // namespace

Result run(const spec::Spec& spec, const Options& options, Sink& report_sink, Sink& log_sink) {
    // Orphans of any depth come back to us, to be reaped and killed.
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) sys::fail("prctl(PR_SET_CHILD_SUBREAPER)");
    Supervisor supervisor(spec, options, report_sink, log_sink);
    return supervisor.run();
}

} // namespace forkspawn::supervise
