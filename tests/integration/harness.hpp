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
#include <string>
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
};

struct RunResult {
    int exit_code = -1;  // -1 when killed by a signal
    int term_signal = 0; // the signal that killed forkspawn, 0 if it exited
    bool timed_out = false;
    std::string out;
    std::string err;
    std::string tag; // the FORKSPAWN_TEST_TAG value of this run
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
    void signal(int signo);
    // Waits for exit (reading all output); kills it at the deadline.
    RunResult wait();

  private:
    pid_t m_pid = -1;
    int m_in = -1, m_out = -1, m_err = -1;
    std::string m_tag;
    std::string m_stdin_data;
    std::size_t m_stdin_written = 0;
    std::chrono::steady_clock::time_point m_deadline;
    RunResult m_result;
    bool m_reaped = false;

    bool pump(int timeout_ms); // one poll round; false when both pipes are at EOF
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

// The lines of `text`, without their newlines.
std::vector<std::string> lines(const std::string& text);

// Open fds of the test process, to prove none leaked across a run.
std::vector<int> open_fds();

} // namespace forkspawn::test
