// SPDX-License-Identifier: MIT
// The child side of fork() for command actors. See spawn_args.hpp for the
// rules; every call below is async-signal-safe (signal-safety(7)).
#include "forkspawn/spawn_args.hpp"

#include "forkspawn/guardian_protocol.hpp"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace forkspawn::backend {

namespace {

// The fd limit actors get; set once, before any thread or child exists.
rlimit g_actor_fd_limit{};
bool g_restore_fd_limit = false;

[[noreturn]] FORKSPAWN_CHILD_SIDE void report_and_exit(int error_fd, ChildStage stage, int err,
                                                       int detail = 0) noexcept {
    const ChildError e{static_cast<int>(stage), err, detail};
    // One write of 8 bytes to a pipe is atomic (PIPE_BUF); if the parent is
    // gone there is nobody to tell.
    while (::write(error_fd, &e, sizeof e) < 0 && errno == EINTR) {
    }
    ::_exit(127);
}

// The process attributes of SpawnArgs, in their order; raw syscalls, since
// glibc's setuid and friends signal every thread of the process to change
// them all (a vfork-style child shares the supervisor's thread list), and
// this child is one thread that must change only itself.
FORKSPAWN_CHILD_SIDE void apply_attributes(const SpawnArgs& a) noexcept {
    for (int k = 0; k < a.limit_count; ++k) {
        const rlimit64 lim{a.limits[k].soft, a.limits[k].hard};
        if (::syscall(SYS_prlimit64, 0, a.limits[k].resource, &lim, nullptr) < 0)
            report_and_exit(a.error_fd, ChildStage::rlimit, errno, a.limits[k].resource);
    }
    if (a.set_nice && ::syscall(SYS_setpriority, PRIO_PROCESS, 0, a.nice) < 0)
        report_and_exit(a.error_fd, ChildStage::nice, errno);
    if (a.umask >= 0) ::syscall(SYS_umask, a.umask);
    if (a.set_groups && ::syscall(SYS_setgroups, a.group_count, a.groups) < 0)
        report_and_exit(a.error_fd, ChildStage::setgroups, errno);
    if (a.set_gid && ::syscall(SYS_setresgid, a.gid, a.gid, a.gid) < 0)
        report_and_exit(a.error_fd, ChildStage::setgid, errno);
    if (a.set_uid && ::syscall(SYS_setresuid, a.uid, a.uid, a.uid) < 0)
        report_and_exit(a.error_fd, ChildStage::setuid, errno);
}

FORKSPAWN_CHILD_SIDE bool move_fd(int from, int to) noexcept {
    if (from < 0) return true;
    if (from == to) {
        // dup2 to itself keeps O_CLOEXEC set; clear it so the fd survives exec.
        return ::fcntl(to, F_SETFD, 0) == 0;
    }
    while (::dup2(from, to) < 0) {
        if (errno != EINTR) return false;
    }
    return true;
}

// What the /proc/self/fd fallback does to each fd it finds.
enum class FdAction { cloexec, close };

// Applies `action` to every fd from `first` up but `keep`, as listed by
// /proc/self/fd: the way to reach every open fd, whatever the fd limit,
// before close_range. Raw getdents64 into a buffer on the stack, since
// opendir/readdir allocate (glibc's closefrom fallback reads the directory
// the same way). Closing an fd already listed does not move the listing
// (/proc/PID/fd is read by fd number), and a pass that closes something is
// followed by another, until one finds nothing left to do.
FORKSPAWN_CHILD_SIDE int each_fd_from(unsigned first, int keep, FdAction action) noexcept {
    const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return -1;
    bool again = true;
    while (again) {
        again = false;
        if (::lseek(dir, 0, SEEK_SET) < 0) break;
        alignas(8) char buf[1024];
        long n;
        while ((n = ::syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
            for (long pos = 0; pos < n;) {
                // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
                unsigned short reclen;
                __builtin_memcpy(&reclen, buf + pos + 16, sizeof reclen);
                const char* name = buf + pos + 19;
                pos += reclen;
                if (*name < '0' || *name > '9') continue; // "." and ".."
                unsigned fd = 0;
                for (; *name >= '0' && *name <= '9'; ++name)
                    fd = fd * 10 + static_cast<unsigned>(*name - '0');
                if (fd < first || static_cast<int>(fd) == keep || static_cast<int>(fd) == dir)
                    continue;
                if (action == FdAction::cloexec) {
                    if (::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC) < 0 && errno != EBADF) {
                        ::close(dir);
                        return -1;
                    }
                } else {
                    ::close(static_cast<int>(fd));
                    again = true;
                }
            }
        }
        if (n < 0) {
            const int err = errno;
            ::close(dir);
            errno = err;
            return -1;
        }
    }
    ::close(dir);
    return 0;
}

} // namespace

