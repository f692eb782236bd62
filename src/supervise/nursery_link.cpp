// SPDX-License-Identifier: MIT
// The nursery link: reports and lifecycle events travel up the tree, and
// the parent side of each sub-supervisor's channel.
#include "supervisor_impl.hpp"

namespace forkspawn::supervise {

void Supervisor::publish(const report::ActorReport& r) {
    if (!root()) {
        send_parent(channel::Reaped{r});
        return;
    }
    m_tree->reaped(r);
    if (wants_events()) emit_event(report::jsonl_reaped(r));
}

void Supervisor::publish_spawned(const std::string& path, report::Kind kind, pid_t pid,
                                 double started_ms, unsigned attempt) {
    if (!root()) {
        send_parent(
            channel::Spawned{path, kind, pid, started_ms, process_start_ticks(pid), attempt});
        return;
    }
    m_tree->spawned(path, pid, started_ms);
    if (wants_events()) emit_event(report::jsonl_spawned(path, pid, attempt, started_ms));
}

// An attempt below (or of our own actor) ended and will be restarted.
void Supervisor::publish_attempt_ended(const channel::AttemptEnded& m) {
    if (!root()) {
        send_parent(m);
        return;
    }
    if (!wants_events()) return;
    emit_event(report::jsonl_exited(m.path, m.attempt, m.status, m.outcome, m.ended_ms));
    emit_event(report::jsonl_restarting(m.path, m.attempt, m.delay_ms, m.ended_ms));
}

void Supervisor::send_parent(const channel::Up& message) {
    if (!m_parent || m_parent_gone) return;
    m_parent_outbox.push_back(channel::encode(message));
    flush_outbox(m_parent.get(), m_parent_outbox, make_tag(Tag::parent));
}

void Supervisor::send_child(ActorRun& a, const channel::Down& message) {
    if (!a.channel) return;
    a.outbox.push_back(channel::encode(message));
    flush_outbox(a.channel.get(), a.outbox,
                 make_tag(Tag::channel, static_cast<std::size_t>(&a - m_actors.data())));
}

// Sends queued datagrams until the socket is full; then waits for
// EPOLLOUT. Returns false when the peer is gone.
bool Supervisor::flush_outbox(int fd, std::deque<std::string>& outbox, std::uint64_t tag) {
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
    rewatch(fd, tag, outbox.empty() ? std::uint32_t{EPOLLIN} : std::uint32_t{EPOLLIN | EPOLLOUT});
    return true;
}

void Supervisor::on_channel(std::size_t i, std::uint32_t events) {
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
            // One that may be restarted is judged when it exits.
            if (!a.failed && !a.stop().started() && a.spec->restart == RestartPolicy::never) {
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
                publish_spawned(m.path, m.kind, m.pid, m.started_ms, m.attempt);
            else
                send_parent(m);
        },
        [&](const AttemptEnded& m) { publish_attempt_ended(m); }, // up, or streamed
        [&](const channel::Ready& m) { publish_ready(m); },
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
        [&](const Live& m) {
            if (root())
                live_update(m.actor);
            else
                send_parent(m);
        },
        [&](const Refused& m) {
            if (root())
                control_refused(m.id, m.error);
            else
                send_parent(m);
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
        log(1,
            fmt::format("{}: its sub-supervisor process closed the channel early", a.spec->path));
        a.failed = true;
        // Usually it is dying already (the socket closes before the
        // process is reaped); if it is still alive in a while, it is
        // deaf, and nothing is left but to kill it.
        a.deaf_due = Clock::now() + k_deaf_grace;
        add_timer(*a.deaf_due, TimerKind::deaf_nursery, i);
        if (a.spec->restart == RestartPolicy::never) nursery_failed(i);
    }
}

void Supervisor::dump_tree() {
    const TimePoint now = Clock::now();
    std::string out = fmt::format("forkspawn: live tree of {} (pid {}) at {:.1f}ms\n",
                                  m_nursery.path, ::getpid(), ms_since_start(now));
    for (const auto& a : m_actors) {
        const auto i = static_cast<std::size_t>(&a - m_actors.data());
        const bool has_source = a.spec->ready.source != Ready::Source::none;
        std::string state(lifecycle::public_name(a.state()));
        switch (a.state()) {
        case State::waiting:
            if (std::find(m_terminal_waiting.begin(), m_terminal_waiting.end(), i) !=
                m_terminal_waiting.end()) {
                state = "waiting for the terminal";
            } else if (!a.spec->after.empty() &&
                       std::find(m_blocked.begin(), m_blocked.end(), i) != m_blocked.end()) {
                std::string deps;
                for (const After& d : a.spec->after)
                    deps += fmt::format("{}{} {}", deps.empty() ? "" : ", ", d.sibling,
                                        after_condition_name(d.condition));
                state = "waiting for " + deps;
            }
            break;
        case State::running:
            if (has_source)
                state = fmt::format("running, not ready yet ({})",
                                    ready_source_name(a.spec->ready.source));
            break;
        case State::ready:
            if (!has_source) state = "running"; // ready as it started: nothing more to say
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
        else if (d && a.state() == State::restarting)
            out += fmt::format("  restart {} in {:.1f}ms", a.restarts, to_ms(*d - now));
        else if (d)
            out += fmt::format("  SIGKILL in {:.1f}ms", to_ms(*d - now));
        else if (a.ready_due && a.state() == State::running)
            out += fmt::format("  not ready in {:.1f}ms fails it", to_ms(*a.ready_due - now));
        else if ((a.state() == State::running || a.state() == State::ready) && a.spec->timeout &&
                 a.started)
            out += fmt::format("  timeout in {:.1f}ms", to_ms(*a.started + *a.spec->timeout - now));
        if (a.status_text) out += fmt::format("  status: {}", *a.status_text);
        out += '\n';
    }
    m_log_sink.write(out);
    after_write();
    // Each sub-supervisor prints its own part.
    for (auto& a : m_actors)
        if (a.nursery() && a.life.has_process()) send_child(a, channel::Dump{});
}

report::ActorReport Supervisor::make_report(const ActorRun& a) const {
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
    r.restarts = a.restarts;
    if (a.ready_at) r.ready_ms = ms_since_start(*a.ready_at);
    r.status_text = a.status_text;
    r.attempts.assign(a.attempts.begin(), a.attempts.end());
    r.attempts_dropped = a.attempts_dropped;
    r.usage = a.usage;
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
    // Its last lines when it failed (of its own) or was killed.
    if (!a.nursery() &&
        (a.outcome == Outcome::failed || a.outcome == Outcome::killed || own_failure(a)))
        r.output_tail = output_tail(a);
    return r;
}

} // namespace forkspawn::supervise
