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
//   PROGRAM FORKSPAWN [--actors=N] [--reps=R] [--quick]
struct CommandLine {
    std::string forkspawn;
    int actors = 0;
    int reps = 0;
};

struct Defaults {
    int actors = 0; // 0: the bench sets its own sizes and takes no --actors
    int reps = 0;
    int quick_reps = 0;
};

// nullopt, with the usage on stderr, when FORKSPAWN is missing: the bench
// then exits 2.
inline std::optional<CommandLine> command_line(int argc, char** argv, const Defaults& d) {
    if (argc < 2) {
        fmt::print(stderr, "usage: {} FORKSPAWN {}[--reps=R] [--quick]\n", argv[0],
                   d.actors ? "[--actors=N] " : "");
        return std::nullopt;
    }
    CommandLine c;
    c.forkspawn = argv[1];
    if (d.actors) c.actors = std::stoi(option(argc, argv, "actors", std::to_string(d.actors)));
    const int reps = quick(argc, argv) ? d.quick_reps : d.reps;
    c.reps = std::stoi(option(argc, argv, "reps", std::to_string(reps)));
    return c;
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
