// SPDX-License-Identifier: MIT
// Shared by the bench programs: statistics over repetitions, the results
// file the bench command collects, running forkspawn as a child with a
// deadline, the bare spawn loops the benches compare with, the readiness
// fifo the helper actor writes to, and the command line.
//
// Results: when FORKSPAWN_BENCH_RESULTS names a file, every figure is also
// appended there as one tab-separated line (see Row); scripts/bench renders
// the combined table from it. Nothing here synchronises with sleeps: every
// wait is a poll with a deadline on an fd that becomes ready.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <optional>
#include <poll.h>
#include <spawn.h>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace bench {

using Clock = std::chrono::steady_clock;

inline double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// Median and spread of one figure over repetitions.
struct Stats {
    double median = 0, min = 0, max = 0;
    std::size_t n = 0;
};

inline Stats stats(std::vector<double> v) {
    Stats s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    s.n = v.size();
    s.min = v.front();
    s.max = v.back();
    s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    return s;
}

// The q-quantile (0..1) of a sample, nearest rank.
inline double quantile(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto rank = static_cast<std::size_t>(q * static_cast<double>(v.size()) + 0.999999);
    return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

inline std::string spread(const Stats& s, int precision = 2) {
    return fmt::format("{:.{}f}..{:.{}f}", s.min, precision, s.max, precision);
}

// One line of the combined table: what was measured, its median and
// spread, the baseline it is compared with (same run) and the ratio; the
// target the issue sets for it, if any, and whether it was met.
struct Row {
    std::string section; // "1 spawn throughput"
    std::string subject; // "forkspawn subint_forkserver"
    Stats value;
    std::string unit;     // "ms"
    std::string baseline; // "bare fork+exec (thread)"
    double ratio = 0;     // value.median / baseline median; 0 = none
    std::string target;   // "<= 1.10x", "" for none
    std::string verdict;  // "met", "MISSED", "" (no target)
    std::string note;     // anything else, short
};

inline void record(const Row& r) {
    const char* path = std::getenv("FORKSPAWN_BENCH_RESULTS");
    if (!path || !*path) return;
    FILE* f = std::fopen(path, "a");
    if (!f) return;
    fmt::print(f, "{}\t{}\t{:.3f}\t{:.3f}\t{:.3f}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", r.section,
               r.subject, r.value.median, r.value.min, r.value.max, r.value.n, r.unit, r.baseline,
               r.ratio > 0 ? fmt::format("{:.2f}", r.ratio) : std::string("-"),
               r.target.empty() ? "-" : r.target, r.verdict.empty() ? "-" : r.verdict,
               r.note.empty() ? "-" : r.note);
    std::fclose(f);
}

inline std::string verdict(bool met) {
    return met ? "met" : "MISSED";
}

// ---- children --------------------------------------------------------------

inline int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// Starts argv[0] (a path) with stdin from /dev/null and stdout/stderr to
// `out_fd`/`err_fd` (-1: /dev/null). Returns the pid, or -1.
inline pid_t start(const std::vector<std::string>& args, int out_fd = -1, int err_fd = -1,
                   int in_fd = -1) {
    std::vector<char*> argv;
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    else
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    // A clean start whatever the bench blocked or ignored (spawn_cost blocks
    // the supervisor's signals, SIGCHLD included, which would hang a peer
    // that waits for SIGCHLD, like Python's forkserver).
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

// Waits for child `pid` to exit, at most `limit`; on timeout it is killed
// (SIGKILL) and reaped, and nullopt is returned. Otherwise the wait status.
inline std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit) {
    const int fd = pidfd_open(pid);
    if (fd >= 0) {
        pollfd p{fd, POLLIN, 0};
        int rc;
        do {
            rc = ::poll(&p, 1, static_cast<int>(limit.count()));
        } while (rc < 0 && errno == EINTR);
        ::close(fd);
        if (rc == 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            return std::nullopt;
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

inline bool exited_with(const std::optional<int>& status, int code) {
    return status && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

inline std::string status_text(const std::optional<int>& status) {
    if (!status) return "timed out (killed by the bench)";
    if (WIFEXITED(*status)) return fmt::format("exit {}", WEXITSTATUS(*status));
    if (WIFSIGNALED(*status)) return fmt::format("signal {}", WTERMSIG(*status));
    return "?";
}

// Starts `n` copies of `args`; the pids of those that started.
inline std::vector<pid_t> start_n(int n, const std::vector<std::string>& args) {
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i)
        if (const pid_t pid = start(args); pid > 0) pids.push_back(pid);
    return pids;
}

inline bool write_file(const std::string& path, const std::string& text) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return false;
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    return std::fclose(f) == 0 && ok;
}

inline std::string read_file(const std::string& path) {
    std::string text;
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return text;
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
        text.append(buf, n);
    std::fclose(f);
    return text;
}

// ---- bare loops ------------------------------------------------------------
// The baselines: /bin/true spawned and reaped `n` times, one child at a
// time, with no supervision; ms in all.

inline char k_true[] = "/bin/true"; // not const: execve's argv is char*

inline double bare_fork_exec(int n) {
    char* argv[] = {k_true, nullptr};
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::execve(k_true, argv, environ);
            ::_exit(127);
        }
        if (pid > 0) ::waitpid(pid, nullptr, 0);
    }
    return ms_between(t0, Clock::now());
}

inline double bare_posix_spawn(int n) {
    char* argv[] = {k_true, nullptr};
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
        pid_t pid;
        if (::posix_spawn(&pid, k_true, nullptr, nullptr, argv, environ) == 0)
            ::waitpid(pid, nullptr, 0);
    }
    return ms_between(t0, Clock::now());
}

