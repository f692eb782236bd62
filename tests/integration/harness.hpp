// SPDX-License-Identifier: MIT
// Runs the real forkspawn binary for integration tests: feeds stdin,
// collects stdout and stderr without blocking, enforces a deadline (a hung
// forkspawn fails the test instead of hanging it), and checks afterwards that
// nothing the run started is still alive or unreaped.
//
// Every run is tagged: FORKSPAWN_TEST_TAG=<unique> is in forkspawn's
// environment, which its actors inherit, so survivors are found by scanning
// /proc/*/environ. The test process is also a child subreaper, so anything
// that escapes reparents to it and shows up as a child.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace forkspawn::test {

std::string backend();                     // the spawn backend under test (FORKSPAWN_TEST_BACKEND)
std::string binary();                      // path of the built forkspawn
std::string spec_path(const std::string&); // tests/specs/<name>
std::string examples_path(const std::string&);

struct RunOptions {
    std::vector<std::string> args;
    std::string stdin_data; // written to forkspawn's stdin, then closed
    std::vector<std::pair<std::string, std::string>> env; // added
    std::chrono::milliseconds deadline{60'000};
    // Resource limits set in forkspawn's process before its exec.
    std::vector<std::pair<int, rlimit>> rlimits;
    // Run forkspawn as this user and group (needs root): resource limits
    // per user (RLIMIT_NPROC) then count only this run's processes.
    std::optional<uid_t> uid;
    // F_SETPIPE_SZ for forkspawn's stdout pipe (0: the default, 64 KiB): a
    // small pipe fills with the first 4 KiB of the report.
    int stdout_pipe_size = 0;
    // Files opened read-only as these fds of forkspawn's process, e.g. a
    // re-executed sub-supervisor's subtree spec as fd 4.
    std::vector<std::pair<int, std::string>> files;
    // forkspawn's stdout is this file (opened write-only, e.g. /dev/full)
    // instead of a pipe to the test; `out` of the result stays empty.
    std::string stdout_path;
    // forkspawn's stderr is a pipe the test holds open but never reads
    // (`err` of the result stays empty): a reader that takes nothing.
    bool stderr_unread = false;
    // forkspawn's stdin is a new pseudo-terminal, and forkspawn leads its
    // session and is its foreground group, as a job an interactive shell
    // started (stdin_data must be empty: type with terminal_write).
    bool terminal = false;
};

struct RunResult {
    int exit_code = -1;  // -1 when killed by a signal
    int term_signal = 0; // the signal that killed forkspawn, 0 if it exited
    bool timed_out = false;
    std::string out;
    std::string err;
    std::string tag; // the FORKSPAWN_TEST_TAG value of this run
    long max_rss_kib = 0; // forkspawn's peak resident memory (wait4's rusage)
};

// A forkspawn process under test, for tests that must act while it runs.
class Process {
  public:
    explicit Process(const RunOptions& options);
    ~Process(); // kills the process group if still running
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return m_pid; }
    const std::string& tag() const { return m_tag; }
    // Reads output until `done(out, err)` is true or the deadline passes.
    bool read_until(const std::function<bool(const std::string&, const std::string&)>& done,
                    std::chrono::milliseconds deadline);
    bool wait_for_stderr(const std::string& needle, std::chrono::milliseconds deadline);
    // Reads stderr only, leaving stdout unread, until `done(stderr so far)`
    // is true; false when forkspawn wrote to (or closed) stdout first, or at
    // the deadline.
    bool read_stderr_until(const std::function<bool(const std::string&)>& done,
                           std::chrono::milliseconds deadline);
    // Reads stderr only until forkspawn has written something to stdout
    // (false at the deadline or when it exited first). With a small stdout
    // pipe and a report larger than it, forkspawn then sits in its final
    // report write: its supervisor is gone, its fds can be inspected.
    bool wait_stdout_pending(std::chrono::milliseconds deadline);
    void signal(int signo);
    const std::string& err_so_far() const { return m_result.err; } // stderr read until now
    // With RunOptions::terminal: types `text` into the terminal, and the
    // terminal's foreground process group (-1 when it has none).
    void terminal_write(const std::string& text);
    pid_t terminal_foreground() const;
    // The test's fds forkspawn inherited (no FD_CLOEXEC, 3 and up), and the
    // file each refers to ("device:inode"): not forkspawn's own.
    const std::map<int, std::string>& inherited_fds() const { return m_inherited; }
    // Waits for exit (reading all output); kills it at the deadline.
    RunResult wait();

