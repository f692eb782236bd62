// SPDX-License-Identifier: MIT
// The lifecycle of one actor, as a state x event table. Pure: it never
// sends, spawns or reads a clock; it is told what happened and when, and
// answers with the actions the supervisor must carry out (hand the spawn to
// the backend, send a signal, arm a deadline, report the end). The
// supervisor's event loop drives it, a unit test drives it with a fake clock.
//
//   waiting ──start──▶ starting ──spawned──▶ execing ──exec confirmed──▶ running ──ready──▶ ready
//      │                  │   (spawned, exec known)────────────────────────▲
//      │cancel            │cancel / kill           │cancel                  │cancel (either)
//      ▼                  ▼                        ▼                        ▼
//    ended ◀──withdrawn── cancelling_start ──exec confirmed──────────────▶ stopping ──deadline──▶ …
//      ▲                       │deadline: SIGKILL                           │ SIGKILL
//      │                       ▼                                            ▼
//      └──────────exited────── killed ◀─────────────────────────────────────┘
//   execing / cancelling_start ──exec failed──▶ exiting ──exited──▶ ended
//   restarting ──deadline──▶ waiting      (entered from an exit the caller restarts)
//   ended / restarting ──revive──▶ waiting (ctl start / restart: a new attempt now)
//   (any state with a process) ──main exited──▶ emptying ──exited──▶ ended / restarting
//                                (its cgroup still holds processes, killed; bounded)
//
// Every state in which the actor waits for something outside the
// supervisor's control arms a deadline, or is the actor's own run (running,
// ready: bounded by its `timeout` when it has one), or waits only for the
// kernel to finish a SIGKILLed process (killed) or for forkspawn's own
// _exit(127) in a child whose execve failed (exiting). wait_kind() says which; a
// unit test enumerates the states and checks it.
#pragma once

#include "forkspawn/stop_machine.hpp"

#include <chrono>
#include <optional>
#include <string_view>

namespace forkspawn::lifecycle {

enum class State {
    waiting,          // not started yet: its start slot has not come
    starting,         // handed to the backend, its spawn not reported yet
    execing,          // spawned; whether its execve succeeds is not known yet
    running,          // running its program (or a sub-supervisor)
    ready,            // running, and said it is ready
    exiting,          // its execve failed: it exits (127) on its own
    cancelling_start, // cancelled while being created: stopped once it execs
    stopping,         // its stop sequence is under way
    killed,           // SIGKILL sent: only the kernel is left to finish it
    restarting,       // ended, and starts again when its delay is over
    ended,            // reaped (or never started): its report is out
    // Its main process was reaped, and what it left in its cgroup was
    // killed: it ends once the cgroup is empty (or its deadline passes).
    emptying,
};
inline constexpr State k_all_states[] = {State::waiting,          State::starting, State::execing,
                                         State::running,          State::ready,    State::exiting,
                                         State::cancelling_start, State::stopping, State::killed,
                                         State::restarting,       State::ended,    State::emptying};

enum class Event {
    start,          // its start slot came
    spawned,        // the backend reported the process (exec_pending says more)
    exec_confirmed, // execve succeeded (the exec-error pipe closed)
    exec_failed,    // the child failed before or at execve, and is exiting
    spawn_failed,   // no process was created (or it was killed at once)
    withdrawn,      // taken back from the backend before it was created
    kill_missed,    // the child being created was not in the backend's hands
    ready,          // it said it is ready
    cancel,         // stop it, with its stop sequence
    kill,           // stop it now (SIGKILL; a second SIGINT, a deaf sub-supervisor)
    deadline,       // a deadline it armed came (possibly late, never early)
    exited,         // it was reaped (and its cgroup, if any, is empty)
    main_exited,    // its main process was reaped, and its cgroup still holds processes
    revive,         // start it again now (ctl start, restart): from ended or restarting
};

// What a state waits for, which bounds how long it can last.
enum class Wait {
    nothing,    // ended: a final state
    supervisor, // only for events the supervisor itself makes (start, cancel)
    actor,      // the actor's own run: it ends when the actor does (or its timeout)
    deadline,   // a deadline is armed whenever the state is entered
    kernel,     // a SIGKILLed process's death
};

std::string_view state_name(State s);
// The name users see (the live dump, the control socket): waiting, starting,
// running, ready, stopping, restarting, ended.
std::string_view public_name(State s);
std::string_view event_name(Event e);
Wait wait_kind(State s);

// What the supervisor does after an event, in this order.
struct Actions {
    bool withdraw = false;      // take the spawn back from the backend if it can
    bool kill_starting = false; // SIGKILL the child being created (pid unknown yet)
    std::optional<int> signal;  // send it (0: a sub-supervisor's cancel message)
    bool submit = false;        // hand the spawn to the backend
    bool finish = false;        // it ended: reap bookkeeping done, report it
};

struct Transition {
    State from;
    State to;
    Actions actions;
    bool ignored = false; // the event means nothing in this state
};

class Lifecycle {
  public:
    // The grace a start that is cancelled waits for the execve (the stop
    // sequence's whole grace), and how soon a missed kill is tried again.
    static constexpr Duration k_kill_retry = std::chrono::milliseconds(20);
    // How long the processes left in an actor's cgroup, SIGKILLed when its
    // main process was reaped, may take to be gone before the actor is
    // reported anyway (a process in uninterruptible sleep).
    static constexpr Duration k_empty_limit = std::chrono::seconds(5);

    explicit Lifecycle(StopSequence stop) : m_stop(std::move(stop)) {}

    // Applies `e`, which happened at `now`. `exec_pending` (spawned only):
    // the execve is not confirmed yet. `restart` (exited only): the caller
    // restarts the actor after `restart_delay` instead of ending it.
    Transition apply(Event e, TimePoint now, bool exec_pending = false, bool restart = false,
                     Duration restart_delay = {});

    // An internal error: the supervisor has SIGKILLed everything and gives
    // up on the table; the actor is ended, whatever its state was.
    void abandon() noexcept { m_state = State::ended; }

    State state() const { return m_state; }
    // When the supervisor must send Event::deadline; nullopt: none armed.
    std::optional<TimePoint> deadline() const;
    // Whether a process exists (known pid) for the current attempt.
    bool has_process() const { return m_has_process; }
    const StopMachine& stop() const { return m_stop; }
    bool cancelled() const { return m_cancelled; }
    // Its deadlines come `by` later (the tree was stopped that long).
    void shift(Duration by) {
        if (m_deadline) *m_deadline += by;
        m_stop.shift(by);
    }

  private:
    State m_state = State::waiting;
    StopMachine m_stop;
    std::optional<TimePoint> m_deadline; // cancelling_start, restarting
    bool m_has_process = false;
    bool m_cancelled = false; // a cancel or kill came (before its end)

    Transition to(State next, Actions actions = {});
    Transition begin_stop(TimePoint now);
    Transition kill(TimePoint now);
};

} // namespace forkspawn::lifecycle
