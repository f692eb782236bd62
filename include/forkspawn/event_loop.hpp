// SPDX-License-Identifier: MIT
// The supervisor's one event loop: an epoll set whose entries carry a
// 64-bit tag, and a queue of timers served by one timerfd armed for the
// earliest (absolute CLOCK_MONOTONIC time, so no drift). Nothing here
// blocks except wait(), and only until an fd is ready or a timer is due.
#pragma once

#include "forkspawn/stop_machine.hpp" // Clock, TimePoint
#include "forkspawn/unique_fd.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <span>
#include <sys/epoll.h>
#include <utility>
#include <vector>

namespace forkspawn {

class EventLoop {
  public:
    // Creates the epoll set and the timer fd; the timer fd's events come
    // out of wait() with `timer_tag`. Throws on failure.
    void open(std::uint64_t timer_tag);

    // epoll_ctl ADD (throws on failure), MOD, DEL.
    void watch(int fd, std::uint64_t tag, std::uint32_t events);
    void rewatch(int fd, std::uint64_t tag, std::uint32_t events);
    void unwatch(int fd);

    // Waits for ready fds (a due timer makes the timer fd ready), at most
    // `timeout_ms` (-1: no limit). An interrupted wait returns nothing.
    // Throws if epoll_wait fails.
    std::span<const epoll_event> wait(int timeout_ms = -1);

    // A timer: `token` comes out of take_due() once `when` has passed.
    void add_timer(TimePoint when, std::uint64_t token);
    // The tokens of every timer due at `now`, earliest first, taken off
    // the queue; the timer fd is drained and armed for the next one.
    std::vector<std::uint64_t> take_due(TimePoint now);
    std::size_t timers() const { return m_timers.size(); }
    std::optional<TimePoint> next_timer() const;
    // Every timer `by` later (the process was stopped that long).
    void shift_timers(Duration by);

  private:
    UniqueFd m_epoll, m_timerfd;
    using Entry = std::pair<TimePoint, std::uint64_t>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> m_timers;
    std::optional<TimePoint> m_armed;
    epoll_event m_events[64]{};

    void arm();
};

} // namespace forkspawn
