// SPDX-License-Identifier: MIT
// The fork boundary. SpawnArgs is everything a command child needs, prepared
// before fork() as raw pointers into storage that outlives the fork; the
// child only reads it. exec_child() is the whole child side: raw,
// async-signal-safe syscalls only (no allocation, no locks, no stdio), since
// the child of a multi-threaded process may not touch anything another thread
// could have held at the moment of fork(). A failure is written to the
// exec-error pipe as a ChildError and the child _exit(127)s; EOF on that pipe
// (close-on-exec) means execve succeeded.
#pragma once

#include <csignal>
#include <cstdint>

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <type_traits>

namespace forkspawn::backend {

struct SpawnArgs {
    const char* path = nullptr;  // program for execve, PATH already resolved
    char* const* argv = nullptr; // NULL-terminated
    char* const* envp = nullptr; // NULL-terminated
    const char* cwd = nullptr;   // nullptr: stay in forkspawn's directory
    int stdin_fd = -1;           // dup2'ed onto 0; -1 keeps forkspawn's
    int stdout_fd = -1;          // onto 1
    int stderr_fd = -1;          // onto 2
    pid_t parent_pid = 0;        // the supervisor, for the PDEATHSIG re-check
    int error_fd = -1;           // write end of the exec-error pipe
    int fd3 = -1;                // passed to the program as fd 3 (-1: none)
    int fd4 = -1;                // as fd 4
    int fd5 = -1;                // as fd 5
    int fd6 = -1;                // as fd 6
    // The write end of an actor's notification pipe (ready.fd), passed to
    // the program as fd notify_target (3 to 9). -1: none.
    int notify_fd = -1;
    int notify_target = -1;
    int guardian_fd = -1; // the guardian's pipe: the child registers its own group
    // Make the child's new process group the foreground group of the
    // terminal on fd 0 (tcsetpgrp), before anything of the program runs:
    // an actor with stdin "inherit" on forkspawn's terminal. Done in the
    // child, so the program never reads the terminal from the background
    // (SIGTTIN would stop it); allowed there because every signal is still
    // blocked (SIGTTOU included).
    bool take_terminal = false;
    // The actor's entry in the tree's page of started pids (StartedPage):
    // the child writes its pid there before anything else, so a supervisor
    // above learns that it started even if the one that forked it is killed
    // before it could say so. Null: none.
    std::int32_t* started_slot = nullptr;