FORKSPAWN_CHILD_SIDE int cloexec_fds_from(unsigned first) noexcept {
    if (::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
    // EINVAL: Linux 5.9 or 5.10 (close_range without CLOSE_RANGE_CLOEXEC);
    // ENOSYS: before 5.9. Anything else is a real failure.
    if (errno != EINVAL && errno != ENOSYS) return -1;
    return each_fd_from(first, -1, FdAction::cloexec);
}

FORKSPAWN_CHILD_SIDE int close_fds_from(unsigned first, int keep) noexcept {
    long r = 0;
    if (keep < static_cast<int>(first)) {
        r = ::syscall(SYS_close_range, first, ~0U, 0U);
    } else {
        const auto k = static_cast<unsigned>(keep);
        if (k > first) r = ::syscall(SYS_close_range, first, k - 1, 0U);
        if (r == 0) r = ::syscall(SYS_close_range, k + 1, ~0U, 0U);
    }
    if (r == 0) return 0;
    if (errno != ENOSYS) return -1; // close_range itself: Linux 5.9
    return each_fd_from(first, keep, FdAction::close);
}

bool close_range_cloexec_works() noexcept {
    // On the two highest fd numbers, which no process can have open (the
    // kernel caps fds far below): nothing is touched, only the flag is
    // checked.
    return ::syscall(SYS_close_range, ~0U - 1, ~0U, CLOSE_RANGE_CLOEXEC) == 0;
}

void raise_fd_limit() noexcept {
    rlimit lim;
    if (::getrlimit(RLIMIT_NOFILE, &lim) < 0 || lim.rlim_cur >= lim.rlim_max) return;
    g_actor_fd_limit = lim;
    g_restore_fd_limit = true;
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) < 0) g_restore_fd_limit = false;
}

FORKSPAWN_CHILD_SIDE void restore_fd_limit() noexcept {
    // Lowering a soft limit cannot fail.
    if (g_restore_fd_limit) ::setrlimit(RLIMIT_NOFILE, &g_actor_fd_limit);
}

FORKSPAWN_CHILD_SIDE bool place_fds(const FdMove* moves, int count, bool keep_cloexec) noexcept {
    int high[8];
    if (count > 8) {
        errno = EINVAL;
        return false;
    }
    for (int k = 0; k < count; ++k) {
        high[k] = -1;
        if (moves[k].source >= 0 && (high[k] = ::fcntl(moves[k].source, F_DUPFD_CLOEXEC, 10)) < 0)
            return false;
    }
    for (int k = 0; k < count; ++k)
        if (high[k] >= 0 && ::dup3(high[k], moves[k].target, keep_cloexec ? O_CLOEXEC : 0) < 0)
            return false;
    return true;
}

FORKSPAWN_CHILD_SIDE bool die_with_parent(pid_t parent) noexcept {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) return false;
    if (::getppid() != parent) {
        errno = 0;
        return false;
    }
    return true;
}

FORKSPAWN_CHILD_SIDE void setup_child(const ChildSetup& c) noexcept {
    if (c.mask && ::sigprocmask(SIG_SETMASK, c.mask, nullptr) < 0) ::_exit(1);
    if (c.started_slot) __atomic_store_n(c.started_slot, ::getpid(), __ATOMIC_RELEASE);
    if (::setpgid(0, 0) < 0) ::_exit(1);
    if (!die_with_parent(c.parent_pid)) ::_exit(1);
    if (!place_fds(c.fds, c.fd_count, c.keep_cloexec)) ::_exit(1);
    // Nothing of the parent's in the gaps between the targets, nor above.
    int top = 2;
    for (int k = 0; k < c.fd_count; ++k)
        if (c.fds[k].source >= 0 && c.fds[k].target > top) top = c.fds[k].target;
    for (int fd = 3; fd < top; ++fd) {
        bool placed = false;
        for (int k = 0; k < c.fd_count; ++k)
            placed = placed || (c.fds[k].source >= 0 && c.fds[k].target == fd);
        if (!placed) ::close(fd);
    }
    if (close_fds_from(static_cast<unsigned>(top) + 1) < 0) ::_exit(1);
}

