// SPDX-License-Identifier: MIT
// The actor lifecycle table, driven by a fake clock: no sleeping, no process.
#include "forkspawn/lifecycle.hpp"

#include <csignal>
#include <doctest/doctest.h>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace forkspawn;
using namespace forkspawn::lifecycle;
using namespace std::chrono_literals;

namespace {

StopSequence seq(std::string_view text) {
    return *parse_stop_sequence(text, nullptr);
}
const TimePoint t0{std::chrono::seconds(1000)};

// "SIGTERM, 2s, SIGKILL": a grace of 2 s.
Lifecycle term_then_kill() {
    return Lifecycle(seq("SIGTERM,2s,SIGKILL"));
}

Lifecycle running_actor() {
    Lifecycle l = term_then_kill();
    l.apply(Event::start, t0);
    l.apply(Event::spawned, t0, /*exec_pending=*/true);
    l.apply(Event::exec_confirmed, t0);
    return l;
}

} // namespace

TEST_CASE("lifecycle: a run from waiting to ended, with the actions each step asks for") {
    Lifecycle l = term_then_kill();
    CHECK(l.state() == State::waiting);
    auto t = l.apply(Event::start, t0);
    CHECK(t.to == State::starting);
    CHECK(t.actions.submit);
    t = l.apply(Event::spawned, t0 + 1ms, true);
    CHECK(t.to == State::execing);
    CHECK(l.has_process());
    CHECK(l.apply(Event::exec_confirmed, t0 + 2ms).to == State::running);
    CHECK(l.apply(Event::ready, t0 + 3ms).to == State::ready);
    t = l.apply(Event::exited, t0 + 4ms);
    CHECK(t.to == State::ended);
    CHECK(t.actions.finish);
    CHECK_FALSE(l.cancelled());
    CHECK_FALSE(l.stop().started());
    // Whatever comes after the end means nothing: an exec-error pipe read
    // after the reap must not start a stop.
    for (Event e : {Event::exec_confirmed, Event::cancel, Event::kill, Event::deadline,
                    Event::exited, Event::spawned})
        CHECK(l.apply(e, t0 + 5ms).ignored);
    CHECK_FALSE(l.stop().started());
}

TEST_CASE("lifecycle: a backend that reports after execve goes straight to running") {
    Lifecycle l = term_then_kill();
    l.apply(Event::start, t0);
    CHECK(l.apply(Event::spawned, t0, false).to == State::running);
}

TEST_CASE("lifecycle: a cancel while waiting ends it at once, unstarted") {
    Lifecycle l = term_then_kill();
    const auto t = l.apply(Event::cancel, t0);
    CHECK(t.to == State::ended);
    CHECK(t.actions.finish);
    CHECK_FALSE(t.actions.signal);
    CHECK(l.cancelled());
    CHECK(l.apply(Event::start, t0).ignored); // never spawned after a cancel
}

TEST_CASE("lifecycle: a set-up failure before the backend had it ends it") {
    Lifecycle l = term_then_kill();
    l.apply(Event::start, t0);
    const auto t = l.apply(Event::spawn_failed, t0);
    CHECK(t.to == State::ended);
    CHECK(t.actions.finish);
}

TEST_CASE("lifecycle: running, cancelled: the stop sequence, never early, SIGKILL last") {
    Lifecycle l = running_actor();
    auto t = l.apply(Event::cancel, t0 + 10ms);
    CHECK(t.to == State::stopping);
    CHECK(t.actions.signal == SIGTERM);
    CHECK(l.deadline() == t0 + 10ms + 2s);
    CHECK(l.apply(Event::cancel, t0 + 20ms).ignored); // one cancel
    CHECK(l.apply(Event::deadline, t0 + 10ms + 2s - 1ms).ignored);
    t = l.apply(Event::deadline, t0 + 3s); // late is fine
    CHECK(t.to == State::killed);
    CHECK(t.actions.signal == SIGKILL);
    CHECK_FALSE(l.deadline());
    t = l.apply(Event::exited, t0 + 3s + 1ms);
    CHECK(t.to == State::ended);
    CHECK(l.stop().escalated());
    CHECK(l.stop().sent() == std::vector<int>{SIGTERM, SIGKILL});
}

TEST_CASE("lifecycle: kill during a stop sends SIGKILL at once (a second SIGINT)") {
    Lifecycle l = running_actor();
    l.apply(Event::cancel, t0);
    const auto t = l.apply(Event::kill, t0 + 1ms);
    CHECK(t.to == State::killed);
    CHECK(t.actions.signal == SIGKILL);
    CHECK(l.apply(Event::kill, t0 + 2ms).actions.signal == std::nullopt);
}

