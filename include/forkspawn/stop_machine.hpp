// SPDX-License-Identifier: MIT
// The stop sequence of one actor as a state machine driven by the caller's
// clock: Running -> Stopping(step i, deadline) -> Killed -> Exited. It never
// sleeps and never sends anything itself; it says which signal to send and
// when the next deadline is, so the supervisor's event loop (or a unit test
// with a fake clock) drives it. Invariants: signals are returned in sequence
// order, one per deadline however late it is taken, SIGKILL is always the
// last one, and a deadline is never earlier than the step's configured wait
// after the time the previous signal was sent (each wait is a minimum).
#pragma once

#include "forkspawn/stop_sequence.hpp"

#include <chrono>
#include <optional>
#include <vector>

namespace forkspawn {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

class StopMachine {
  public:
    enum class State { running, stopping, killed, exited };

    explicit StopMachine(StopSequence sequence) : m_sequence(std::move(sequence)) {}

    // Starts the sequence; returns the first signal to send now.
    // Only valid in State::running.
    int begin(TimePoint now);
    // When the current wait ends; nullopt unless stopping.
    std::optional<TimePoint> deadline() const;
    // The deadline has passed (now >= deadline): returns the next signal to
    // send now, or nullopt when nothing is due yet. The next deadline is
    // then counted from `now`.
    std::optional<int> on_deadline(TimePoint now);
    // Skips the remaining waits: returns SIGKILL unless it was already sent.
    std::optional<int> kill_now(TimePoint now);
    // The process exited (was reaped).
    void exited(TimePoint now);
    // The current wait ends `by` later (the tree was stopped that long).
    void shift(Duration by) {
        if (m_deadline) *m_deadline += by;
    }

    State state() const { return m_state; }
    bool started() const { return m_first_sent.has_value(); }
    const std::vector<int>& sent() const { return m_sent; }
    bool escalated() const { return m_state == State::killed || m_killed_before_exit; }
    // From the first stop signal to the exit; nullopt unless both happened.
    std::optional<Duration> exit_after() const;
    // When each signal was sent, parallel to sent().
    const std::vector<TimePoint>& sent_at() const { return m_sent_at; }
    const StopSequence& sequence() const { return m_sequence; }

  private:
    StopSequence m_sequence;
    State m_state = State::running;
    std::size_t m_step = 0; // index of the step whose signal was sent last
    std::optional<TimePoint> m_deadline;
    std::optional<TimePoint> m_first_sent;
    std::optional<TimePoint> m_exited;
    std::vector<int> m_sent;
    std::vector<TimePoint> m_sent_at;
    bool m_killed_before_exit = false;

    int send(std::size_t step, TimePoint now);
};

} // namespace forkspawn
