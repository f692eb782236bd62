// SPDX-License-Identifier: MIT
#include "forkspawn/event_loop.hpp"

#include "forkspawn/sys.hpp"

#include <algorithm>
#include <cerrno>
#include <sys/timerfd.h>
#include <unistd.h>

namespace forkspawn {

void EventLoop::open(std::uint64_t timer_tag) {
    m_epoll = sys::make_epoll();
    m_timerfd = UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!m_timerfd) sys::fail("timerfd_create");
    watch(m_timerfd.get(), timer_tag, EPOLLIN);
}

void EventLoop::watch(int fd, std::uint64_t tag, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev) < 0) sys::fail("epoll_ctl(ADD)");
}

void EventLoop::rewatch(int fd, std::uint64_t tag, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    ::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::unwatch(int fd) {
    ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
}

std::span<const epoll_event> EventLoop::wait(int timeout_ms) {
    const int n =
        ::epoll_wait(m_epoll.get(), m_events, static_cast<int>(std::size(m_events)), timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return {};
        sys::fail("epoll_wait");
    }
    return {m_events, static_cast<std::size_t>(n)};
}

void EventLoop::add_timer(TimePoint when, std::uint64_t token) {
    m_timers.emplace(when, token);
    arm();
}

std::optional<TimePoint> EventLoop::next_timer() const {
    if (m_timers.empty()) return std::nullopt;
    return m_timers.top().first;
}

std::vector<std::uint64_t> EventLoop::take_due(TimePoint now) {
    std::uint64_t expirations;
    while (::read(m_timerfd.get(), &expirations, sizeof expirations) > 0) {
    }
    m_armed.reset();
    std::vector<std::uint64_t> due;
    while (!m_timers.empty() && m_timers.top().first <= now) {
        due.push_back(m_timers.top().second);
        m_timers.pop();
    }
    arm();
    return due;
}

void EventLoop::shift_timers(Duration by) {
    std::vector<Entry> all;
    all.reserve(m_timers.size());
    for (; !m_timers.empty(); m_timers.pop())
        all.emplace_back(m_timers.top().first + by, m_timers.top().second);
    for (auto& e : all)
        m_timers.push(e);
    m_armed.reset();
    arm();
}

void EventLoop::arm() {
    if (m_timers.empty()) return;
    const TimePoint next = m_timers.top().first;
    if (m_armed && *m_armed == next) return;
    m_armed = next;
    itimerspec spec{};
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(next.time_since_epoch()).count();
    // steady_clock is CLOCK_MONOTONIC on Linux; an absolute deadline has no
    // drift from the time spent computing it. 0 would disarm: use 1ns.
    spec.it_value.tv_sec = ns / 1'000'000'000;
    spec.it_value.tv_nsec = std::max<long>(ns % 1'000'000'000, spec.it_value.tv_sec ? 0 : 1);
    ::timerfd_settime(m_timerfd.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

} // namespace forkspawn
