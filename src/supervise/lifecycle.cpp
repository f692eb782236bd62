// SPDX-License-Identifier: MIT
#include "forkspawn/lifecycle.hpp"

#include <csignal>

namespace forkspawn::lifecycle {

std::string_view state_name(State s) {
    switch (s) {
    case State::waiting:
        return "waiting";
    case State::starting:
        return "starting";
    case State::execing:
        return "execing";
    case State::running:
        return "running";
    case State::ready:
        return "ready";
    case State::exiting:
        return "exiting";
    case State::cancelling_start:
        return "cancelling_start";
    case State::stopping:
        return "stopping";
    case State::killed:
        return "killed";
    case State::restarting:
        return "restarting";
    case State::ended:
        return "ended";
    case State::emptying:
        return "emptying";
    }
    return "?";
}

std::string_view public_name(State s) {
    switch (s) {
    case State::execing:
    case State::exiting:
        return "starting";
    case State::cancelling_start:
    case State::emptying:
    case State::killed:
        return "stopping";
    default:
        return state_name(s);
    }
}

std::string_view event_name(Event e) {
    switch (e) {
    case Event::start:
        return "start";
    case Event::spawned:
        return "spawned";
    case Event::exec_confirmed:
        return "exec_confirmed";
    case Event::exec_failed:
        return "exec_failed";
    case Event::spawn_failed:
        return "spawn_failed";
    case Event::withdrawn:
        return "withdrawn";
    case Event::kill_missed:
        return "kill_missed";
    case Event::ready:
        return "ready";
    case Event::cancel:
        return "cancel";
    case Event::kill:
        return "kill";
    case Event::deadline:
        return "deadline";
    case Event::exited:
        return "exited";
    case Event::main_exited:
        return "main_exited";
    case Event::revive:
        return "revive";
    }
    return "?";
}

Wait wait_kind(State s) {
    switch (s) {
    case State::ended:
        return Wait::nothing;
    case State::waiting:
        return Wait::supervisor;
    // Its own setup until execve: a cancel moves it to cancelling_start,
    // which has a deadline.
    case State::starting:
    case State::execing:
    case State::running:
    case State::ready:
        return Wait::actor;
    case State::cancelling_start:
    case State::stopping:
    case State::emptying:
    case State::restarting:
        return Wait::deadline;
    case State::exiting: // only forkspawn's own _exit(127) is left in the child
    case State::killed:
        return Wait::kernel;
    }
    return Wait::nothing;
}

std::optional<TimePoint> Lifecycle::deadline() const {
    switch (m_state) {
    case State::stopping:
        return m_stop.deadline();
    case State::cancelling_start:
    case State::emptying:
    case State::restarting:
        return m_deadline;
    default:
        return std::nullopt;
    }
}

Transition Lifecycle::to(State next, Actions actions) {
    Transition t{m_state, next, actions};
    m_state = next;
    if (next != State::cancelling_start && next != State::restarting && next != State::emptying)
        m_deadline.reset();
    return t;
}

// The first step of the stop sequence (a sequence of SIGKILL alone kills).
Transition Lifecycle::begin_stop(TimePoint now) {
    const int signo = m_stop.begin(now);
    Actions a;
    a.signal = signo;
    return to(signo == SIGKILL ? State::killed : State::stopping, a);
}

Transition Lifecycle::kill(TimePoint now) {
    Actions a;
    if (m_has_process) {
        a.signal = m_stop.kill_now(now);
    } else {
        // Not reported yet: the backend kills the child it is creating.
        m_stop.kill_now(now);
        a.kill_starting = true;
    }
    return to(State::killed, a);
}

Transition Lifecycle::apply(Event e, TimePoint now, bool exec_pending, bool restart,
                            Duration restart_delay) {
    const Transition ignored{m_state, m_state, {}, true};
    if (e == Event::cancel && m_cancelled) return ignored; // one cancel per attempt; kill escalates
    // Emptying, everything of the attempt is dead or dying already: nothing
    // is left to cancel.
    if ((e == Event::cancel || e == Event::kill) && m_state == State::emptying) return ignored;
    if ((e == Event::cancel || e == Event::kill) && m_state != State::ended) m_cancelled = true;
    if (e == Event::main_exited && m_has_process && m_state != State::ended &&
        m_state != State::restarting && m_state != State::emptying) {
        m_deadline = now + k_empty_limit;
        return to(State::emptying);
    }
    // The end of the attempt, wherever it is: reaped, or never created.
    if (e == Event::exited && m_has_process && m_state != State::ended &&
        m_state != State::restarting) {
        m_stop.exited(now);
        m_has_process = false;
        if (restart) {
            m_deadline = now + restart_delay;
            return to(State::restarting, Actions{.finish = true});
        }
        return to(State::ended, Actions{.finish = true});
    }
    switch (m_state) {
    case State::waiting:
        switch (e) {
        case Event::start:
            return to(State::starting, Actions{.submit = true});
        case Event::spawn_failed: // its set-up failed before the backend had it
        case Event::cancel:
        case Event::kill:
            return to(State::ended, Actions{.finish = true});
        default:
            return ignored;
        }
    case State::starting:
        switch (e) {
        case Event::spawned:
            m_has_process = true;
            return to(exec_pending ? State::execing : State::running);
        case Event::spawn_failed:
            return to(State::ended, Actions{.finish = true});
        case Event::cancel:
            m_deadline = now + m_stop.sequence().grace();
            return to(State::cancelling_start, Actions{.withdraw = true});
        case Event::kill: { // withdrawn if it can be, else killed in the backend
            Transition t = kill(now);
            t.actions.withdraw = true;
            return t;
        }
        default:
            return ignored;
        }
    case State::execing:
        switch (e) {
        case Event::exec_confirmed:
            return to(State::running);
        case Event::exec_failed:
            return to(State::exiting);
        case Event::cancel:
            // A signal now would hit the child's setup, not its program,
            // and turn a spawn failure into a cancel: the stop begins once
            // execve is known to have succeeded, or with SIGKILL when the
            // stop sequence's whole grace has passed (a chdir on a dead
            // mount, a stop signal before its setpgid).
            m_deadline = now + m_stop.sequence().grace();
            return to(State::cancelling_start);
        case Event::kill:
            return kill(now);
        default:
            return ignored;
        }
    case State::running:
    case State::ready:
        switch (e) {
        case Event::ready:
            return m_state == State::running ? to(State::ready) : ignored;
        case Event::cancel:
            return begin_stop(now);
        case Event::kill:
            return kill(now);
        default:
            return ignored;
        }
    case State::cancelling_start:
        switch (e) {
        case Event::withdrawn:
        case Event::spawn_failed:
            return to(State::ended, Actions{.finish = true});
        case Event::spawned:
            m_has_process = true;
            if (m_stop.started()) {
                // A kill of the child being created missed it (it was being
                // reported): now it has a pid to be killed by.
                Actions a;
                a.signal = SIGKILL;
                return to(State::killed, a);
            }
            return exec_pending ? Transition{m_state, m_state, {}} : begin_stop(now);
        case Event::exec_confirmed:
            if (!m_has_process || m_stop.started()) return ignored;
            return begin_stop(now);
        case Event::exec_failed: // exits on its own (127), no stop
            if (!m_has_process || m_stop.started()) return ignored;
            return to(State::exiting);
        case Event::kill:
            return kill(now);
        case Event::deadline:
            if (!m_deadline || now < *m_deadline) return ignored; // never early
            return kill(now);
        default:
            return ignored;
        }
    case State::exiting:
        return e == Event::kill ? kill(now) : ignored;
    case State::stopping:
        switch (e) {
        case Event::deadline: {
            const auto signo = m_stop.on_deadline(now);
            if (!signo) return ignored;
            Actions a;
            a.signal = signo;
            return to(*signo == SIGKILL ? State::killed : State::stopping, a);
        }
        case Event::kill: {
            Actions a;
            a.signal = m_stop.kill_now(now);
            return to(State::killed, a);
        }
        default:
            return ignored;
        }
    case State::killed:
        switch (e) {
        case Event::spawned: // the child being created that was killed
            m_has_process = true;
            return {m_state, m_state, {}};
        case Event::withdrawn:
        case Event::spawn_failed:
            if (m_has_process) return ignored;
            return to(State::ended, Actions{.finish = true});
        case Event::kill_missed:
            // It was between the backend's hands (taken from its queue, or
            // reported and not taken yet): try again shortly.
            if (m_has_process) return ignored;
            m_deadline = now + k_kill_retry;
            return to(State::cancelling_start);
        default:
            return ignored;
        }
    case State::restarting:
        switch (e) {
        case Event::deadline:
            if (!m_deadline || now < *m_deadline) return ignored;
            [[fallthrough]];
        case Event::revive:
            m_stop = StopMachine(m_stop.sequence());
            m_cancelled = false;
            return to(State::waiting);
        case Event::cancel:
        case Event::kill:
            return to(State::ended, Actions{.finish = true});
        default:
            return ignored;
        }
    case State::ended:
        if (e != Event::revive) return ignored;
        m_stop = StopMachine(m_stop.sequence());
        m_cancelled = false;
        return to(State::waiting);
    case State::emptying: // only exited ends it (above); its deadline is the caller's to act on
        return ignored;
    }
    return ignored;
}

} // namespace forkspawn::lifecycle
