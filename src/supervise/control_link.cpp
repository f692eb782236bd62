// SPDX-License-Identifier: MIT
// The control socket's supervisor side (DESIGN "Control"): the root answers
// requests from its live table of the whole tree; stop, start, restart and
// signal travel down the channels to the supervisor of the actor's nursery,
// which carries them out (or says why not); every supervisor shows how its
// actors change (live_changed), up to the root.
#include "supervisor_impl.hpp"

#include <nlohmann/json.hpp>

namespace forkspawn::supervise {

namespace {

std::uint64_t control_tag(std::size_t k) {
    return make_tag(Tag::control, k);
}

std::string json_string(const std::string& s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool runs(std::string_view state) {
    return state == "running" || state == "ready";
}

} // namespace

control::LiveActor Supervisor::live_of(const ActorRun& a) const {
    control::LiveActor l;
    l.path = a.spec->path;
    l.nursery = a.nursery();
    if (a.pid > 0 && !a.spawn_error) l.pid = a.pid;
    l.state = lifecycle::public_name(a.state());
    if (a.done())
        l.outcome = report::outcome_name(a.outcome);
    else if (a.state() == State::restarting && !a.attempts.empty())
        l.outcome = report::outcome_name(a.attempts.back().outcome);
    l.cancel_reason = a.cancel_reason;
    l.restarts = a.restarts;
    l.attempt = a.attempt;
    l.ready = a.was_ready || a.state() == State::ready;
    l.status_text = a.status_text;
    if (a.started) l.started_ms = ms_since_start(*a.started);
    if (a.ended) l.ended_ms = ms_since_start(*a.ended);
    return l;
}

// Actor i may have changed as the control socket shows it: the root keeps
// it, a sub-supervisor sends it up (only when the tree has a socket).
void Supervisor::live_changed(std::size_t i) {
    if (root() ? !m_control : !m_options.control) return;
    ActorRun& a = m_actors[i];
    control::LiveActor l = live_of(a);
    if (a.live_sent && *a.live_sent == l) return;
    a.live_sent = l;
    if (root())
        live_update(l);
    else
        send_parent(channel::Live{std::move(l)});
}

void Supervisor::setup_control() {
    if (!root() || m_options.control_fd < 0) return;
    m_live = control::LiveTable(m_nursery);
    m_control = std::make_unique<control::Server>(m_options.control_fd, m_loop, &control_tag);
}

void Supervisor::live_update(const control::LiveActor& l) {
    if (m_live.update(l) && !m_pending.empty()) control_progress();
}

void Supervisor::emit_event(const std::string& line) {
    if (m_options.format == report::Format::jsonl) {
        m_report_sink->write(line);
        after_write();
    }
    if (m_control) m_control->publish(line);
}

void Supervisor::on_control(std::size_t index, std::uint32_t events) {
    if (!m_control) return;
    for (const auto& [client, request] : m_control->on_event(index, events))
        control_request(client, request);
}

void Supervisor::control_request(control::Server::ClientId client, const control::Request& r) {
    using control::Op;
    const auto refuse = [&](const std::string& why) {
        m_control->send(client, control::error_reply(r.id, why));
    };
    if (!r.error.empty()) return refuse(r.error); // in turn, with its id if it had one
    switch (r.op) {
    case Op::status:
        m_control->send(client, m_live.status_reply(r.id, ms_since_start(Clock::now())));
        return;
    case Op::events:
        m_control->subscribe(client); // first: a client that shut its side stays for them
        m_control->send(client, control::ok_reply(r.id));
        return;
    case Op::cancel: {
        const bool cancels_work = !m_work_done && !all_done();
        log(1, m_cancel_cause || m_work_done ? "ctl cancel; the tree is being torn down already"
                                             : "ctl cancel; cancelling the tree");
        if (cancels_work) set_cause("ctl_cancel", 128 + SIGTERM, report::Result::cancelled);
        cancel_all("ctl_cancel");
        m_control->send(client, control::ok_reply(r.id));
        return;
    }
    case Op::wait: {
        std::string unknown;
        Pending p{client, r, m_next_request++, m_live.wait_targets(r.paths, &unknown), {}, {}};
        if (!unknown.empty()) return refuse(fmt::format("no actor {} in this tree", unknown));
        m_pending.push_back(std::move(p));
        control_progress();
        return;
    }
    case Op::stop:
    case Op::start:
    case Op::restart:
    case Op::signal:
        break;
    }
    Pending p{client, r, m_next_request++, {}, {}, {}};
    for (const auto& path : r.paths) {
        const auto k = m_live.index(path);
        if (!k) {
            const std::string full = m_nursery.path + "/" + path;
            return refuse(
                m_live.index(full)
                    ? fmt::format("no actor {} in this tree; did you mean {}?", path, full)
                    : fmt::format("no actor {} in this tree (`status` lists them)", path));
        }
        const control::LiveActor& l = m_live.at(*k);
        // What the live table already tells (the actor's own supervisor
        // decides the rest).
        if (r.op == Op::signal && l.nursery)
            return refuse(fmt::format("{} is a nursery; signal the actors in it", path));
        if (r.op == Op::signal && !runs(l.state) && l.state != "stopping")
            return refuse(fmt::format("{} is not running ({})", path, l.state));
        if (r.op == Op::stop && l.state == "ended")
            return refuse(fmt::format("{} has ended already ({})", path, l.outcome.value_or("?")));
        p.targets.push_back(*k);
        p.baseline.push_back(l.attempt);
        p.moved.push_back(l.state != "ended");
    }
    for (const auto& path : r.paths)
        if (auto why = control_route(p.number, r.op, path, r.signo)) return refuse(*why);
    if (r.op == Op::signal) {
        // Sent (or on its way down to the actor's supervisor).
        m_control->send(client, control::ok_reply(r.id));
        return;
    }
    m_pending.push_back(std::move(p));
    control_progress();
}

// The actor at `path` is ours (carried out here) or below a nursery of ours
// (sent down); the reason when it cannot be done.
std::optional<std::string> Supervisor::control_route(std::uint64_t number, control::Op op,
                                                     const std::string& path, int signo) {
    for (std::size_t i = 0; i < m_actors.size(); ++i) {
        ActorRun& a = m_actors[i];
        if (a.spec->path == path) return control_apply(i, op, signo);
        if (!a.nursery() || !path.starts_with(a.spec->path + "/")) continue;
        if (!a.channel || (a.state() != State::running && a.state() != State::ready))
            return fmt::format("{} is in nursery {}, which is {}", path, a.spec->path,
                               a.done() ? "ended" : std::string(lifecycle::public_name(a.state())));
        send_child(a, channel::Control{number, op, path, signo});
        return std::nullopt;
    }
    return fmt::format("no actor {} in {}", path, m_nursery.path);
}

// Carries out a request for our actor i; the reason when it cannot.
std::optional<std::string> Supervisor::control_apply(std::size_t i, control::Op op, int signo) {
    using control::Op;
    ActorRun& a = m_actors[i];
    const std::string& path = a.spec->path;
    const std::string state(lifecycle::public_name(a.state()));
    const bool stopping = a.life.cancelled() || a.stop_pending || a.ctl_restart;
    // A new attempt now: an ended actor, or one waiting for its restart.
    const auto start_again = [&]() -> std::optional<std::string> {
        if (m_cancel_cause)
            return fmt::format("{} cannot start: {} is being torn down ({})", path, m_nursery.path,
                               *m_cancel_cause);
        if (m_work_done)
            return fmt::format("{} cannot start: {} has done its work and is ending", path,
                               m_nursery.path);
        const After* unmet = nullptr;
        if (dependencies_met(i, &unmet) == Gate::never)
            return fmt::format("{} cannot start: {} ended without being {}", path, unmet->sibling,
                               after_condition_name(unmet->condition));
        log(1, fmt::format("ctl: starting {}", path));
        apply(i, Event::revive);
        return std::nullopt;
    };
    switch (op) {
    case Op::signal:
        if (a.nursery()) return fmt::format("{} is a nursery; signal the actors in it", path);
        if (!a.life.has_process() || !a.proc || has_exited(a) ||
            (a.state() != State::running && a.state() != State::ready &&
             a.state() != State::stopping))
            return fmt::format("{} is not running ({})", path, a.done() ? "ended" : state);
        log(1, fmt::format("ctl: sending {} to {}", signal_name(signo), path));
        signal_actor(a, signo, false);
        return std::nullopt;
    case Op::stop:
        if (a.done())
            return fmt::format("{} has ended already ({})", path, report::outcome_name(a.outcome));
        if (stopping && !a.ctl_restart) return std::nullopt; // its end answers
        log(1, fmt::format("ctl: stopping {}", path));
        a.ctl_restart = false;
        cancel_actor(i, "ctl_stop");
        return std::nullopt;
    case Op::start:
        if (a.done() || a.state() == State::restarting) return start_again();
        return fmt::format("{} is {}, not ended; `restart` stops it and starts it again", path,
                           stopping ? "stopping" : state);
    case Op::restart:
        if (a.done() || a.state() == State::restarting) return start_again();
        if (stopping) return fmt::format("{} is stopping", path);
        if (a.state() != State::running && a.state() != State::ready)
            return fmt::format("{} is {}; it can be restarted once it runs", path, state);
        if (m_cancel_cause)
            return fmt::format("{} cannot restart: {} is being torn down ({})", path,
                               m_nursery.path, *m_cancel_cause);
        log(1, fmt::format("ctl: restarting {}", path));
        a.ctl_restart = true;
        cancel_actor(i, "ctl_restart");
        return std::nullopt;
    case Op::status:
    case Op::cancel:
    case Op::wait:
    case Op::events:
        break;
    }
    return "not a request for an actor";
}

// Actor i was revived (ctl start, restart) from ended (from restarting it
// starts as its restart would: restart_now). Its last attempt is in
// `attempts` (if it ran); this is the next one.
void Supervisor::revived(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (!a.attempts.empty()) ++a.restarts;
    a.backoff_step = 0;
    a.gave_up = false;
    reset_attempt(a);
    // In line with what waits to start: its nursery's max_running holds.
    m_blocked.push_back(i);
    start_more();
}

void Supervisor::control_refused(std::uint64_t number, const std::string& error) {
    for (auto it = m_pending.begin(); it != m_pending.end(); ++it) {
        if (it->number != number) continue;
        m_control->send(it->client, control::error_reply(it->request.id, error));
        m_pending.erase(it);
        return;
    }
}

// Answers every pending request that is done.
void Supervisor::control_progress() {
    std::erase_if(m_pending, [&](Pending& p) { return control_done(p); });
}

bool Supervisor::control_done(Pending& p) {
    using control::Op;
    if (!m_control->connected(p.client)) return true;
    const auto& id = p.request.id;
    if (p.request.op == Op::wait) {
        const control::WaitState w = m_live.wait_state(p.targets, p.request.ready);
        if (w.is == control::WaitState::Is::pending) return false;
        m_control->send(p.client,
                        w.is == control::WaitState::Is::reached
                            ? control::ok_reply(id, "\"reached\": true")
                            : control::ok_reply(id, fmt::format("\"reached\": false, \"why\": {}",
                                                                json_string(w.why))));
        return true;
    }
    std::string actors;
    for (std::size_t k = 0; k < p.targets.size(); ++k) {
        const control::LiveActor& l = m_live.at(p.targets[k]);
        const control::LiveActor* gone = m_live.ended_nursery_above(l.path);
        const bool ended = l.state == "ended";
        if (p.request.op == Op::stop) {
            if (!ended && !gone) return false;
        } else {
            if (!ended) p.moved[k] = true;
            const bool again = l.attempt > p.baseline[k];
            if (again && (runs(l.state) || (ended && l.outcome == "completed"))) {
                // running again
            } else if (gone || (ended && p.moved[k])) {
                const std::string why =
                    gone ? fmt::format("{} ended, and {} with it", gone->path, l.path)
                         : fmt::format("{} ended ({}) before it ran again", l.path,
                                       l.outcome.value_or("?"));
                m_control->send(p.client, control::error_reply(id, why));
                return true;
            } else {
                return false;
            }
        }
        actors += fmt::format("{}{{\"path\": {}, \"state\": {}, \"outcome\": {}, \"pid\": {}, "
                              "\"attempt\": {}}}",
                              actors.empty() ? "" : ", ", json_string(l.path), json_string(l.state),
                              l.outcome ? json_string(*l.outcome) : "null",
                              l.pid ? std::to_string(*l.pid) : "null", l.attempt);
    }
    m_control->send(p.client, control::ok_reply(id, "\"actors\": [" + actors + "]"));
    return true;
}

// The tree has ended: what is still pending can never be done; event
// clients get the summary; every client gets a moment to take its replies.
void Supervisor::control_finish(const report::Summary& summary) {
    if (!m_control) return;
    control_progress();
    for (const Pending& p : m_pending)
        m_control->send(p.client, control::error_reply(p.request.id, "the tree ended first",
                                                       "\"tree_ended\": true"));
    m_pending.clear();
    m_control->finish(report::jsonl_summary(summary), std::chrono::seconds(1));
    m_control.reset();
}

} // namespace forkspawn::supervise
