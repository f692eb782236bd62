// SPDX-License-Identifier: MIT
// cgroup v2: one cgroup per run, made by forkspawn under the cgroup it was
// started in, and one below it per actor, so that a whole tree can be killed
// at once and its CPU time and memory peak read, whatever its processes did
// to escape (a double fork, a new session, a fork storm). The kernel's
// cgroup.kill (Linux 5.14) sends SIGKILL to every process of a cgroup and
// its descendants atomically with respect to fork: a process forked while
// the kill is under way is killed too, which no pid-by-pid sweep can promise.
//
// Only the unified (v2) hierarchy is used. Its mount point is found in
// /proc/self/mountinfo, never assumed: it is /sys/fs/cgroup on a pure v2
// system, /sys/fs/cgroup/unified on a hybrid one, and anywhere at all in a
// container. forkspawn only ever removes, kills or changes a cgroup it made
// itself; the cgroup it was started in is only a parent to make them in.
//
// Everything here except join() runs in the supervisor, may allocate, and
// returns failures as values (errno, or a reason for the user); nothing
// throws. join() is the child side of a fork.
#pragma once

#include "forkspawn/spawn_args.hpp"
#include "forkspawn/unique_fd.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace forkspawn::cgroup {

// --cgroup=auto|on|off: auto uses cgroups when unusable() finds nothing
// wrong and goes without them otherwise; on makes that an error; off never
// touches the hierarchy.
enum class Mode { automatic, on, off };
// "auto", "on" or "off"; nullopt for anything else.
std::optional<Mode> parse_mode(std::string_view text);
// The inverse of parse_mode: "auto", "on" or "off".
std::string_view mode_name(Mode m);

// Where this process stands in the unified (v2) hierarchy.
struct Where {
    // The absolute directory of this process's cgroup, without a trailing
    // slash: /sys/fs/cgroup/unified (the root of a hybrid layout),
    // /sys/fs/cgroup/user.slice/x.scope ... Empty when there is none.
    std::string dir;
    // When dir is empty: why, as a sentence fragment for the user (no
    // cgroup2 mount, no "0::" line, the cgroup was removed, or it lies
    // outside every cgroup2 mount).
    std::string why;
};

// Finds this process's cgroup directory from the text of
// /proc/self/mountinfo and /proc/self/cgroup (pure, for the unit tests).
// The cgroup2 mounts are the mountinfo lines whose file system type (the
// field after the lone "-") is cgroup2; their root and mount point fields
// are unescaped (the kernel writes a space as \040). The "0::" line of
// /proc/self/cgroup gives the path in the unified hierarchy, as seen from
// this process's cgroup namespace, like the mounts' root fields; a mount
// whose root is not "/" (a container that bind-mounts its own part of the
// host's hierarchy) shows the part of the hierarchy below that root, so the
// root is taken off the path. Of several cgroup2 mounts the first whose
// root contains the path is used.
Where locate(std::string_view mountinfo, std::string_view self_cgroup);
// The same from the real /proc/self/mountinfo and /proc/self/cgroup.
Where locate();

// Whether forkspawn can make and use cgroups under `dir`: nullopt when it
// can, otherwise the reason as a sentence fragment ("/sys/fs/cgroup/x is
// not writable: Permission denied (EACCES)"). Checked with
// faccessat(AT_EACCESS), so for this process's effective ids: `dir` must
// be writable (to mkdir the run's cgroup in it), and its cgroup.procs too,
// since moving a process into a cgroup below needs write access to the
// cgroup.procs of the common ancestor of where it is and where it goes.
// cgroup.kill must exist (Linux 5.14); the kernel never shows it in the
// root of the hierarchy, where the kernel release is checked instead. A
// threaded cgroup is refused: the cgroups below it can only hold threads.
std::optional<std::string> unusable(const std::string& dir);

// What the processes of a cgroup and its descendants used.
struct Usage {
    // cpu.stat's user_usec and system_usec, in milliseconds: cpu.stat has
    // them even where the cpu controller is not enabled.
    std::optional<double> cpu_user_ms, cpu_system_ms;
    // memory.peak (Linux 5.19): only where the memory controller is enabled
    // for the cgroup (in its parent's cgroup.subtree_control).
    std::optional<std::uint64_t> memory_peak_bytes;
};

// The "populated" field of the text of a cgroup.events file ("populated
// 1\nfrozen 0\n"): whether any process is in the cgroup or below it.
// nullopt when there is no such field or its value is not 0 or 1.
std::optional<bool> parse_populated(std::string_view events);
// The CPU times of the text of a cpu.stat file; a field whose line is
// missing or malformed stays empty (memory_peak_bytes always does).
Usage parse_cpu_stat(std::string_view cpu_stat);

