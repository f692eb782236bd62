// The guardian: a tiny process forked before any thread exists, which
// outlives forkspawn by a moment if forkspawn is killed. PR_SET_PDEATHSIG
// takes every actor down with forkspawn, but not the actors' own children
// (`sh -c 'sleep 100 & wait'`): they would be orphaned to init. The guardian
// holds the read end of a pipe whose write end only forkspawn's processes
// have (forkspawn, its sub-supervisors, the mp_forkserver server; it is
// close-on-exec, so no actor has it); when the pipe reaches EOF — they all
// exited or were killed — it sends SIGKILL to every actor process group that
// is still registered, then exits. Whoever forks a group leader registers the
// group right after the fork and whoever reaps it retires it
// (guardian_protocol.hpp); stop() tells it that a normal exit kills nothing.
//
// A process that left its group (`setsid`, as daemons do) is not reached by
// that. start() therefore puts FORKSPAWN_TREE=<128 random bits> into
// forkspawn's environment, which every actor inherits (unless its spec says
// env_clear); after the group kills, the guardian sweeps /proc and SIGKILLs
// every process whose environment carries it.
#pragma once

#include "forkspawn/unique_fd.hpp"

#include <sys/types.h>
#include <utility>

namespace forkspawn::supervise {

// The variable that marks the tree's processes.
inline constexpr const char* k_tree_variable = "FORKSPAWN_TREE";

class Guardian {
  public:
    Guardian() = default;
    // Forks the guardian; call before any thread is started.
    static Guardian start();
    ~Guardian();
    Guardian(Guardian&& o) noexcept
        : m_pid(std::exchange(o.m_pid, -1)), m_pipe(std::move(o.m_pipe)) {}
    Guardian& operator=(Guardian&& o) noexcept {
        if (this != &o) {
            if (m_pid > 0) stop();
            m_pid = std::exchange(o.m_pid, -1);
            m_pipe = std::move(o.m_pipe);
        }
        return *this;
    }

    pid_t pid() const { return m_pid; }
    int fd() const { return m_pipe.get(); } // for guardian_notify
    // Closes the pipe and reaps the guardian (bounded wait).
    void stop();
    // The guardian was reaped by someone else (e.g. as an orphan).
    void reaped() { m_pid = -1; }

  private:
    pid_t m_pid = -1;
    UniqueFd m_pipe; // write end
};

} // namespace forkspawn::supervise