  private:
    pid_t m_pid = -1;
    int m_in = -1, m_out = -1, m_err = -1;
    int m_err_unread = -1; // stderr's read end, held but never read
    int m_terminal = -1;   // the pseudo-terminal's master side
    std::string m_tag;
    std::string m_stdin_data;
    std::size_t m_stdin_written = 0;
    std::chrono::steady_clock::time_point m_deadline;
    RunResult m_result;
    bool m_reaped = false;
    std::map<int, std::string> m_inherited;

    // One poll round (stdin is fed, stdout read only if `read_stdout`);
    // false when both pipes are at EOF.
    bool pump(int timeout_ms, bool read_stdout = true);
};

RunResult run(const RunOptions& options);

// Processes (other than zombies) whose environment has FORKSPAWN_TEST_TAG=tag.
std::vector<pid_t> tagged_processes(const std::string& tag);
// Zombie children of the test process (unreaped by anyone).
std::vector<pid_t> zombie_children();
// Every child of the test process, in any state.
std::vector<pid_t> child_processes();
// Asserts (doctest CHECK) that nothing of the run is left; waits up to a few
// seconds for the kernel to finish tearing down processes already killed.
void check_nothing_left(const std::string& tag);

// The JSON report in `text` (REQUIREs that it parses and lists actors).
nlohmann::json parse_report(const std::string& text);
// The report's entry for `path` (FAILs when it is missing).
nlohmann::json entry(const nlohmann::json& report, const std::string& path);
// Every entry by path (CHECKs that each path is listed once).
std::map<std::string, nlohmann::json> by_path(const nlohmann::json& report);

// The whole content of the file at `path` (empty when it cannot be read).
std::string slurp_file(const std::string& path);

// The lines of `text`, without their newlines.
std::vector<std::string> lines(const std::string& text);

// Open fds of the test process, to prove none leaked across a run.
std::vector<int> open_fds();

// Open fds of any process and what each refers to (readlink of
// /proc/PID/fd/N: "pipe:[123]", "anon_inode:[pidfd]", a path, ...).
std::map<int, std::string> fd_targets(pid_t pid);

// "device:inode" of the file `pid` has open as `fd`: unlike the text of its
// /proc link, it stays the same when the file is renamed or deleted.
std::string file_identity(pid_t pid, int fd);

// The fds of `pid` beyond its stdio, as " N -> target;" items: every fd but
// 0, 1, 2, those that refer to the same file as 1 or 2 (forkspawn reopens
// stdout and stderr as non-blocking descriptions of the same pipes), and
// the `inherited` ones (Process::inherited_fds). Once forkspawn writes its
// final report, nothing else may be left.
std::string fds_beyond_stdio(pid_t pid, const std::map<int, std::string>& inherited = {});

// After forkspawn was killed outright: waits until no process tagged `tag`
// for which `keep(pid)` is false is left (the deadline passed: false), then
// SIGKILLs what is left (the kept ones) and reaps every orphan the test
// process adopted. Returns whether the unkept processes all went away.
bool wait_tagged_gone(const std::string& tag, std::chrono::milliseconds deadline,
                      const std::function<bool(pid_t)>& keep = {});

// A directory of its own under the system's temporary directory
// (forkspawn-<purpose>-XXXXXX), removed with what is in it at the end.
class TempDir {
  public:
    explicit TempDir(const std::string& purpose = "test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string operator/(const std::string& name) const { return m_path + "/" + name; }
    // A FIFO: a writer's open blocks until a reader opened it, and vice
    // versa, which makes it a readiness handshake between two actors.
    std::string fifo(const std::string& name) const;

  private:
    std::string m_path;
};

// The environment of a process (empty when it is gone or unreadable).
std::vector<std::string> process_environ(pid_t pid);

} // namespace forkspawn::test