TEST_CASE("lifecycle: a stop sequence of SIGKILL alone kills on the cancel") {
    Lifecycle l(seq("SIGKILL"));
    l.apply(Event::start, t0);
    l.apply(Event::spawned, t0, false);
    const auto t = l.apply(Event::cancel, t0);
    CHECK(t.to == State::killed);
    CHECK(t.actions.signal == SIGKILL);
}

TEST_CASE("lifecycle: cancelled while being created, withdrawn from the backend") {
    Lifecycle l = term_then_kill();
    l.apply(Event::start, t0);
    auto t = l.apply(Event::cancel, t0);
    CHECK(t.to == State::cancelling_start);
    CHECK(t.actions.withdraw);
    CHECK(l.deadline() == t0 + 2s);
    t = l.apply(Event::withdrawn, t0 + 1ms);
    CHECK(t.to == State::ended);
    CHECK(t.actions.finish);
    CHECK_FALSE(l.stop().started());
}

TEST_CASE("lifecycle: cancelled while being created: the stop begins once execve succeeded") {
    Lifecycle l = term_then_kill();
    l.apply(Event::start, t0);
    l.apply(Event::cancel, t0);
    auto t = l.apply(Event::spawned, t0 + 1ms, true);
    CHECK(t.to == State::cancelling_start); // still not known whether it execs
    CHECK_FALSE(t.actions.signal);
    t = l.apply(Event::exec_confirmed, t0 + 2ms);
    CHECK(t.to == State::stopping);
    CHECK(t.actions.signal == SIGTERM);
}

TEST_CASE("lifecycle: cancelled before execve, and it never gets there: SIGKILL at the grace") {
    Lifecycle l = term_then_kill();
    l.apply(Event::start, t0);
    l.apply(Event::spawned, t0, true);
    auto t = l.apply(Event::cancel, t0 + 5ms);
    CHECK(t.to == State::cancelling_start);
    CHECK_FALSE(t.actions.signal); // a signal now would hit its set-up
    CHECK(l.deadline() == t0 + 5ms + 2s);
    CHECK(l.apply(Event::deadline, t0 + 2s).ignored); // never early
    t = l.apply(Event::deadline, t0 + 5ms + 2s);
    CHECK(t.to == State::killed);
    CHECK(t.actions.signal == SIGKILL);
    CHECK_FALSE(t.actions.kill_starting);
}

TEST_CASE("lifecycle: cancelled before execve, and execve fails: no stop, it exits on its own") {
    Lifecycle l = term_then_kill();
    l.apply(Event::start, t0);
    l.apply(Event::spawned, t0, true);
    l.apply(Event::cancel, t0);
    const auto t = l.apply(Event::exec_failed, t0 + 1ms);
    CHECK(t.to == State::exiting);
    CHECK_FALSE(t.actions.signal);
    CHECK(l.apply(Event::ready, t0 + 2ms).ignored);
    CHECK(l.apply(Event::cancel, t0 + 2ms).ignored);
    CHECK(l.apply(Event::exited, t0 + 3ms).to == State::ended);
    CHECK_FALSE(l.stop().started());
}

TEST_CASE("lifecycle: a child stuck in the backend is killed there, again if it was missed") {
    Lifecycle l = term_then_kill();
    l.apply(Event::start, t0);
    l.apply(Event::cancel, t0); // not withdrawn: being created
    auto t = l.apply(Event::deadline, t0 + 2s);
    CHECK(t.to == State::killed);
    CHECK(t.actions.kill_starting);
    CHECK_FALSE(t.actions.signal);
    t = l.apply(Event::kill_missed, t0 + 2s);
    CHECK(t.to == State::cancelling_start);
    CHECK(l.deadline() == t0 + 2s + Lifecycle::k_kill_retry);
    t = l.apply(Event::deadline, t0 + 2s + Lifecycle::k_kill_retry);
    CHECK(t.actions.kill_starting);
    // Reported once it died: then reaped.
    CHECK_FALSE(l.apply(Event::spawned, t0 + 3s, true).ignored);
    CHECK(l.state() == State::killed);
    CHECK(l.apply(Event::exited, t0 + 3s).to == State::ended);
    CHECK(l.stop().sent() == std::vector<int>{SIGKILL});
}

