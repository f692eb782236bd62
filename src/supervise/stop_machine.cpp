// SPDX-License-Identifier: MIT
#include "forkspawn/stop_machine.hpp"

#include <csignal>

namespace forkspawn {

int StopMachine::send(std::size_t step, TimePoint now) {
    m_step = step;
    const int signo = m_sequence.steps[step].signo;
    m_sent.push_back(signo);
    m_sent_at.push_back(now);
    if (!m_first_sent) m_first_sent = now;
    if (signo == SIGKILL) {
        m_state = State::killed;
        m_deadline.reset();
    } else {
        m_state = State::stopping;
        // From `now`, the moment this signal goes out, not from the deadline
        // that was due: a wait is the time the actor gets to act on the
        // signal. Counted from a deadline, a supervisor that was stopped or
        // starved past several deadlines would find them all due at once and
        // send their signals together (SIGINT with SIGKILL right after it).
        m_deadline = now + m_sequence.steps[step].wait;
    }
    return signo;
}

int StopMachine::begin(TimePoint now) {
    m_deadline.reset();
    return send(0, now);
}

std::optional<TimePoint> StopMachine::deadline() const {
    if (m_state != State::stopping) return std::nullopt;
    return m_deadline;
}

std::optional<int> StopMachine::on_deadline(TimePoint now) {
    if (m_state != State::stopping || !m_deadline || now < *m_deadline) return std::nullopt;
    return send(m_step + 1, now);
}

std::optional<int> StopMachine::kill_now(TimePoint now) {
    if (m_state == State::killed || m_state == State::exited) return std::nullopt;
    m_deadline.reset();
    m_step = m_sequence.steps.size() - 1; // the SIGKILL step
    return send(m_step, now);
}

void StopMachine::exited(TimePoint now) {
    if (m_state == State::killed) m_killed_before_exit = true;
    m_state = State::exited;
    m_deadline.reset();
    m_exited = now;
}

std::optional<Duration> StopMachine::exit_after() const {
    if (!m_first_sent || !m_exited) return std::nullopt;
    return *m_exited - *m_first_sent;
}

} // namespace forkspawn
