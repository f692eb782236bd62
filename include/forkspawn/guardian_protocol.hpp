// The guardian's wire format (see guardian.hpp): 8-byte messages on a
// SOCK_SEQPACKET socket, one record each, so any process holding forkspawn's
// end — the supervisor, its forkserver thread, the mp_forkserver process —
// can register a process group the moment it forks its leader.
#pragma once

#include <cerrno>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

namespace forkspawn {

struct GuardianMessage {
    // '+' watch the group, '-' forget it, '!' forget everything (normal
    // exit), 'K' kill everything now (forkspawn failed and waits for it)
    char op;
    pid_t pgid;
};

// Async-signal-safe; a failure (the guardian is gone) is ignored, and
// never raises SIGPIPE (a child between fork and execve has its signals
// blocked, and a pending SIGPIPE would kill it when they are unblocked).
inline void guardian_notify(int fd, char op, pid_t pgid) noexcept {
    if (fd < 0) return;
    const GuardianMessage m{op, pgid};
    while (::send(fd, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

} // namespace forkspawn