TEST_CASE("lifecycle: a missed kill of a child being created, then reported: SIGKILL by pid") {
    Lifecycle l = term_then_kill();
    l.apply(Event::start, t0);
    l.apply(Event::cancel, t0);
    l.apply(Event::deadline, t0 + 2s);
    l.apply(Event::kill_missed, t0 + 2s);
    const auto t = l.apply(Event::spawned, t0 + 2s, true);
    CHECK(t.to == State::killed);
    CHECK(t.actions.signal == SIGKILL);
    CHECK(l.apply(Event::exec_confirmed, t0 + 2s).ignored); // no stop sequence after a kill
    CHECK(l.stop().sent() == std::vector<int>{SIGKILL});
}

TEST_CASE("lifecycle: killed while being created: withdrawn, or killed in the backend at once") {
    for (const bool exec_pending : {true, false}) {
        CAPTURE(exec_pending);
        Lifecycle l = term_then_kill();
        l.apply(Event::start, t0);
        auto t = l.apply(Event::kill, t0); // a second SIGINT
        CHECK(t.to == State::killed);
        CHECK(t.actions.withdraw);
        CHECK(t.actions.kill_starting);
        // Not withdrawn: reported once killed, no stop sequence after it.
        t = l.apply(Event::spawned, t0 + 1ms, exec_pending);
        CHECK(t.to == State::killed);
        CHECK_FALSE(t.actions.signal);
        CHECK(l.apply(Event::exec_confirmed, t0 + 2ms).ignored);
        CHECK(l.stop().sent() == std::vector<int>{SIGKILL});
        CHECK(l.apply(Event::exited, t0 + 3ms).to == State::ended);
    }
    Lifecycle l = term_then_kill();
    l.apply(Event::start, t0);
    l.apply(Event::kill, t0);
    CHECK(l.apply(Event::withdrawn, t0).to == State::ended);
}

TEST_CASE("lifecycle: a kill while a cancelled start waits for the backend does not wait") {
    Lifecycle l = term_then_kill();
    l.apply(Event::start, t0);
    l.apply(Event::cancel, t0); // waits up to the grace for its execve
    const auto t = l.apply(Event::kill, t0 + 1ms);
    CHECK(t.to == State::killed);
    CHECK(t.actions.kill_starting);
    CHECK_FALSE(l.deadline());
}

TEST_CASE("lifecycle: a second SIGINT escalates a start that waits for its execve") {
    Lifecycle l = term_then_kill();
    l.apply(Event::start, t0);
    l.apply(Event::spawned, t0, true);
    l.apply(Event::cancel, t0);
    const auto t = l.apply(Event::kill, t0 + 1ms);
    CHECK(t.to == State::killed);
    CHECK(t.actions.signal == SIGKILL);
}

TEST_CASE("lifecycle: restarting waits its delay, never less, then waits for a start slot") {
    Lifecycle l = running_actor();
    auto t = l.apply(Event::exited, t0 + 1s, false, /*restart=*/true, 500ms);
    CHECK(t.to == State::restarting);
    CHECK(t.actions.finish);
    CHECK(l.deadline() == t0 + 1s + 500ms);
    CHECK(l.apply(Event::deadline, t0 + 1s + 499ms).ignored);
    t = l.apply(Event::deadline, t0 + 1s + 500ms);
    CHECK(t.to == State::waiting);
    CHECK_FALSE(l.cancelled());
    CHECK_FALSE(l.stop().started()); // a fresh stop sequence per attempt
    CHECK(l.apply(Event::start, t0 + 2s).actions.submit);
}

TEST_CASE("lifecycle: a cancel during the restart delay ends it at once") {
    Lifecycle l = running_actor();
    l.apply(Event::exited, t0, false, true, 10s);
    const auto t = l.apply(Event::cancel, t0 + 1ms);
    CHECK(t.to == State::ended);
    CHECK(t.actions.finish);
    CHECK_FALSE(t.actions.submit);
}