// A cgroup directory, held by an O_DIRECTORY|O_CLOEXEC fd: every file of it
// is reached with openat() from that fd, never by path, so nothing outside
// it is touched even if the path now names something else. Either made here
// (make(): it may be killed, configured and removed) or merely opened
// (open_existing(): only a parent to make cgroups in). The destructor
// closes the fds and removes nothing: a cgroup still holding processes
// cannot be removed, and only the caller knows whether to kill them first.
class Cgroup {
  public:
    Cgroup() = default; // empty
    Cgroup(Cgroup&&) noexcept = default;
    Cgroup& operator=(Cgroup&&) noexcept = default;

    // mkdir of `name` (one path component: not empty, no '/', not "." nor
    // "..") in the directory open at `parent_fd`, whose path is
    // `parent_path` (for path() and messages only). A directory of that
    // name already there is an error (EEXIST): forkspawn only uses cgroups
    // it made. On failure: an empty Cgroup, and *err is the errno (EINVAL
    // for a bad name). The parent fd is duplicated, so remove() can rmdir
    // this cgroup by name in it, however long after the caller closed it.
    // With `hold_parent` false the parent fd is not kept (one fd less per
    // cgroup, for a tree of thousands): remove_in() with the parent then.
    static Cgroup make(int parent_fd, const std::string& parent_path, const std::string& name,
                       int* err, bool hold_parent = true);
    // Opens the absolute directory `path` (forkspawn's own cgroup, the
    // parent of the run's) to make() cgroups in. The result was not made
    // here: remove(), kill() and enable_controllers() refuse it, since the
    // cgroup forkspawn was started in holds forkspawn itself and may hold
    // processes that are none of its business. On failure an empty Cgroup,
    // *err the errno (EINVAL for a relative path).
    static Cgroup open_existing(const std::string& path, int* err);

    explicit operator bool() const { return static_cast<bool>(m_fd); }
    int fd() const { return m_fd.get(); }              // -1 when empty
    const std::string& path() const { return m_path; } // "" when empty
    bool made_here() const { return m_made_here; }

    // cgroup.procs, opened O_WRONLY|O_CLOEXEC (-1 in the UniqueFd with
    // errno on failure): a child moves itself in by writing "0" (join()).
    // The permission to move is checked against the credentials and cgroup
    // namespace of whoever opened the file, so it is opened here, before
    // the fork.
    UniqueFd open_procs() const;
    // cgroup.events, opened O_RDONLY|O_CLOEXEC, to wait on with poll
    // (POLLPRI) or epoll (EPOLLPRI): the file signals POLLPRI|POLLERR once
    // it changed since it was last read through that fd, so read it (pread
    // at 0) before each wait, then read it again when woken.
    UniqueFd open_events() const;
    // Reads cgroup.events: whether any process is in the cgroup or below.
    // nullopt when it cannot be read.
    std::optional<bool> populated() const;
    // Writes "1" to cgroup.kill: SIGKILL to every process in the cgroup and
    // below, atomically with respect to fork. 0, or -1 with errno (EPERM:
    // not made here or empty; ENOENT: a kernel older than 5.14).
    int kill() const;
    // Enables, in cgroup.subtree_control, each of "memory", "pids" and
    // "cpu" that cgroup.controllers offers, one at a time, so the cgroups
    // made below it get memory.peak and the like. Best effort: the names
    // enabled, space-separated ("" when none, or when not made here: a
    // cgroup holding processes of its own cannot enable any anyway).
    std::string enable_controllers() const;
    // cpu.stat and memory.peak (each field empty when its file is missing
    // or unreadable).
    Usage usage() const;
    // rmdir of this cgroup, if made here: 0 and the object is empty, or -1
    // with errno (EBUSY while it holds processes or has cgroups below it,
    // EPERM when not made here or empty).
    int remove();
    // The same, by name in `parent_fd`, which must be the directory it was
    // made in (a cgroup made without holding its parent).
    int remove_in(int parent_fd);

  private:
    UniqueFd m_fd;
    UniqueFd m_parent; // made here: the parent directory, to rmdir `m_name` in
    std::string m_path;
    std::string m_name;
    bool m_made_here = false;
};

// Removes the cgroup at `path` and every cgroup below it, deepest first,
// each by name through the fd of its parent: nothing outside `path` is
// followed or touched, and `path` must be on a cgroup2 file system (the
// guardian removes, after a kill, a path it was given). A cgroup whose
// processes the kernel is still tearing down refuses its rmdir (EBUSY);
// each is retried, waiting on its cgroup.events (never spinning) until it
// goes or `until` passes. Cgroups made below meanwhile are found and
// removed too. True when `path` is gone (also when it was already).
bool remove_tree(const std::string& path, std::chrono::steady_clock::time_point until);

// Child side, async-signal-safe (one raw write): moves the calling process
// into the cgroup whose cgroup.procs is open at `procs_fd` (open_procs()),
// by writing "0", its own pid as the kernel reads it. 0, or -1 with errno.
FORKSPAWN_CHILD_SIDE int join(int procs_fd) noexcept;

} // namespace forkspawn::cgroup