// ---- the readiness fifo ----------------------------------------------------

// What the helper actor (actor.cpp) writes: one record per event, smaller
// than PIPE_BUF so that writes of many actors never interleave.
struct ActorEvent {
    std::int32_t pid = 0;
    std::int32_t kind = 0; // 'R' ready, 'T' got SIGTERM
    std::int64_t t_ns = 0; // CLOCK_MONOTONIC (= steady_clock) when it happened
};
static_assert(sizeof(ActorEvent) == 16);

inline Clock::time_point from_ns(std::int64_t ns) {
    return Clock::time_point(
        std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

// A fifo in /tmp that actors open by path (forkspawn passes them no other
// fd). The bench holds it open read-write, so it never sees EOF and never
// blocks an actor's open.
class Fifo {
  public:
    Fifo() {
        m_path = fmt::format("/tmp/forkspawn-bench-{}-{}.fifo", ::getpid(), s_count++);
        ::unlink(m_path.c_str());
        if (::mkfifo(m_path.c_str(), 0600) == 0)
            m_fd = ::open(m_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (m_fd >= 0) ::fcntl(m_fd, F_SETPIPE_SZ, 1 << 20);
    }
    ~Fifo() {
        if (m_fd >= 0) ::close(m_fd);
        ::unlink(m_path.c_str());
    }
    Fifo(const Fifo&) = delete;
    Fifo& operator=(const Fifo&) = delete;

    bool ok() const { return m_fd >= 0; }
    const std::string& path() const { return m_path; }
    int fd() const { return m_fd; }

    // Reads events until `count` of kind `kind` arrived (other kinds are
    // kept too) or `limit` passed; returns every event read.
    std::vector<ActorEvent> wait_for(std::size_t count, std::int32_t kind,
                                     std::chrono::milliseconds limit) {
        std::vector<ActorEvent> events;
        std::size_t seen = 0;
        const auto until = Clock::now() + limit;
        while (seen < count) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            if (left.count() <= 0) break;
            pollfd p{m_fd, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            for (auto& e : drain()) {
                if (e.kind == kind) ++seen;
                events.push_back(e);
            }
        }
        return events;
    }

    // Everything readable now.
    std::vector<ActorEvent> drain() {
        std::vector<ActorEvent> events;
        for (;;) {
            const ssize_t n = ::read(m_fd, m_buf + m_have, sizeof m_buf - m_have);
            if (n <= 0) break;
            m_have += static_cast<std::size_t>(n);
            std::size_t off = 0;
            for (; m_have - off >= sizeof(ActorEvent); off += sizeof(ActorEvent)) {
                ActorEvent e;
                std::memcpy(&e, m_buf + off, sizeof e);
                events.push_back(e);
            }
            std::memmove(m_buf, m_buf + off, m_have - off);
            m_have -= off;
        }
        return events;
    }

  private:
    static inline int s_count = 0;
    std::string m_path;
    int m_fd = -1;
    char m_buf[65536];
    std::size_t m_have = 0;
};

// The helper actor binary: next to the bench program that runs it.
inline std::string helper_path(const char* argv0) {
    std::string self = argv0;
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) self.assign(buf, static_cast<std::size_t>(n));
    return self.substr(0, self.rfind('/') + 1) + "forkspawn_bench_actor";
}

// Peak and current resident set of a process, in KiB, from /proc.
struct Memory {
    long hwm_kib = -1, rss_kib = -1;
};

inline Memory memory_of(pid_t pid) {
    Memory m;
    const std::string text = read_file(fmt::format("/proc/{}/status", pid));
    auto field = [&](const char* name) -> long {
        const auto at = text.find(name);
        return at == std::string::npos ? -1 : std::atol(text.c_str() + at + std::strlen(name));
    };
    m.hwm_kib = field("VmHWM:");
    m.rss_kib = field("VmRSS:");
    return m;
}

// A quick run: fewer repetitions (FORKSPAWN_BENCH_QUICK=1 or --quick).
inline bool quick(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--quick") == 0) return true;
    const char* q = std::getenv("FORKSPAWN_BENCH_QUICK");
    return q && *q && std::strcmp(q, "0") != 0;
}

// The value of `--name=VALUE` among the arguments, or `fallback`.
inline std::string option(int argc, char** argv, const std::string& name,
                          const std::string& fallback) {
    const std::string prefix = "--" + name + "=";
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0)
            return argv[i] + prefix.size();
    return fallback;
}

// The command line of a bench that runs the forkspawn binary:
//   PROGRAM FORKSPAWN [--actors=N] [OWN OPTIONS] [--reps=R] [--quick]
struct CommandLine {
    std::string forkspawn;
    int actors = 0;
    int reps = 0;
};

struct Defaults {
    int actors = 0; // 0: the bench sets its own sizes and takes no --actors
    int reps = 0;
    int quick_reps = 0;
    const char* more = ""; // the bench's own options, for the usage: "[--cgroup=...] "
};

// nullopt, with the usage on stderr, when FORKSPAWN is missing: the bench
// then exits 2.
inline std::optional<CommandLine> command_line(int argc, char** argv, const Defaults& d) {
    if (argc < 2) {
        fmt::print(stderr, "usage: {} FORKSPAWN {}{}[--reps=R] [--quick]\n", argv[0],
                   d.actors ? "[--actors=N] " : "", d.more);
        return std::nullopt;
    }
    CommandLine c;
    c.forkspawn = argv[1];
    if (d.actors) c.actors = std::stoi(option(argc, argv, "actors", std::to_string(d.actors)));
    const int reps = quick(argc, argv) ? d.quick_reps : d.reps;
    c.reps = std::stoi(option(argc, argv, "reps", std::to_string(reps)));
    return c;
}

// ---- cgroups ----------------------------------------------------------------
// forkspawn's --cgroup mode of a bench run, and a bare baseline that does by
// hand what forkspawn does with a cgroup per actor (bench/README.md, items 2
// and 3 with cgroups).

// `--cgroup=auto|off|both` of the benches that compare forkspawn with and
// without cgroups: which of the two a run measures.
struct CgroupModes {
    bool off = true, with = true;
};

// nullopt (with a message) for anything but auto, off or both.
inline std::optional<CgroupModes> cgroup_modes(int argc, char** argv) {
    const std::string mode = option(argc, argv, "cgroup", "both");
    if (mode == "both") return CgroupModes{};
    if (mode == "auto") return CgroupModes{.off = false, .with = true};
    if (mode == "off") return CgroupModes{.off = true, .with = false};
    fmt::print(stderr, "bench: --cgroup={}: expected auto, off or both\n", mode);
    return std::nullopt;
}

// The path of process `pid` in the unified hierarchy: the "0::" line of
// /proc/PID/cgroup ("/forkspawn-<tree id>/s12" for an actor of a run with
// cgroups); "" when there is none.
inline std::string cgroup_of(pid_t pid) {
    const std::string text = read_file(fmt::format("/proc/{}/cgroup", pid));
    const auto at = text.find("0::");
    if (at == std::string::npos || (at > 0 && text[at - 1] != '\n')) return "";
    const auto end = text.find('\n', at);
    return text.substr(at + 3, end == std::string::npos ? std::string::npos : end - at - 3);
}

// Whether `pid` runs in a cgroup that forkspawn made: its path has a
// component forkspawn-<tree id> (the run's cgroup).
inline bool in_forkspawn_cgroup(pid_t pid) {
    return cgroup_of(pid).find("/forkspawn-") != std::string::npos;
}

// The bench's own cgroup directory: the first cgroup2 mount of
// /proc/self/mountinfo whose root is "/" (the field after the lone "-" is
// the type), plus the "0::" path of /proc/self/cgroup; "" when there is no
// such mount (a container that bind-mounts part of the hierarchy: the bare
// cgroup baseline is then skipped, nothing more).
inline std::string own_cgroup_dir() {
    const std::string self = cgroup_of(::getpid());
    if (self.empty()) return "";
    const std::string info = read_file("/proc/self/mountinfo");
    std::size_t line = 0;
    while (line < info.size()) {
        const auto end = std::min(info.find('\n', line), info.size());
        const std::string l = info.substr(line, end - line);
        line = end + 1;
        const auto dash = l.find(" - cgroup2 ");
        if (dash == std::string::npos) continue;
        // id parent major:minor root mount-point ...
        std::vector<std::string> f;
        for (std::size_t p = 0; p < dash && f.size() < 5;) {
            const auto q = std::min(l.find(' ', p), dash);
            f.push_back(l.substr(p, q - p));
            p = q + 1;
        }
        if (f.size() < 5 || f[3] != "/") continue;
        return self == "/" ? f[4] : f[4] + self;
    }
    return "";
}

// The bare baseline with cgroups: what forkspawn does with a cgroup per
// actor, by hand. One cgroup of the bench's, `<own cgroup>/<name>`, and in
// it c0, c1 ... one per child; a child moves itself in (writes "0" to its
// cgroup.procs, opened before the fork, as forkspawn's children do) before
// it execs. The destructor kills and removes whatever is left: no bench run
// may leave a cgroup behind.
class BareCgroups {
  public:
    explicit BareCgroups(const std::string& name) {
        const std::string own = own_cgroup_dir();
        if (own.empty()) {
            m_why = "no cgroup2 mount of the whole hierarchy";
            return;
        }
        m_path = own + "/" + name;
        if (::mkdir(m_path.c_str(), 0755) < 0) {
            m_why = fmt::format("mkdir {}: {}", m_path, std::strerror(errno));
            return;
        }
        m_fd = ::open(m_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (m_fd < 0) m_why = fmt::format("open {}: {}", m_path, std::strerror(errno));
    }
    ~BareCgroups() { close(); }
    BareCgroups(const BareCgroups&) = delete;
    BareCgroups& operator=(const BareCgroups&) = delete;

    bool ok() const { return m_fd >= 0; }
    const std::string& why() const { return m_why; } // when not ok()

    // Makes cgroup c<i> and starts `args` in it (stdin, stdout and stderr
    // /dev/null); the pid, or -1.
    pid_t start_in(std::size_t i, const std::vector<std::string>& args) {
        if (!ok()) return -1;
        if (m_made.size() <= i) m_made.resize(i + 1, false);
        const std::string name = child(i);
        if (::mkdirat(m_fd, name.c_str(), 0755) < 0) return -1;
        m_made[i] = true;
        const int procs = ::openat(m_fd, (name + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
        const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        std::vector<char*> argv;
        for (const auto& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        pid_t pid = -1;
        if (procs >= 0 && null >= 0) pid = ::fork();
        if (pid == 0) { // async-signal-safe calls only from here
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            if (::write(procs, "0", 1) != 1) ::_exit(126);
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::dup2(null, 2);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        if (procs >= 0) ::close(procs);
        if (null >= 0) ::close(null);
        return pid;
    }

    // Writes "1" to c<i>/cgroup.kill, as forkspawn does for a hard kill and
    // after an actor's main process exited; 0 or -1.
    int kill(std::size_t i) {
        const int fd = ::openat(m_fd, (child(i) + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) return -1;
        const bool ok = ::write(fd, "1", 1) == 1;
        ::close(fd);
        return ok ? 0 : -1;
    }

    // Until c<i>'s cgroup.events says "populated 0" (read first, then
    // polled for POLLPRI, as forkspawn watches it), at most `limit`.
    bool wait_empty(std::size_t i, std::chrono::milliseconds limit) {
        const int fd = ::openat(m_fd, (child(i) + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return false;
        const auto until = Clock::now() + limit;
        bool empty = false;
        for (;;) {
            char buf[256];
            const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
            if (n <= 0) break;
            buf[n] = '\0';
            if (std::strstr(buf, "populated 0")) {
                empty = true;
                break;
            }
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            if (left.count() <= 0) break;
            pollfd p{fd, POLLPRI, 0};
            ::poll(&p, 1, static_cast<int>(left.count()));
        }
        ::close(fd);
        return empty;
    }

    // c<i>'s file `name` (cpu.stat: forkspawn reads it for an actor's CPU
    // time before it removes the actor's cgroup).
    std::string read(std::size_t i, const char* name) const {
        return read_file(m_path + "/" + child(i) + "/" + name);
    }

    // Kills and removes every cgroup left, then the bench's: as forkspawn
    // kills and removes its run's cgroup at its end. Again: nothing.
    void close() {
        if (m_fd >= 0) {
            for (std::size_t i = 0; i < m_made.size(); ++i)
                if (m_made[i]) {
                    kill(i);
                    wait_empty(i, std::chrono::seconds(5));
                    remove(i);
                }
            ::close(m_fd);
            m_fd = -1;
        }
        if (!m_path.empty() && ::rmdir(m_path.c_str()) < 0 && errno != ENOENT)
            fmt::print(stderr, "bench: cannot remove the cgroup {}: {}\n", m_path,
                       std::strerror(errno));
        m_path.clear();
    }

    // rmdir of c<i>; 0 or -1.
    int remove(std::size_t i) {
        if (i >= m_made.size() || !m_made[i]) return 0;
        if (::unlinkat(m_fd, child(i).c_str(), AT_REMOVEDIR) < 0) return -1;
        m_made[i] = false;
        return 0;
    }

  private:
    static std::string child(std::size_t i) { return fmt::format("c{}", i); }

    std::string m_path, m_why;
    int m_fd = -1;
    std::vector<bool> m_made;
};

// Why the bench cannot make cgroups of its own for the bare baseline with
// cgroups ("" when it can): tried once, before the runs, so that the
// baseline's rows say "skipped" with the reason instead of failing each run.
inline std::string bare_cgroups_unusable(const std::string& bench) {
    BareCgroups probe(fmt::format("forkspawn-bench-{}-{}", bench, ::getpid()));
    return probe.ok() ? "" : probe.why();
}

// A directory of the bench's own for its spec files; the bench removes it.
inline std::string scratch_dir(const std::string& bench) {
    const std::string dir = fmt::format("/tmp/forkspawn-bench-{}-{}", bench, ::getpid());
    ::mkdir(dir.c_str(), 0700);
    return dir;
}

inline const std::vector<std::string>& backends() {
    static const std::vector<std::string> keys{"subint_forkserver", "trio", "mp_forkserver"};
    return keys;
}

} // namespace bench