// Every state reachable from waiting, by any sequence of events at any
// time: one that waits on something outside the supervisor arms a
// deadline, or is the actor's own run and a cancel leads to a bounded state,
// or is killed (entered only by sending SIGKILL).
TEST_CASE("lifecycle: no reachable state can wait forever") {
    const std::vector<Event> events = {
        Event::start,        Event::spawned,   Event::exec_confirmed, Event::exec_failed,
        Event::spawn_failed, Event::withdrawn, Event::kill_missed,    Event::ready,
        Event::cancel,       Event::kill,      Event::deadline,       Event::exited,
        Event::main_exited};
    struct Node {
        Lifecycle life;
        TimePoint now;
        std::string path;
    };
    std::vector<Node> frontier{{term_then_kill(), t0, "waiting"}};
    std::set<State> seen{State::waiting};
    std::map<State, std::string> example{{State::waiting, "waiting"}};
    std::set<std::string> keys;
    int depth = 0;
    for (; !frontier.empty() && depth < 64; ++depth) {
        std::vector<Node> next;
        for (const auto& node : frontier) {
            for (Event e : events) {
                for (int variant = 0; variant < 2; ++variant) {
                    Node n = node;
                    // Time moves on past any deadline, or not at all.
                    if (variant == 1) n.now += 10s;
                    const bool flag = variant == 1;
                    const auto t = n.life.apply(e, n.now, flag, flag, 1s);
                    if (t.ignored) continue;
                    if (n.path.size() > 2000) n.path = "..." + n.path.substr(n.path.size() - 1000);
                    n.path += std::string(" -") + std::string(event_name(e)) + "-> " +
                              std::string(state_name(t.to));
                    INFO(n.path);
                    CHECK(t.to == n.life.state());
                    switch (wait_kind(t.to)) {
                    case Wait::deadline:
                        CHECK(n.life.deadline().has_value());
                        break;
                    case Wait::kernel:
                        CHECK((t.actions.kill_starting || t.actions.signal == SIGKILL ||
                               t.from == State::killed || e == Event::exec_failed));
                        break;
                    case Wait::actor: {
                        Lifecycle c = n.life;
                        const auto w = wait_kind(c.apply(Event::cancel, n.now).to);
                        CHECK((w == Wait::deadline || w == Wait::kernel || w == Wait::nothing));
                        break;
                    }
                    case Wait::supervisor: {
                        Lifecycle c = n.life;
                        CHECK(c.apply(Event::cancel, n.now).to == State::ended);
                        break;
                    }
                    case Wait::nothing:
                        CHECK(t.to == State::ended);
                        break;
                    }
                    if (seen.insert(t.to).second) example[t.to] = n.path;
                    // One node per distinct situation: the walk stays small.
                    const std::string key =
                        std::string(state_name(t.to)) + (n.life.has_process() ? "p" : "-") +
                        (n.life.cancelled() ? "c" : "-") +
                        std::to_string(static_cast<int>(n.life.stop().state())) +
                        std::to_string(n.life.stop().sent().size());
                    if (keys.insert(key).second) next.push_back(std::move(n));
                }
            }
        }
        frontier = std::move(next);
    }
    CHECK(frontier.empty()); // finitely many situations, all visited
    for (State s : k_all_states) {
        INFO(state_name(s));
        CHECK(seen.count(s) == 1); // every state is reachable
    }
}

TEST_CASE(
    "lifecycle: a main process reaped while its cgroup holds processes: emptying, then ended") {
    // It exited on its own: emptying arms the bound, cancels mean nothing,
    // and its end keeps what the attempt was (no stop began).
    Lifecycle l = running_actor();
    auto t = l.apply(Event::main_exited, t0 + 1s);
    CHECK(t.to == State::emptying);
    CHECK_FALSE(t.actions.finish);
    CHECK(l.deadline() == t0 + 1s + Lifecycle::k_empty_limit);
    CHECK(wait_kind(State::emptying) == Wait::deadline);
    CHECK(public_name(State::emptying) == "stopping");
    CHECK(l.apply(Event::cancel, t0 + 1s).ignored);
    CHECK(l.apply(Event::kill, t0 + 1s).ignored);
    CHECK(l.apply(Event::main_exited, t0 + 1s).ignored);
    CHECK_FALSE(l.cancelled());
    t = l.apply(Event::exited, t0 + 1s + 3ms);
    CHECK(t.to == State::ended);
    CHECK(t.actions.finish);
    CHECK_FALSE(l.stop().started());
    CHECK_FALSE(l.deadline());

    // Stopped first: the stop's record stays, and a restart is possible.
    l = running_actor();
    l.apply(Event::cancel, t0);
    CHECK(l.apply(Event::main_exited, t0 + 10ms).to == State::emptying);
    CHECK_FALSE(l.apply(Event::deadline, t0 + 2s).actions.signal); // no SIGKILL step from here
    t = l.apply(Event::exited, t0 + 20ms, false, /*restart=*/true, 100ms);
    CHECK(t.to == State::restarting);
    CHECK(l.stop().sent() == std::vector<int>{SIGTERM});
    CHECK(l.stop().exit_after() == 20ms);

    // Nothing to empty before a process exists, nor after the end.
    Lifecycle w = term_then_kill();
    CHECK(w.apply(Event::main_exited, t0).ignored);
}
