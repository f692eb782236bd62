// SPDX-License-Identifier: MIT
// The event loop's timer queue and epoll set: real fds, no sleeping (every
// timer is set in the past or far in the future).
#include "forkspawn/event_loop.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

using namespace forkspawn;
using namespace std::chrono_literals;

TEST_CASE("event loop: timers come out when due, earliest first, each once") {
    EventLoop loop;
    loop.open(99);
    const TimePoint t0 = Clock::now() - 10s; // already past: the timer fd fires at once
    loop.add_timer(t0 + 3s, 3);
    loop.add_timer(t0 + 1s, 1);
    loop.add_timer(t0 + 2s, 2);
    loop.add_timer(Clock::now() + 1h, 4);
    CHECK(loop.take_due(t0).empty()); // nothing is due early
    CHECK(loop.take_due(t0 + 2s) == std::vector<std::uint64_t>{1, 2});
    CHECK(loop.take_due(t0 + 2s).empty());
    CHECK(loop.timers() == 2);
    CHECK(loop.next_timer() == t0 + 3s);
    // A due timer makes the timer fd ready, tagged as asked.
    const auto events = loop.wait(5000);
    REQUIRE(events.size() == 1);
    CHECK(events[0].data.u64 == 99);
    CHECK(loop.take_due(Clock::now()) == std::vector<std::uint64_t>{3});
    // The one left is an hour away: nothing is ready.
    CHECK(loop.wait(0).empty());
}

TEST_CASE("event loop: fds come out with their tags, unwatched ones do not") {
    EventLoop loop;
    loop.open(1);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    loop.watch(fds[0], 7, EPOLLIN);
    CHECK(loop.wait(0).empty());
    REQUIRE(::write(fds[1], "x", 1) == 1);
    auto events = loop.wait(5000);
    REQUIRE(events.size() == 1);
    CHECK(events[0].data.u64 == 7);
    loop.rewatch(fds[0], 8, EPOLLIN);
    events = loop.wait(5000);
    REQUIRE(events.size() == 1);
    CHECK(events[0].data.u64 == 8);
    loop.unwatch(fds[0]);
    CHECK(loop.wait(0).empty());
    ::close(fds[0]);
    ::close(fds[1]);
}
