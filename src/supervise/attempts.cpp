// SPDX-License-Identifier: MIT
// How an actor's attempt ends (DESIGN "Restarts", "Strategies"): for good
// (finish: its outcome and report), or to run again: after which delay,
// with which siblings (a group restart), and what the nursery does when its
// restart intensity is reached. The lifecycle holds the actor in
// `restarting` until its delay is over (lifecycle.hpp).
#include "supervisor_impl.hpp"

namespace forkspawn::supervise {

// What ends an attempt, whether it ends the actor or is restarted: its
// entry in the page of started pids, the terminal, a nursery's channel.
void Supervisor::end_attempt(std::size_t i, TimePoint now) {
    ActorRun& a = m_actors[i];
    a.ended = now;
    // Reaped (or never forked): the entry no longer names a process.
    if (std::int32_t* slot = started_slot(i)) __atomic_store_n(slot, 0, __ATOMIC_RELEASE);
    release_terminal(i);
    close_readiness(i);
    if (a.nursery() && a.said_exit) {
        // It reported every actor below it before it said goodbye: an
        // entry still here lost its "reaped", and its pid is free.
        const std::string below = a.spec->path + "/";
        std::erase_if(m_remote, [&](const auto& e) { return e.second.path.starts_with(below); });
    }
    if (a.channel && !a.proc) {
        unwatch(a.channel.get());
        a.channel.reset();
    }
}

// An attempt is a failure unless it exited with one of its success codes
// (a sub-supervisor: 0) and nothing else failed it (its own timeout, a
// sub-supervisor that went away without a word).
bool Supervisor::attempt_failed(const ActorRun& a) {
    return a.failed || !a.exit_code || !a.spec->success(*a.exit_code);
}

void Supervisor::record_attempt(ActorRun& a, Outcome outcome) const {
    report::Attempt t;
    if (a.pid > 0 && !a.spawn_error) t.pid = a.pid;
    if (!a.spawn_error) t.status = status_text(a);
    t.outcome = outcome;
    if (a.started) t.started_ms = ms_since_start(*a.started);
    if (a.ended) t.ended_ms = ms_since_start(*a.ended);
    a.attempts.push_back(std::move(t));
    if (a.attempts.size() > report::k_max_attempts) {
        a.attempts.pop_front();
        ++a.attempts_dropped;
    }
}

// The actor ended for good (`from`: the state it ended from).
void Supervisor::finish(std::size_t i, TimePoint now, State from) {
    ActorRun& a = m_actors[i];
    end_attempt(i, now);
    if (a.spawn_error) {
        a.outcome = Outcome::spawn_failed;
        a.failed = true;
    } else if (from == State::restarting || (!a.started && !a.attempts.empty())) {
        // Cancelled while it waited for its restart (or for its group to
        // start again): its last attempt is in `attempts`, and nothing ran
        // to be stopped.
        a.outcome = Outcome::cancelled;
        a.failed = false;
    } else if (!a.started) {
        a.outcome = Outcome::not_started;
    } else if (a.stop().started()) {
        const bool took_kill = a.term_signal == SIGKILL && a.stop().escalated();
        a.outcome = took_kill ? Outcome::killed : Outcome::cancelled;
    } else if (a.exit_code && a.spec->success(*a.exit_code)) {
        a.outcome = Outcome::completed;
    } else {
        a.outcome = Outcome::failed;
        a.failed = true;
    }
    if (a.started && from != State::restarting) record_attempt(a, a.outcome); // else recorded
    if (a.outcome == Outcome::failed || a.outcome == Outcome::spawn_failed ||
        m_options.verbosity >= 2) {
        std::string what = a.spawn_error ? *a.spawn_error : status_text(a).value_or("");
        // A failure is said even with -q.
        log(a.outcome == Outcome::completed ? 2 : 0,
            fmt::format("{} {} ({})", a.spec->path, report::outcome_name(a.outcome), what));
    }
    end_cgroup(a);
    // What it wrote before it ended is in its pipe now: read, for its tail.
    if (a.output && (!m_output_paused || !to_log(a))) on_output(i);
    publish(make_report(a));
    if (a.gave_up) give_up(i);
    // A timed-out actor that is never restarted failed the nursery when its
    // time ran out.
    else if (a.failed && (!own_failure(a) || a.spec->restart != RestartPolicy::never))
        nursery_failed(i);
    release_stops();   // what waited for it to be reaped
    try_group_start(); // it may have been the last of a group to go down
    if (a.holds_slot) {
        a.holds_slot = false;
        --m_holding;
        start_more(); // its slot is free
    } else if (!m_blocked.empty()) {
        start_more(); // a condition on it may hold, or never will
    }
    check_work_done();
}

// The delay before actor i runs again, or none when this end is its last:
// it is never restarted, or was cancelled (its own timeout is a failure,
// not a cancel), or the nursery is being torn down, or its policy does not
// restart this end, or the restart would pass the nursery's intensity
// (then it gave up).
std::optional<Duration> Supervisor::restart_delay(std::size_t i, TimePoint now) {
    ActorRun& a = m_actors[i];
    if (a.rejoin) { // stopped for a sibling's restart: it comes back with the group
        a.rejoin = false;
        if (m_cancel_cause || !m_group) return std::nullopt;
        return std::max(Duration{}, m_group->not_before - now);
    }
    if (a.ctl_restart) { // ctl restart: at once, whatever its policy, not counted
        a.ctl_restart = false;
        if (m_cancel_cause || a.stop_pending) return std::nullopt;
        a.backoff_step = 0;
        return Duration{};
    }
    if (a.spec->restart == RestartPolicy::never || a.spawn_error) return std::nullopt;
    if (a.stop_pending) return std::nullopt; // its nursery is stopping it
    if ((a.life.cancelled() || a.stop().started()) && !own_failure(a)) return std::nullopt;
    if (m_cancel_cause) return std::nullopt;
    if (!restarts_after(a.spec->restart, attempt_failed(a))) return std::nullopt;
    if (!m_restart_window.admit(now)) {
        a.gave_up = true;
        return std::nullopt;
    }
    // The k-th consecutive restart waits initial x 2^(k-1), up to max; an
    // attempt that ran at least max was stable, and k starts again.
    const Duration ran = a.started ? now - *a.started : Duration{};
    a.backoff_step = a.spec->backoff.stable(ran) ? 1 : a.backoff_step + 1;
    const Duration delay = a.spec->backoff.delay(a.backoff_step);
    if (m_nursery.strategy != spec::Strategy::one_for_one) begin_group_restart(i, now + delay);
    return delay;
}

// Child `culprit` restarts under one_for_all or rest_for_one: the other
// members of its group that run are stopped (sibling_restarting) and come
// back with it; one restart for the intensity, the culprit's.
void Supervisor::begin_group_restart(std::size_t culprit, TimePoint not_before) {
    const std::size_t first =
        m_nursery.strategy == spec::Strategy::rest_for_one ? culprit : std::size_t{0};
    if (m_group) {
        m_group->first = std::min(m_group->first, first);
        m_group->not_before = std::max(m_group->not_before, not_before);
    } else {
        m_group = GroupRestart{first, not_before};
    }
    std::vector<bool> stop(m_actors.size(), false);
    std::size_t stopping = 0;
    for (std::size_t j = m_group->first; j < m_actors.size(); ++j) {
        ActorRun& b = m_actors[j];
        // Not started yet, or waiting for a restart of its own: it starts
        // with the group. Ended for good: it stays so.
        if (j == culprit || b.done() || b.state() == State::waiting ||
            b.state() == State::restarting || b.life.cancelled() || b.stop_pending)
            continue;
        b.rejoin = true;
        stop[j] = true;
        ++stopping;
    }
    if (stopping > 0)
        log(1, fmt::format("{} restarts; stopping {} sibling{} to restart with it ({})",
                           m_actors[culprit].spec->path, stopping, stopping == 1 ? "" : "s",
                           spec::strategy_name(m_nursery.strategy)));
    // Dependents first, as in any stop of the nursery's.
    cancel_where([&](std::size_t j) { return stop[j]; }, "sibling_restarting");
}

// Once every member of the group is down (waiting, its delay over, or
// ended for good), the members start again in spec order.
void Supervisor::try_group_start() {
    if (!m_group) return;
    if (m_cancel_cause) {
        m_group.reset(); // a teardown ends them instead
        return;
    }
    for (std::size_t j = m_group->first; j < m_actors.size(); ++j) {
        const State st = m_actors[j].state();
        if (st != State::waiting && st != State::ended) return;
    }
    const std::size_t first = m_group->first;
    m_group.reset();
    for (std::size_t j = first; j < m_actors.size(); ++j)
        if (m_actors[j].state() == State::waiting) begin_start(j);
}

// Actor i's attempt ended and it waits in `restarting` for its delay.
void Supervisor::attempt_ended(std::size_t i, TimePoint now) {
    ActorRun& a = m_actors[i];
    end_attempt(i, now);
    Outcome outcome = attempt_failed(a) ? Outcome::failed : Outcome::completed;
    if (a.stop().started()) // stopped for a sibling's restart
        outcome =
            a.term_signal == SIGKILL && a.stop().escalated() ? Outcome::killed : Outcome::cancelled;
    record_attempt(a, outcome);
    ++a.restarts;
    release_stops(); // what waited for this attempt to be reaped
    const Duration delay = a.life.deadline() ? *a.life.deadline() - now : Duration{};
    log(1, fmt::format("{} {} ({}); restart {} in {} ({})", a.spec->path,
                       report::outcome_name(outcome), status_text(a).value_or("?"), a.restarts,
                       format_duration(delay),
                       a.cancel_reason == "ctl_restart"
                           ? std::string("ctl restart")
                           : "restart: " + std::string(restart_policy_name(a.spec->restart))));
    publish_attempt_ended(
        {a.spec->path, a.attempt, status_text(a), outcome, ms_since_start(now), to_ms(delay)});
}

// Its delay is over: what is left of the last attempt goes, and it starts
// again as it first did.
void Supervisor::restart_now(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (a.output) {
        // The last attempt's group is dead: what it wrote is in the pipe.
        on_output(i);
        m_partial_bytes -= a.lines.held();
        a.lines.flush([&](std::string_view line) { emit_line(i, line); });
        close_output(a);
    }
    reset_attempt(a);
    if (m_group && i >= m_group->first) {
        try_group_start(); // it starts with its group, in order
        return;
    }
    begin_start(i);
}

void Supervisor::reset_attempt(ActorRun& a) {
    a.prepared.reset();
    a.pid = -1;
    a.error_pipe.reset();
    a.output_live = false;
    a.cancel_reason.reset();
    a.spawn_error.reset();
    a.failed = false;
    a.started.reset();
    a.ended.reset();
    a.exit_code.reset();
    a.term_signal.reset();
    a.outcome = Outcome::not_started;
    a.start.reset();
    a.outbox.clear();
    a.said_exit = false;
    a.timeout_due.reset();
    a.deaf_due.reset();
    a.rejoin = false;
    a.ctl_restart = false;
    a.was_started = a.was_ready = a.ready_early = a.said_waiting = false;
    a.ready_at.reset();
    a.status_text.reset();
}

// A restart of `culprit` would pass the nursery's intensity: the nursery
// gives up, takes its other children down and fails (the failure climbs).
void Supervisor::give_up(std::size_t culprit) {
    m_failed = true;
    log(1,
        fmt::format("{}: more than {} restarts in {}; giving up (restart intensity {})",
                    m_nursery.path, m_nursery.intensity.restarts,
                    format_duration(m_nursery.intensity.period), m_nursery.intensity.to_string()));
    if (m_cancel_cause) return;
    set_cause("restart_intensity", k_exit_failed, report::Result::failed);
    send_parent(channel::Failing{});
    cancel_where([&](std::size_t i) { return i != culprit; }, "restart_intensity");
}

} // namespace forkspawn::supervise