FORKSPAWN_CHILD_SIDE void exec_child(const SpawnArgs& a) noexcept {
    // First of all: this pid started (see StartedPage).
    if (a.started_slot) __atomic_store_n(a.started_slot, ::getpid(), __ATOMIC_RELEASE);
    // Into the actor's cgroup before anything else: from here on nothing it
    // starts can be outside it.
    if (a.cgroup_procs_fd >= 0) {
        ssize_t n;
        while ((n = ::write(a.cgroup_procs_fd, "0", 1)) < 0 && errno == EINTR) {
        }
        if (n < 0) report_and_exit(a.error_fd, ChildStage::cgroup, errno);
    }
    // Own process group: a terminal's Ctrl-C reaches forkspawn only, and stop
    // signals sent to the group reach the actor's own children.
    if (::setpgid(0, 0) < 0) report_and_exit(a.error_fd, ChildStage::process_group, errno);
    if (a.take_terminal && ::tcsetpgrp(0, ::getpid()) < 0)
        report_and_exit(a.error_fd, ChildStage::terminal, errno);
    // Registered before it can have children of its own: if the supervisor
    // is killed before it registers this group itself (right after fork()
    // returns), the group's members are still killed by the guardian.
    guardian_notify(a.guardian_fd, '+', ::getpid());

    // Die with the supervisor. PDEATHSIG fires when the *thread* that forked
    // exits, which is why forks happen on a thread that lives as long as the
    // process. Re-check the parent: it may have died before the prctl.
    if (!die_with_parent(a.parent_pid)) {
        if (errno == 0) ::_exit(127); // the supervisor is gone: nobody to tell
        report_and_exit(a.error_fd, ChildStage::parent_death_signal, errno);
    }

    // Default dispositions and an empty mask: the forking thread blocks every
    // signal, and an ignored SIGPIPE or a blocked SIGTERM would survive execve
    // and make the graceful phase silently do nothing.
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    for (int signo = 1; signo < NSIG; ++signo) {
        if (signo == SIGKILL || signo == SIGSTOP) continue;
        ::sigaction(signo, &dfl, nullptr); // EINVAL for glibc-reserved signals: fine
    }
    sigset_t none;
    sigemptyset(&none);
    if (::sigprocmask(SIG_SETMASK, &none, nullptr) < 0)
        report_and_exit(a.error_fd, ChildStage::signals, errno);

    if (!move_fd(a.stdin_fd, 0)) report_and_exit(a.error_fd, ChildStage::stdin_setup, errno);
    if (!move_fd(a.stdout_fd, 1)) report_and_exit(a.error_fd, ChildStage::stdout_setup, errno);
    if (!move_fd(a.stderr_fd, 2)) report_and_exit(a.error_fd, ChildStage::stderr_setup, errno);

    // Only 0, 1 and 2 may reach the program: forkspawn's own fds are
    // O_CLOEXEC already, but fds forkspawn itself inherited without it are not.
    if (cloexec_fds_from(3) < 0) report_and_exit(a.error_fd, ChildStage::close_fds, errno);

    // Fds handed to the program by number (a re-executed sub-supervisor's
    // channel and spec): first out of the way, then into place; dup2 leaves
    // the targets without close-on-exec. The copies out of the way are made
    // after every fd was marked above, so they must be close-on-exec themselves
    // (F_DUPFD_CLOEXEC): with F_DUPFD they reached the program as 10, 11, 12
    // (or wherever they landed), duplicates of its channel, spec and the
    // guardian's pipe.
    const FdMove pass[4] = {{a.fd3, 3}, {a.fd4, 4}, {a.fd5, 5}, {a.fd6, 6}};
    if (!place_fds(pass, 4, false)) report_and_exit(a.error_fd, ChildStage::pass_fds, errno);
    // An actor's notification fd (never with fds 3 to 6 above: those are a
    // sub-supervisor's).
    const FdMove notify[1] = {{a.notify_fd, a.notify_target}};
    if (a.notify_fd >= 0 && !place_fds(notify, 1, false))
        report_and_exit(a.error_fd, ChildStage::notify_fd, errno);

    // The limit forkspawn was started with, then the spec's own.
    restore_fd_limit();
    apply_attributes(a);
    // A change of credentials clears the parent-death signal: set it again
    // (and check once more that the supervisor is still there).
    if ((a.set_uid || a.set_gid) && !die_with_parent(a.parent_pid)) {
        if (errno == 0) ::_exit(127);
        report_and_exit(a.error_fd, ChildStage::parent_death_signal, errno);
    }
    // As the actor's user: a directory only it may enter is entered.
    if (a.cwd && ::chdir(a.cwd) < 0) report_and_exit(a.error_fd, ChildStage::chdir, errno);

    ::execve(a.path, a.argv, a.envp);
    report_and_exit(a.error_fd, ChildStage::exec, errno);
}

} // namespace forkspawn::backend
