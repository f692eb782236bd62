// SPDX-License-Identifier: MIT
// The supervisor of one nursery: the story of a run (setup, the event loop
// until every actor ended, the end-of-run kill, the result), the actor
// lifecycle carried out, signals and timers. What each part does in detail
// is in the file named after it (supervisor_impl.hpp lists them).
#include "supervisor_impl.hpp"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace forkspawn::supervise {

sigset_t supervised_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGUSR1, SIGCHLD})
        sigaddset(&set, signo);
    return set;
}

namespace {

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

} // namespace

// While an actor holds the terminal, forkspawn is a background group of it:
// it must neither stop when it writes to it (TOSTOP) nor when it gives the
// terminal back (tcsetpgrp from the background raises SIGTTOU). Actors get
// default dispositions back in exec_child.
void ignore_terminal_stops() {
    ::signal(SIGTTOU, SIG_IGN);
    ::signal(SIGTTIN, SIG_IGN);
}

void block_supervised_signals() {
    const sigset_t set = supervised_signals();
    if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) sys::fail("pthread_sigmask");
    // A closed report pipe must be an EPIPE we can act on, not a death.
    ::signal(SIGPIPE, SIG_IGN);
}

Result Supervisor::run() {
    try {
        supervise();
        end_of_run();
    } catch (const std::exception& e) {
        // Copied without allocating: running out of memory may be the error.
        std::snprintf(m_internal_error.data(), m_internal_error.size(), "%s", e.what());
        emergency_teardown();
    }
    Result r = result();
    control_finish(r.summary);
    return r;
}

void Supervisor::supervise() {
    setup();
    if (m_options.tree_timeout) add_timer(m_t0 + *m_options.tree_timeout, TimerKind::tree_timeout);
    start_more();
    check_work_done();
    while (!all_done() || m_probes_active > 0) {
        const auto events = m_loop.wait();
        m_group_guests_fresh = false; // time has passed: groups may have changed
        m_own_peak_kib.reset();
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
                if (!m_output_paused || !to_log(m_actors[index])) on_output(index);
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
            case Tag::ready:
                on_ready_fd(index);
                break;
            case Tag::probe:
                on_probe(index);
                break;
            case Tag::probe_exit:
                on_probe_exit(index);
                break;
            case Tag::cgroup:
                on_cgroup(index);
                break;
            case Tag::control:
                on_control(index, event.events);
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
    remove_run_cgroup();
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
    result.summary = {
        FORKSPAWN_VERSION, m_options.backend, m_result, m_exit_code, ms_since_start(Clock::now()),
        m_containment};
    if (root()) {
        result.actors = m_tree->finish();
        report::summarize(result.summary, result.actors);
    }
    if (m_orphans > 0) log(2, fmt::format("reaped {} escaped process(es)", m_orphans));
    return result;
}

void Supervisor::setup() {
    m_loop.open(make_tag(Tag::timer));
    const sigset_t set = supervised_signals();
    m_signalfd = UniqueFd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!m_signalfd) sys::fail("signalfd");
    m_dev_null = UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!m_dev_null) sys::fail("open /dev/null");
    // The guardian first: it sets FORKSPAWN_TREE, which every process
    // started from now on inherits. Sub-supervisors register their
    // actors with the root's.
    if (root()) m_guardian = Guardian::start(m_options.cgroup);
    m_backend = backend::make_backend(m_options.backend);
    if (!m_backend) throw Error("unknown spawn backend " + m_options.backend);
    if (root()) m_guardian_fd = m_guardian.fd();
    setup_cgroups();
    setup_control();
    if (root() && m_options.cgroup.empty() && !m_options.cgroup_fallback.empty())
        log(2, "cgroups not used: " + m_options.cgroup_fallback);
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

void Supervisor::add_timer(TimePoint when, TimerKind kind, std::size_t index) {
    m_loop.add_timer(when, (static_cast<std::uint64_t>(kind) << 32) | index);
}

