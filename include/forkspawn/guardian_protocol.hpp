// SPDX-License-Identifier: MIT
// The guardian's wire format (see guardian.hpp): fixed-size messages on a
// SOCK_SEQPACKET socket, one record each, so any process holding forkspawn's
// end — the supervisor, its forkserver thread, the mp_forkserver process —
// can register a process group the moment it forks its leader.
#pragma once

#include <cerrno>
#include <cstdint>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

namespace forkspawn {

struct GuardianMessage {
    // '+' watch the group, '-' forget it, '!' forget everything (normal
    // exit), 'K' kill everything now (forkspawn failed and waits for it)
    char op;
    pid_t pgid;
    // With '+': when the group's leader started (process_start_ticks), so
    // that a pid reused by another process after a lost '-' is never taken
    // for the leader; 0: the guardian reads it itself, which is right only
    // while the sender holds the leader unreaped.
    std::uint64_t start;
};

// Async-signal-safe, and never waits: a guardian that stopped reading (a
// SIGSTOPped one, its socket full) must not hold up a child before its
// execve, the forkserver thread, or a supervisor's event loop. False when
// the message was not sent: EAGAIN (full; the event loop queues it, see
// Supervisor::tell_guardian), or the guardian is gone (EPIPE, never a
// SIGPIPE: a child between fork and execve has its signals blocked, and a
// pending SIGPIPE would kill it when they are unblocked). A child's or a
// spawning thread's message that cannot go is dropped: the supervisor
// registers every group it is told of again, from its event loop.
inline bool guardian_notify(int fd, char op, pid_t pgid, std::uint64_t start = 0) noexcept {
    if (fd < 0) return true;
    const GuardianMessage m{op, pgid, start};
    ssize_t n;
    while ((n = ::send(fd, &m, sizeof m, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR) {
    }
    return n == static_cast<ssize_t>(sizeof m);
}

} // namespace forkspawn
