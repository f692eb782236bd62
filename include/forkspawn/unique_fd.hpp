// SPDX-License-Identifier: MIT
// An owned file descriptor: closed exactly once, when the owner goes away.
// Every fd forkspawn opens is O_CLOEXEC from birth and lives in one of these.
#pragma once

#include <unistd.h>
#include <utility>

namespace forkspawn {

class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : m_fd(fd) {}
    UniqueFd(UniqueFd&& o) noexcept : m_fd(std::exchange(o.m_fd, -1)) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept {
        if (this != &o) reset(std::exchange(o.m_fd, -1));
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return m_fd; }
    explicit operator bool() const { return m_fd >= 0; }
    int release() { return std::exchange(m_fd, -1); }
    void reset(int fd = -1) {
        if (m_fd >= 0) ::close(m_fd); // close(2): never retry on EINTR on Linux
        m_fd = fd;
    }

  private:
    int m_fd = -1;
};

} // namespace forkspawn
