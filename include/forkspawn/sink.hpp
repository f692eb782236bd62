// SPDX-License-Identifier: MIT
// Where forkspawn's own output goes (the report on stdout, actor lines and
// logs on stderr) without ever blocking the event loop: writes are buffered
// and flushed when the fd is writable. A pipe or terminal is reopened through
// /proc/self/fd as a separate, non-blocking open file description, so the
// O_NONBLOCK flag is not forced on other processes sharing forkspawn's fd;
// a socket is written with MSG_DONTWAIT; a regular file is written directly
// (it never blocks for long). The first write error breaks the sink for good
// and is kept: EPIPE means the reader went away, anything else (ENOSPC, EIO)
// that the output is lost.
#pragma once

#include "forkspawn/unique_fd.hpp"

#include <cerrno>
#include <chrono>
#include <string>
#include <string_view>

namespace forkspawn {

class Sink {
  public:
    // `fd` stays open and owned by the caller; a reopened fd is owned here.
    // `name` says where the output goes, for messages ("stdout", a path).
    explicit Sink(int fd, std::string name = {});

    void write(std::string_view text); // buffers and tries to flush; never blocks
    void flush_some();                 // writes what the fd takes now
    // Writes everything, waiting for the fd up to `limit`, and giving up
    // sooner once the fd has taken nothing for `stall` (a reader that does
    // not read); used when nothing else is left to supervise. True when
    // everything was written.
    bool drain(std::chrono::milliseconds limit, std::chrono::milliseconds stall);
    bool drain(std::chrono::milliseconds limit) { return drain(limit, limit); }
    // Forgets what is buffered and returns how many bytes that was.
    std::size_t discard();

    std::size_t buffered() const { return m_buffer.size() - m_offset; }
    bool broken() const { return m_error != 0; }
    int error() const { return m_error; }                 // the errno that broke it, or 0
    bool reader_gone() const { return m_error == EPIPE; } // a closed pipe or socket
    void mark_broken(int err = EPIPE) {                   // the fd reported an error
        if (m_error == 0) m_error = err;
    }
    const std::string& name() const { return m_name; }
    int fd() const { return m_fd; }
    bool pollable() const { return m_mode != Mode::direct; }
    bool is_terminal() const { return m_terminal; }

  private:
    enum class Mode { direct, nonblocking, socket };
    int m_fd;
    UniqueFd m_reopened;
    Mode m_mode = Mode::direct;
    int m_error = 0;
    std::string m_name;
    bool m_terminal = false;
    std::string m_buffer;
    std::size_t m_offset = 0;
};

} // namespace forkspawn
