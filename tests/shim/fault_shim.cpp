// SPDX-License-Identifier: MIT
// Fault injection for the integration tests, loaded into forkspawn with
// LD_PRELOAD: a fault at an exact moment, where a test could only hope to
// hit it by timing. It acts only in processes that run the executable
// FORKSPAWN_FAULT_EXE names (forkspawn and its forks, never the actors,
// which inherit LD_PRELOAD), and injects the fault FORKSPAWN_FAULT names:
//   sigterm_when_unblocked: a SIGTERM arrives the moment a pthread_sigmask
//     call leaves SIGTERM unblocked, as one sent to the process group then
//     would: a supervisor blocks it for its signalfd, and the default action
//     would kill it instead of cancelling its tree.
//   extra_thread: a thread forkspawn did not make, started at load time
//     (every signal blocked, it only waits).
//   pidfd_off_main: pidfd_open (through syscall()) fails with EMFILE on
//     every thread but the main one: on the subint_forkserver backend's
//     forkserver thread, right after it created a child.
// Once armed it says "fault shim: <fault>" on stderr, so a test knows the
// fault was in place.
//
// FORKSPAWN_FAULT_EPOLL=PATH (any process): epoll_wait fails with ENOMEM in
// the process whose pid is written in the file PATH (the test writes it once
// the tree is up, then wakes that process, e.g. with SIGUSR1). Every other
// process, and every call before the file names it, goes to the real
// epoll_wait.
//
// FORKSPAWN_FAULT_GATE=PATH (any process): setpgid(0, 0) with every signal
// blocked — the first step of every child forkspawn forks to run an actor
// or a sub-supervisor, between its fork and its execve — waits
// until PATH exists (at most 30 s; async-signal-safe calls only), so a test
// can change the world between the forks and what the children do next.
//
// FORKSPAWN_FAULT_DROP_SEND=TEXT (any process): a send() whose bytes
// contain TEXT is dropped and reported as sent, e.g. '"t":"reaped"': a
// sub-supervisor's reports of its reaped actors are lost, as they are when
// it is killed between a reap and its message.
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

using SigmaskFn = int (*)(int, const sigset_t*, sigset_t*);

bool g_sigterm_when_unblocked = false;
bool g_pidfd_off_main = false;
using SyscallFn = long (*)(long, ...);
SyscallFn g_real_syscall = nullptr;

SigmaskFn real_sigmask() {
    static SigmaskFn real = reinterpret_cast<SigmaskFn>(::dlsym(RTLD_NEXT, "pthread_sigmask"));
    return real;
}

bool runs(const char* exe) {
    char self[PATH_MAX];
    char want[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || !::realpath(exe, want)) return false;
    self[n] = '\0';
    return std::strcmp(self, want) == 0;
}

void* idle(void*) {
    for (;;)
        ::pause();
}

void say(const char* fault) {
    char line[128] = "fault shim: ";
    std::strncat(line, fault, sizeof line - std::strlen(line) - 2);
    std::strcat(line, "\n");
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, line, std::strlen(line));
}

__attribute__((constructor)) void arm() {
    const char* exe = std::getenv("FORKSPAWN_FAULT_EXE");
    const char* fault = std::getenv("FORKSPAWN_FAULT");
    if (!exe || !fault || !runs(exe)) return;
    if (std::strcmp(fault, "sigterm_when_unblocked") == 0) {
        g_sigterm_when_unblocked = true;
    } else if (std::strcmp(fault, "pidfd_off_main") == 0) {
        g_real_syscall = reinterpret_cast<SyscallFn>(::dlsym(RTLD_NEXT, "syscall"));
        g_pidfd_off_main = g_real_syscall != nullptr;
    } else if (std::strcmp(fault, "extra_thread") == 0) {
        sigset_t all, old;
        sigfillset(&all);
        real_sigmask()(SIG_SETMASK, &all, &old);
        pthread_t thread;
        const int rc = ::pthread_create(&thread, nullptr, idle, nullptr);
        real_sigmask()(SIG_SETMASK, &old, nullptr);
        if (rc != 0) return;
    } else {
        return;
    }
    say(fault);
}

bool named_in(const char* path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    return std::atol(buf) == static_cast<long>(getpid());
}

} // namespace

extern "C" int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
    const int rc = real_sigmask()(how, set, old);
    if (rc == 0 && set && g_sigterm_when_unblocked) {
        sigset_t now;
        real_sigmask()(SIG_BLOCK, nullptr, &now);
        if (sigismember(&now, SIGTERM) == 0) ::raise(SIGTERM);
    }
    return rc;
}

extern "C" long syscall(long number, ...) {
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (long& x : a)
        x = va_arg(ap, long);
    va_end(ap);
    if (g_pidfd_off_main && number == SYS_pidfd_open && ::gettid() != ::getpid()) {
        errno = EMFILE;
        return -1;
    }
    static SyscallFn real = g_real_syscall
                                ? g_real_syscall
                                : reinterpret_cast<SyscallFn>(::dlsym(RTLD_NEXT, "syscall"));
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

extern "C" int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
    using Fn = int (*)(int, struct epoll_event*, int, int);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "epoll_wait"));
    const char* path = std::getenv("FORKSPAWN_FAULT_EPOLL");
    if (path && named_in(path)) {
        errno = ENOMEM;
        return -1;
    }
    return real(epfd, events, maxevents, timeout);
}

namespace {
// Resolved at load: the first call may come in a child between fork and
// execve, where dlsym (which takes the loader's lock) is not safe.
using SetpgidFn = int (*)(pid_t, pid_t);
SetpgidFn g_real_setpgid = nullptr;
const char* g_gate = nullptr;
__attribute__((constructor)) void resolve_setpgid() {
    g_real_setpgid = reinterpret_cast<SetpgidFn>(dlsym(RTLD_NEXT, "setpgid"));
    g_gate = std::getenv("FORKSPAWN_FAULT_GATE");
}

// A child forkspawn forked to exec: every signal is blocked across its
// fork (the guardian, forkspawn's other child, is not gated).
bool all_blocked() {
    sigset_t now;
    return sigprocmask(SIG_BLOCK, nullptr, &now) == 0 && sigismember(&now, SIGQUIT) == 1 &&
           sigismember(&now, SIGUSR2) == 1;
}

} // namespace

extern "C" int setpgid(pid_t pid, pid_t pgid) {
    const char* gate = g_gate;
    if (gate && pid == 0 && pgid == 0 && all_blocked())
        for (int i = 0; i < 6000 && ::access(gate, F_OK) != 0; ++i) {
            const timespec pause{0, 5'000'000};
            ::nanosleep(&pause, nullptr);
        }
    return g_real_setpgid(pid, pgid);
}

namespace {
using SendFn = ssize_t (*)(int, const void*, size_t, int);
SendFn g_real_send = nullptr;
const char* g_drop = nullptr;
__attribute__((constructor)) void resolve_send() {
    g_real_send = reinterpret_cast<SendFn>(dlsym(RTLD_NEXT, "send"));
    g_drop = std::getenv("FORKSPAWN_FAULT_DROP_SEND");
    if (g_drop && !*g_drop) g_drop = nullptr;
}
} // namespace

extern "C" ssize_t send(int fd, const void* buf, size_t len, int flags) {
    if (g_drop && buf && ::memmem(buf, len, g_drop, std::strlen(g_drop)) != nullptr)
        return static_cast<ssize_t>(len);
    return g_real_send(fd, buf, len, flags);
}