void Supervisor::on_timer() {
    const TimePoint now = Clock::now();
    for (const std::uint64_t token : m_loop.take_due(now)) {
        const auto kind = static_cast<TimerKind>(token >> 32);
        const std::size_t index = token & 0xffffffffu;
        switch (kind) {
        case TimerKind::deadline:
            if (m_actors[index].state() == State::emptying) {
                emptying_deadline(index, Clock::now());
                break;
            }
            // Its own clock reading: a batch of due actors takes a while
            // to signal, and the time each signal went out is reported.
            apply(index, Event::deadline, Clock::now());
            break;
        case TimerKind::actor_timeout:
            actor_timeout(index);
            break;
        case TimerKind::deaf_nursery:
            if (ActorRun& a = m_actors[index];
                a.deaf_due && now >= *a.deaf_due && a.life.has_process()) {
                if (!a.cancel_reason) a.cancel_reason = "channel_closed";
                apply(index, Event::kill, now);
            }
            break;
        case TimerKind::not_ready:
        case TimerKind::watchdog:
        case TimerKind::probe:
            readiness_timer(kind, index, now);
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

// Applies an event to actor i's lifecycle and carries out what it asks
// for (lifecycle.hpp has the table). Every stop signal, deadline, spawn
// and end of an actor goes through here.
void Supervisor::apply(std::size_t i, Event e, TimePoint now, bool exec_pending,
                       std::optional<Duration> restart) {
    ActorRun& a = m_actors[i];
    const auto before = a.life.deadline();
    const lifecycle::Transition t =
        a.life.apply(e, now, exec_pending, restart.has_value(), restart.value_or(Duration{}));
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
    if (const auto d = a.life.deadline(); d && d != before) add_timer(*d, TimerKind::deadline, i);
    if (t.to == State::running && t.from != State::running) on_running(i, now);
    if (act.submit) submit(i);
    if (act.finish && t.to == State::restarting)
        attempt_ended(i, now);
    else if (act.finish)
        finish(i, now, t.from);
    if (t.from == State::restarting && t.to == State::waiting) restart_now(i);
    if (e == Event::revive && t.from == State::ended) revived(i);
    live_changed(i);
}

// Stops actor i for `reason`: its stop sequence, or SIGKILL at once
// after a second SIGINT.
void Supervisor::stop_actor(std::size_t i, const std::string& reason) {
    m_actors[i].cancel_reason = reason;
    apply(i, m_sigint_count >= 2 ? Event::kill : Event::cancel);
}

// Cancelled while its spawn or execve was not confirmed, and ended on
// its own meanwhile (a fast program): the answer it waited for must not
// begin a stop on it. It is reaped instead, and reports how it ended.
bool Supervisor::ended_before_its_stop(const ActorRun& a) {
    return a.life.cancelled() && !a.stop().started() && exited_unreaped(a);
}

void Supervisor::actor_timeout(std::size_t i) {
    ActorRun& a = m_actors[i];
    // A timer of an earlier attempt, or ended just as its time ran out: it
    // did not run past it.
    if (!a.timeout_due || Clock::now() < *a.timeout_due) return;
    if (!a.life.has_process() || a.life.cancelled() || a.exit_code || a.term_signal ||
        exited_unreaped(a))
        return;
    log(1, fmt::format("{} ran past its timeout of {}; cancelling it", a.spec->path,
                       format_duration(*a.spec->timeout)));
    a.failed = true; // like timeout(1): running out of time is a failure
    stop_actor(i, "timeout");
    // One that may be restarted fails the nursery only if it is not.
    if (a.spec->restart == RestartPolicy::never) nursery_failed(i);
}

void Supervisor::cancel_actor(std::size_t i, const std::string& reason) {
    ActorRun& a = m_actors[i];
    if (a.done() || a.life.cancelled()) return;
    // It ended on its own: its reap (already due, or under way: a
    // channel drained by on_pidfd) reports that, and no cancel
    // happened, so it has no cancel reason either.
    if (reaped_unreported(a)) return;
    if (a.life.has_process() && exited_unreaped(a)) return;
    stop_actor(i, reason);
}

// Every child, dependents before what they depend on (release_stops).
void Supervisor::cancel_all(const std::string& reason) {
    cancel_where([](std::size_t) { return true; }, reason);
}

void Supervisor::set_cause(const std::string& cause, int exit_code, report::Result result) {
    if (m_cancel_cause) return;
    m_cancel_cause = cause;
    m_exit_code = exit_code;
    m_result = result;
}

// Child `culprit` failed for good: what happens to its siblings is the
// nursery's strategy.
void Supervisor::nursery_failed(std::size_t culprit) {
    m_failed = true;
    if (m_cancel_cause) return;
    const std::string& path = m_actors[culprit].spec->path;
    switch (m_nursery.strategy) {
    case spec::Strategy::one_for_one:
        // The others go on; the nursery fails when they are done.
        log(2, fmt::format("{} failed; its siblings go on (one_for_one)", path));
        return;
    case spec::Strategy::rest_for_one: {
        // The siblings after it in spec order stop; the ones before go on.
        std::size_t later = 0;
        for (std::size_t i = culprit + 1; i < m_actors.size(); ++i)
            if (!m_actors[i].done()) ++later;
        if (later > 0)
            log(1, fmt::format("{} failed; cancelling {} later sibling{} (rest_for_one)", path,
                               later, later == 1 ? "" : "s"));
        cancel_where([&](std::size_t i) { return i > culprit; }, "sibling_failed");
        return;
    }
    case spec::Strategy::one_for_all:
        break;
    }
    set_cause("sibling_failed", k_exit_failed, report::Result::failed);
    // Tell the parent now, not when our teardown is over: it cancels
    // our siblings in parallel with it (one_for_all all the way up).
    send_parent(channel::Failing{});
    std::size_t running = 0;
    for (std::size_t i = 0; i < m_actors.size(); ++i)
        if (i != culprit && !m_actors[i].done()) ++running;
    if (running > 0)
        log(1, fmt::format("{} failed; cancelling {} sibling{} (one_for_all)", path, running,
                           running == 1 ? "" : "s"));
    cancel_where([&](std::size_t i) { return i != culprit; }, "sibling_failed");
}

// The nursery completes when every non-daemon child completed; then its
// daemons are cancelled. A nursery of daemons only runs until cancelled.
void Supervisor::check_work_done() {
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
    cancel_where([&](std::size_t i) { return m_actors[i].spec->daemon; }, "nursery_done");
}

void Supervisor::on_signal() {
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
        case SIGTSTP:
            pause_tree();
            break;
        case SIGINT:
        case SIGTERM:
        case SIGHUP:
        case SIGQUIT: {
            reap_exited();
            // SIGQUIT (Ctrl-\) kills at once, as a second SIGINT does.
            if (signo == SIGINT) ++m_sigint_count;
            if (signo == SIGQUIT) m_sigint_count = 2;
            const std::string reason = "signal:" + signal_name(signo);
            // The first cause decides the exit code: a signal during a
            // failure's teardown still exits 1, and during the daemons'
            // teardown once the work is done, 0; nor does a signal that
            // comes when every actor has ended cancel anything.
            const bool cancels_work = !m_work_done && !all_done();
            if ((signo == SIGINT || signo == SIGQUIT) && m_sigint_count >= 2) {
                log(1, signo == SIGQUIT ? "SIGQUIT: killing now" : "second SIGINT: killing now");
                const TimePoint now = Clock::now();
                // Every actor not ended, in whatever state: running ones
                // get SIGKILL, ones being created are killed as soon as
                // they exist, ones not started never start.
                for (std::size_t i = 0; i < m_actors.size(); ++i) {
                    ActorRun& a = m_actors[i];
                    clear_stop_pending(a); // the order is for a graceful stop
                    if (a.done() || reaped_unreported(a)) continue;
                    if (!a.cancel_reason) a.cancel_reason = reason;
                    apply(i, Event::kill, now);
                }
                if (cancels_work) set_cause(reason, 128 + signo, report::Result::cancelled);
                cancel_all(reason);
                break;
            }
            if (m_cancel_cause && *m_cancel_cause == reason) break;
            log(1,
                m_cancel_cause || m_work_done
                    ? fmt::format("got {}; the tree is being torn down already", signal_name(signo))
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

// Ctrl-Z (SIGTSTP): the whole tree stops with forkspawn, as a shell's job
// does, and goes on when forkspawn is continued (`fg`, SIGCONT). Every
// deadline moves by the time stopped: nothing times out, escalates or
// misses a watchdog for having been stopped. A sub-supervisor stops its
// own subtree the same way, told by SIGTSTP, and is continued by its parent.
void Supervisor::pause_tree() {
    const auto each = [&](int signo) {
        for (ActorRun& a : m_actors) {
            if (!a.proc || a.done()) continue;
            if (a.nursery()) {
                a.proc.signal(signo == SIGSTOP ? SIGTSTP : signo);
                continue;
            }
            // The whole group, whatever the kill mode: its children stop too.
            if (a.proc.leads_group() && !hosts_other_actors(a.pid)) a.proc.signal_group(signo);
            a.proc.signal(signo);
        }
    };
    log(1, "got SIGTSTP; stopping the tree");
    m_log_sink.flush_some();
    each(SIGSTOP);
    const TimePoint stopped_at = Clock::now();
    ::raise(SIGSTOP); // returns once forkspawn is continued
    const Duration stopped = Clock::now() - stopped_at;
    each(SIGCONT);
    shift_deadlines(stopped);
    log(1, fmt::format("continued after {} stopped; deadlines moved by as much",
                       format_duration(std::chrono::duration_cast<Duration>(stopped))));
}

void Supervisor::shift_deadlines(Duration by) {
    m_loop.shift_timers(by);
    for (ActorRun& a : m_actors) {
        a.life.shift(by);
        for (std::optional<TimePoint>* due :
             {&a.timeout_due, &a.deaf_due, &a.ready_due, &a.watchdog_due, &a.probe_due})
            if (*due) **due += by;
    }
    if (m_group) m_group->not_before += by;
}

std::size_t prefix_width(const spec::Actor& nursery) {
    std::size_t width = 0;
    for (const spec::Actor& a : nursery.actors) {
        if (a.kind == spec::Kind::nursery)
            width = std::max(width, prefix_width(a));
        else if (a.output.mode == spec::Output::Mode::prefix && a.path.size() <= k_max_prefix_width)
            width = std::max(width, a.path.size());
    }
    return width;
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
