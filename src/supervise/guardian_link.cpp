// SPDX-License-Identifier: MIT
// The link to the guardian: every process group registered and
// unregistered in order, never blocking the loop; a dead guardian replaced.
#include "supervisor_impl.hpp"

#include <poll.h>

namespace forkspawn::supervise {

void Supervisor::tell_guardian(char op, pid_t pgid, std::uint64_t start) {
    if (m_guardian_fd < 0) return;
    m_guardian_outbox.push_back({op, pgid, start});
    flush_guardian();
}

void Supervisor::flush_guardian() {
    while (!m_guardian_outbox.empty()) {
        const GuardianMessage& m = m_guardian_outbox.front();
        if (!guardian_notify(m_guardian_fd, m.op, m.pgid, m.start)) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                m_guardian_outbox.clear(); // it is gone: guardian_died follows
                break;
            }
            if (!m_guardian_watched) watch(m_guardian_fd, make_tag(Tag::guardian), EPOLLOUT);
            m_guardian_watched = true;
            return;
        }
        m_guardian_outbox.pop_front();
    }
    if (m_guardian_watched) unwatch(m_guardian_fd);
    m_guardian_watched = false;
}

// At the end: what waits goes out if the guardian takes it within
// `limit`. A registration that is lost is harmless then: every actor
// was reaped, and the guardian kills a group only while its leader is
// the process that was registered.
void Supervisor::drain_guardian(std::chrono::milliseconds limit) {
    const TimePoint until = Clock::now() + limit;
    flush_guardian();
    while (!m_guardian_outbox.empty() && Clock::now() < until) {
        pollfd p{m_guardian_fd, POLLOUT, 0};
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        if (::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 1))) <= 0) break;
        flush_guardian();
    }
}

void Supervisor::guardian_died() {
    if (m_guardian_restarts == k_max_guardian_restarts) {
        log(0, "the guardian process died again; a kill -9 of forkspawn could now leave "
               "actors' children behind");
        return;
    }
    ++m_guardian_restarts;
    // What waits was for the dead one; the new one is told everything.
    if (m_guardian_watched) unwatch(m_guardian_fd);
    m_guardian_watched = false;
    m_guardian_outbox.clear();
    try {
        m_guardian.restart();
    } catch (const Error& e) {
        log(0, fmt::format("the guardian process died and no new one could be started ({}); "
                           "a kill -9 of forkspawn could now leave actors' children behind",
                           e.what()));
        return;
    }
    std::size_t groups = 0;
    for (const auto& a : m_actors)
        if (a.proc) {
            tell_guardian('+', a.pid);
            ++groups;
        }
    for (const auto& [pid, remote] : m_remote) {
        if (remote.start_ticks == 0) continue; // not provably that actor's
        tell_guardian('+', pid, remote.start_ticks);
        ++groups;
    }
    log(1, fmt::format("the guardian process died; started a new one (pid {}) and told it "
                       "{} process group(s)",
                       m_guardian.pid(), groups));
}

} // namespace forkspawn::supervise
