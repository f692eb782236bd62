// SPDX-License-Identifier: MIT
// A child process forkspawn holds: its pid and a pidfd, until it is reaped
// (systemd calls this a pidref). While the handle holds it, the process is
// unreaped, so its pid, and its process group id when it leads its group,
// cannot have been given to anyone else: that is the only time a signal by
// pid or by group id is sure to reach it and nothing else, and the only
// time this type lets one be sent. Once reaped (reap()), the handle is
// empty and can signal nothing.
#pragma once

#include "forkspawn/unique_fd.hpp"

#include <optional>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

namespace forkspawn {

// How a reaped process ended.
struct ExitStatus {
    std::optional<int> exit_code; // exited with this
    std::optional<int> signal;    // killed by this
    // What it used, with the descendants it waited for (the kernel's rusage
    // from waitid); none when the status was lost.
    std::optional<rusage> usage;
};

class ProcessHandle {
  public:
    ProcessHandle() = default;
    // `pid` must be an unreaped child of this process, `pidfd` its pidfd.
    ProcessHandle(pid_t pid, UniqueFd pidfd) : m_pid(pid), m_pidfd(std::move(pidfd)) {}

    explicit operator bool() const { return static_cast<bool>(m_pidfd); }
    pid_t pid() const { return m_pidfd ? m_pid : -1; }
    int fd() const { return m_pidfd.get(); } // readable once it exited (for epoll)

    // Signals the process itself (through the pidfd). 0, or -1 with errno.
    int signal(int signo) const;
    // Signals the process group whose id is its pid: the group it was
    // started in, with whatever it left there if it moved away. While the
    // process is unreaped no other group can have that id. -1 with errno
    // (ESRCH: empty handle, or no such group any more).
    int signal_group(int signo) const;
    // Whether it still leads its own process group (setpgid may have moved it).
    bool leads_group() const;
    // Its process group id now; -1 when empty or unknown.
    pid_t group() const;

    // Whether it has exited and waits to be reaped (nothing is reaped).
    bool exited() const;
    // Reaps it if it has exited: its status, and the handle is empty from
    // then on. nullopt: still running (or empty). A process reaped by
    // someone else (ECHILD) is reported as killed by SIGKILL, its status
    // lost, so that no caller waits for it for ever.
    std::optional<ExitStatus> reap(bool* lost = nullptr);
    // Gives it up without reaping (the process is someone else's to reap).
    void release() { m_pidfd.reset(); }

  private:
    pid_t m_pid = -1;
    UniqueFd m_pidfd;
};

} // namespace forkspawn