    // The actor's cgroup.procs (open for writing): the child moves itself in
    // first of all, before it can fork anything. -1: no cgroup.
    int cgroup_procs_fd = -1;
    const char* cgroup_path = nullptr; // for messages only
    // Its process attributes (the spec's execution fields), set after its
    // fds are in place and in this order: resource limits, nice, umask,
    // supplementary groups, gid, uid (the ids last: the steps before may
    // need privileges the new ids do not have).
    struct Limit {
        int resource;
        std::uint64_t soft, hard;
    };
    static constexpr int k_max_limits = 16;
    Limit limits[k_max_limits]{};
    int limit_count = 0;
    bool set_nice = false;
    int nice = 0;
    int umask = -1;          // -1: forkspawn's
    bool set_groups = false; // setgroups(group_count, groups)
    const gid_t* groups = nullptr;
    int group_count = 0;
    bool set_gid = false;
    gid_t gid = 0;
    bool set_uid = false;
    uid_t uid = 0;
};
static_assert(std::is_trivially_destructible_v<SpawnArgs>);
static_assert(std::is_trivially_copyable_v<SpawnArgs>);

// What failed in the child, in the order it is done.
enum class ChildStage : int {
    process_group = 1,
    terminal,
    parent_death_signal,
    signals,
    stdin_setup,
    stdout_setup,
    stderr_setup,
    close_fds,
    pass_fds,
    notify_fd,
    chdir,
    exec,
    cgroup,
    rlimit, // which one: ChildError.detail
    nice,
    umask,
    setgroups,
    setgid,
    setuid,
};

struct ChildError {
    int stage = 0;  // a ChildStage
    int err = 0;    // errno
    int detail = 0; // the stage's subject where it has several (the RLIMIT_* of a rlimit)
};

// Raises this process's soft RLIMIT_NOFILE to the hard limit, so that
// thousands of actors fit, and records the soft limit it had: exec_child
// puts that back, so an actor gets the limit forkspawn was started with
// (programs that close every fd up to the limit, or use select(), expect a
// small one).
void raise_fd_limit() noexcept;
// Puts the recorded soft limit back (async-signal-safe): what exec_child
// does, and what a forkspawn helper does before it execs a fresh image that
// calls raise_fd_limit() again.
void restore_fd_limit() noexcept;

// "chdir /srv", "execute /usr/bin/x", "setuid 33" ... for messages.
std::string stage_text(ChildStage stage, const SpawnArgs& args, int detail = 0);

// The child side is never instrumented by AddressSanitizer: it may run on a
// borrowed stack in a vfork-style child (the trio backend), which ASan's
// stack bookkeeping cannot follow, and it only makes raw syscalls anyway.
#define FORKSPAWN_CHILD_SIDE __attribute__((no_sanitize("address")))

[[noreturn]] FORKSPAWN_CHILD_SIDE void exec_child(const SpawnArgs& args) noexcept;

// Marks every fd from `first` up close-on-exec (async-signal-safe): one
// close_range(CLOSE_RANGE_CLOEXEC) on Linux 5.11 and later; before that,
// each fd listed in /proc/self/fd. 0, or -1 with errno set.
FORKSPAWN_CHILD_SIDE int cloexec_fds_from(unsigned first) noexcept;
// Closes every fd from `first` up except `keep` (-1: none), for a child
// that does not exec (async-signal-safe): close_range on Linux 5.9 and
// later, each fd listed in /proc/self/fd before that. 0, or -1 with errno.
FORKSPAWN_CHILD_SIDE int close_fds_from(unsigned first, int keep = -1) noexcept;
// Whether this kernel has close_range(CLOSE_RANGE_CLOEXEC) (Linux 5.11);
// without it cloexec_fds_from needs /proc/self/fd.
bool close_range_cloexec_works() noexcept;

// ---- the set-up every child forkspawn makes shares ------------------------
// (async-signal-safe, on the child side of a fork; the guardian is spawned
// as a fresh image and needs none of it)

// One fd to put in place: `source` (-1: none) becomes fd `target` (< 10).
struct FdMove {
    int source = -1;
    int target = -1;
};
// Puts every source at its target: each is copied above 9 first
// (close-on-exec), then onto its target, so a source that is another's
// target is never lost (libuv's two-step). The targets keep close-on-exec
// with `keep_cloexec` (a child that runs on without exec), lose it without
// (they are for the program exec'd). The copies above 9 stay open,
// close-on-exec. False with errno on failure.
FORKSPAWN_CHILD_SIDE bool place_fds(const FdMove* moves, int count, bool keep_cloexec) noexcept;
// Dies with its parent (PR_SET_PDEATHSIG, SIGKILL; it fires when the thread
// that forked exits) and checks the parent did not die before: false when
// it did, or the call failed (errno 0 for the former).
FORKSPAWN_CHILD_SIDE bool die_with_parent(pid_t parent) noexcept;

// The whole set-up of a helper child forkspawn forks and that is not an
// actor: a sub-supervisor forked without exec, the mp_forkserver server.
// In order: its final signal mask (first, in one call: a supervised signal
// unblocked for a moment would kill it by its default action), its pid in
// its entry of the page of started pids, a process group of its own, death
// with its parent, its fds at 3.. and nothing else of the parent's (every
// other fd from 3 up is closed). _exit(1) when any step fails.
struct ChildSetup {
    const sigset_t* mask = nullptr;       // null: leave the mask as it is
    std::int32_t* started_slot = nullptr; // null: none
    pid_t parent_pid = 0;
    FdMove fds[4]{}; // targets from 3 up
    int fd_count = 0;
    bool keep_cloexec = true; // false: the fds are for an exec'd image
};
FORKSPAWN_CHILD_SIDE void setup_child(const ChildSetup& setup) noexcept;

} // namespace forkspawn::backend
