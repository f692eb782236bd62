// SPDX-License-Identifier: MIT
#include "forkspawn/sink.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace forkspawn {

Sink::Sink(int fd, std::string name) : m_fd(fd), m_name(std::move(name)) {
    m_terminal = ::isatty(fd) == 1;
    struct stat st;
    if (::fstat(fd, &st) < 0 || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) return;
    if (S_ISSOCK(st.st_mode)) {
        m_mode = Mode::socket;
        return;
    }
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    UniqueFd reopened(::open(self.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!reopened) {
        // A pipe whose reader already left cannot be reopened (ENXIO).
        if (errno == ENXIO && S_ISFIFO(st.st_mode)) m_error = EPIPE;
        return; // otherwise fall back to plain writes
    }
    // Some character devices (/dev/null) cannot be polled; writes to them
    // do not block anyway.
    UniqueFd probe(::epoll_create1(EPOLL_CLOEXEC));
    epoll_event ev{};
    if (!probe || ::epoll_ctl(probe.get(), EPOLL_CTL_ADD, reopened.get(), &ev) < 0) return;
    m_reopened = std::move(reopened);
    m_fd = m_reopened.get();
    m_mode = Mode::nonblocking;
}

void Sink::write(std::string_view text) {
    if (broken()) return;
    if (m_offset > 0 && m_offset == m_buffer.size()) {
        m_buffer.clear();
        m_offset = 0;
    }
    m_buffer.append(text);
    flush_some();
}

void Sink::flush_some() {
    while (!broken() && buffered() > 0) {
        const char* data = m_buffer.data() + m_offset;
        const std::size_t size = buffered();
        const ssize_t n = m_mode == Mode::socket
                              ? ::send(m_fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL)
                              : ::write(m_fd, data, size);
        if (n > 0) {
            m_offset += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        // EPIPE, or an error that writing again will not fix (ENOSPC, EIO);
        // a write of nothing for something is as final.
        m_error = n < 0 ? errno : EIO;
    }
    if (buffered() == 0) {
        m_buffer.clear();
        m_offset = 0;
    } else if (m_offset > (1u << 20)) {
        m_buffer.erase(0, m_offset);
        m_offset = 0;
    }
}

bool Sink::drain(std::chrono::milliseconds limit, std::chrono::milliseconds stall) {
    using Clock = std::chrono::steady_clock;
    const auto until = Clock::now() + limit;
    auto stalled_at = Clock::now() + stall;
    flush_some();
    while (!broken() && buffered() > 0) {
        const auto now = Clock::now();
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::min(until, stalled_at) - now);
        if (left.count() <= 0) return false;
        pollfd p{m_fd, POLLOUT, 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
        const std::size_t before = buffered();
        flush_some();
        if (buffered() < before) stalled_at = Clock::now() + stall;
    }
    return buffered() == 0;
}

std::size_t Sink::discard() {
    const std::size_t n = buffered();
    m_buffer.clear();
    m_offset = 0;
    return n;
}

} // namespace forkspawn
