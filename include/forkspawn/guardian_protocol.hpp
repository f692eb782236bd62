// The guardian's wire format (see guardian.hpp): 8-byte messages on a pipe,
// atomic because they are shorter than PIPE_BUF, so any process holding the
// pipe's write end — the supervisor, its forkserver thread, the mp_forkserver
// process — can register a process group the moment it forks its leader.
#pragma once

#include <cerrno>
#include <sys/types.h>
#include <unistd.h>

namespace forkspawn {

struct GuardianMessage {
    // '+' watch the group, '-' forget it, '!' forget everything (normal
    // exit), 'K' kill everything now (forkspawn failed and waits for it)
    char op;
    pid_t pgid;
};

// Async-signal-safe; a failure (the guardian is gone) is ignored.
inline void guardian_notify(int fd, char op, pid_t pgid) noexcept {
    if (fd < 0) return;
    const GuardianMessage m{op, pgid};
    while (::write(fd, &m, sizeof m) < 0 && errno == EINTR) {
    }
}

} // namespace forkspawn
