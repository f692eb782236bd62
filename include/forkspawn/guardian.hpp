// SPDX-License-Identifier: MIT
// The guardian: a tiny process (forkspawn's own image in a hidden mode),
// which outlives forkspawn by a moment if forkspawn is killed. PR_SET_PDEATHSIG
// takes every actor down with forkspawn, but not the actors' own children
// (`sh -c 'sleep 100 & wait'`): they would be orphaned to init. The guardian
// holds one end of a socket whose other end only forkspawn's processes
// have (forkspawn, its sub-supervisors, the mp_forkserver server; it is
// close-on-exec, so no actor has it); when the socket reaches EOF — they all
// exited or were killed — it sends SIGKILL to every actor process group that
// is still registered, then exits. Whoever forks a group leader registers the
// group right after the fork and whoever reaps it retires it
// (guardian_protocol.hpp); stop() tells it that a normal exit kills nothing.
//
// A process that left its group (`setsid`, as daemons do) is not reached by
// that. start() therefore puts FORKSPAWN_TREE=<128 random bits> (followed by
// the ids of the trees around it, when forkspawn runs inside one) into
// forkspawn's environment, which every actor inherits (unless its spec says
// env_clear); after the group kills, the guardian sweeps the tree
// (sweep.hpp). kill_tree() makes it do all that at once, without waiting for
// EOF: forkspawn's way out of an internal error.
#pragma once

#include "forkspawn/duration.hpp"
#include "forkspawn/unique_fd.hpp"

#include <string>
#include <sys/types.h>
#include <utility>

namespace forkspawn::supervise {

// How long the guardian's sweep may take before it gives up.
inline constexpr Duration k_guardian_sweep_limit = std::chrono::seconds(20);

class Guardian {
  public:
    Guardian() = default;
    // Forks the guardian; call before any thread is started. With
    // `cgroup_parent` (forkspawn's own cgroup, where the run's is made as
    // cgroup_name()), the guardian also kills and removes the run's cgroup
    // if forkspawn dies.
    static Guardian start(const std::string& cgroup_parent = {});
    ~Guardian();
    Guardian(Guardian&& o) noexcept
        : m_pid(std::exchange(o.m_pid, -1)), m_pipe(std::move(o.m_pipe)), m_id(std::move(o.m_id)),
          m_cgroup_parent(std::move(o.m_cgroup_parent)) {}
    Guardian& operator=(Guardian&& o) noexcept {
        if (this != &o) {
            if (m_pid > 0) stop();
            m_pid = std::exchange(o.m_pid, -1);
            m_pipe = std::move(o.m_pipe);
            m_id = std::move(o.m_id);
            m_cgroup_parent = std::move(o.m_cgroup_parent);
        }
        return *this;
    }

    pid_t pid() const { return m_pid; }
    int fd() const { return m_pipe.get(); } // for guardian_notify
    // Everything was reaped: tells the guardian nothing is to be killed,
    // closes the socket and reaps it (bounded wait).
    void stop();
    // The run failed: the guardian kills every registered group and sweeps
    // the tree now; waits for it until `until`. True when its sweep
    // finished with nothing left.
    bool kill_tree(TimePoint until) noexcept;
    // The tree's id, as in FORKSPAWN_TREE (see sweep.hpp).
    const std::string& id() const { return m_id; }
    // The name of the run's cgroup: "forkspawn-" and the tree's id.
    std::string cgroup_name() const { return "forkspawn-" + m_id; }
    // Its full path, for the guardian; empty without cgroups.
    std::string cgroup_path() const {
        return m_cgroup_parent.empty() ? std::string() : m_cgroup_parent + "/" + cgroup_name();
    }
    // The guardian was reaped by someone else (e.g. as an orphan).
    void reaped() { m_pid = -1; }
    // After its death: a new guardian on the same fd number, with the same
    // tree id. It knows no group yet: the caller registers them again.
    void restart();

  private:
    pid_t m_pid = -1;
    UniqueFd m_pipe; // forkspawn's end of the socket
    std::string m_id;
    std::string m_cgroup_parent;
};

// The hidden `forkspawn __guardian ID` mode: the guardian's image, its
// socket on fd 3. Returns its exit code.
// `cgroup`: the run's cgroup to kill and remove (none: nullptr).
int guardian_main(const char* id, const char* cgroup = nullptr);

} // namespace forkspawn::supervise
