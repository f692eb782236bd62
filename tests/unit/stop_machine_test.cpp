// SPDX-License-Identifier: MIT
// The stop-sequence state machine, driven by a fake clock: no sleeping.
#include "forkspawn/stop_machine.hpp"

#include <csignal>
#include <doctest/doctest.h>

using namespace forkspawn;
using namespace std::chrono_literals;

namespace {
StopSequence seq(std::string_view text) {
    return *parse_stop_sequence(text, nullptr);
}
const TimePoint t0{std::chrono::seconds(1000)};
} // namespace

TEST_CASE("running until begin: nothing sent, no deadline") {
    StopMachine m(StopSequence::standard());
    CHECK(m.state() == StopMachine::State::running);
    CHECK_FALSE(m.started());
    CHECK_FALSE(m.deadline());
    CHECK_FALSE(m.on_deadline(t0 + 1h));
    CHECK(m.sent().empty());
    CHECK_FALSE(m.exit_after());
}

TEST_CASE("graceful stop: the actor exits before the deadline") {
    StopMachine m(StopSequence::standard());
    CHECK(m.begin(t0) == SIGTERM);
    CHECK(m.state() == StopMachine::State::stopping);
    CHECK(m.deadline() == t0 + 1600ms);
    CHECK_FALSE(m.on_deadline(t0 + 1599ms)); // never early
    m.exited(t0 + 250ms);
    CHECK(m.state() == StopMachine::State::exited);
    CHECK_FALSE(m.deadline());
    CHECK(m.sent() == std::vector<int>{SIGTERM});
    CHECK_FALSE(m.escalated());
    CHECK(m.exit_after() == Duration(250ms));
}

TEST_CASE("escalation: SIGKILL exactly when the last wait ends") {
    StopMachine m(StopSequence::standard());
    m.begin(t0);
    CHECK(m.on_deadline(t0 + 1600ms) == SIGKILL);
    CHECK(m.state() == StopMachine::State::killed);
    CHECK_FALSE(m.deadline());
    CHECK_FALSE(m.on_deadline(t0 + 1h)); // nothing after SIGKILL
    m.exited(t0 + 1601ms);
    CHECK(m.escalated());
    CHECK(m.sent() == std::vector<int>{SIGTERM, SIGKILL});
    CHECK(m.exit_after() == Duration(1601ms));
}

TEST_CASE("multi-step sequences: each wait is measured from the signal before it") {
    StopMachine m(seq("SIGINT,1s,SIGTERM,2s,SIGKILL"));
    CHECK(m.begin(t0) == SIGINT);
    CHECK(m.deadline() == t0 + 1s);
    // The timer fires 30ms late: SIGTERM still gets its full 2s.
    CHECK(m.on_deadline(t0 + 1030ms) == SIGTERM);
    CHECK(m.deadline() == t0 + 3030ms);
    CHECK_FALSE(m.on_deadline(t0 + 3029ms));
    CHECK(m.on_deadline(t0 + 3030ms) == SIGKILL);
    CHECK(m.sent() == std::vector<int>{SIGINT, SIGTERM, SIGKILL});
    REQUIRE(m.sent_at().size() == 3);
    CHECK(m.sent_at()[1] == t0 + 1030ms);
}

TEST_CASE("a deadline taken long after it passed sends one step, not every overdue one") {
    // The supervisor was stopped for 5s right after SIGTERM: both waits are
    // overdue when it resumes. SIGINT goes out then, and SIGKILL a full
    // wait after it, so the actor gets to act on SIGINT.
    StopMachine m(seq("SIGTERM,1s,SIGINT,1s,SIGKILL"));
    CHECK(m.begin(t0) == SIGTERM);
    CHECK(m.on_deadline(t0 + 5s) == SIGINT);
    CHECK(m.state() == StopMachine::State::stopping);
    CHECK(m.deadline() == t0 + 6s);
    CHECK_FALSE(m.on_deadline(t0 + 5s)); // the loop asks again at once: nothing is due
    CHECK_FALSE(m.on_deadline(t0 + 5999ms));
    CHECK(m.on_deadline(t0 + 6s) == SIGKILL);
    CHECK(m.sent() == std::vector<int>{SIGTERM, SIGINT, SIGKILL});
    CHECK(m.sent_at() == std::vector<TimePoint>{t0, t0 + 5s, t0 + 6s});
}

TEST_CASE("kill_now skips the remaining waits") {
    StopMachine m(seq("SIGTERM,30s,SIGKILL"));
    m.begin(t0);
    CHECK(m.kill_now(t0 + 5ms) == SIGKILL);
    CHECK(m.state() == StopMachine::State::killed);
    CHECK_FALSE(m.kill_now(t0 + 6ms)); // SIGKILL is sent once
    CHECK(m.sent() == std::vector<int>{SIGTERM, SIGKILL});

    StopMachine fresh(seq("SIGTERM,30s,SIGKILL")); // kill before any graceful step
    CHECK(fresh.kill_now(t0) == SIGKILL);
    CHECK(fresh.sent() == std::vector<int>{SIGKILL});
    CHECK(fresh.started());
}

TEST_CASE("a SIGKILL-only sequence kills at once") {
    StopMachine m(seq("SIGKILL"));
    CHECK(m.begin(t0) == SIGKILL);
    CHECK(m.state() == StopMachine::State::killed);
    CHECK_FALSE(m.deadline());
}

TEST_CASE("an exit after SIGKILL counts as escalated, an exit before does not") {
    StopMachine m(seq("SIGTERM,100ms"));
    m.begin(t0);
    m.exited(t0 + 99ms);
    CHECK_FALSE(m.escalated());
    CHECK_FALSE(m.on_deadline(t0 + 100ms)); // exited: nothing more is sent
    CHECK(m.sent() == std::vector<int>{SIGTERM});
}
