// SPDX-License-Identifier: MIT
// The tree marker's value: a nested forkspawn's id comes first, then the ids
// of the trees around it, so every enclosing tree's sweep still finds it.
#include "forkspawn/sweep.hpp"

#include "forkspawn/sys.hpp"
#include "forkspawn/unique_fd.hpp"

#include <chrono>
#include <csignal>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/prctl.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace forkspawn::supervise;

namespace {
const std::string a(32, 'a'), b(32, 'b'), c(32, 'c');
}

TEST_CASE("tree_value: a tree's own id, then the well-formed ids around it") {
    CHECK(tree_value(a, nullptr) == a);
    CHECK(tree_value(a, "") == a);
    CHECK(tree_value(a, b.c_str()) == a + ":" + b);
    CHECK(tree_value(a, (b + ":" + c).c_str()) == a + ":" + b + ":" + c);
    // A value that no forkspawn made is not carried on.
    CHECK(tree_value(a, "from-outside") == a);
    CHECK(tree_value(a, ("x:" + b + "::" + std::string(31, 'c')).c_str()) == a + ":" + b);
    CHECK(tree_value(a, (a + ":" + b).c_str()) == a + ":" + b); // never twice
}

TEST_CASE("tree_value: the chain is cut at k_tree_max_depth ids") {
    std::string deep;
    for (std::size_t i = 0; i < 40; ++i)
        deep += (deep.empty() ? "" : ":") + std::string(32, "0123456789abcdef"[i % 16]);
    const std::string v = tree_value(a, deep.c_str());
    CHECK(v.size() == k_tree_max_depth * 33 - 1);
    CHECK(v.starts_with(a + ":"));
}

TEST_CASE("tree_value_has: whole ids only") {
    CHECK(tree_value_has(a, a));
    CHECK(tree_value_has(a + ":" + b, b));
    CHECK(tree_value_has(a + ":" + b + ":" + c, b));
    CHECK_FALSE(tree_value_has(a + ":" + b, c));
    CHECK_FALSE(tree_value_has(a, a.substr(1)));
    CHECK_FALSE(tree_value_has(a + "x", a));
    CHECK_FALSE(tree_value_has("", ""));
    CHECK_FALSE(tree_value_has(a, ""));
}

TEST_CASE("sweep_tree: a leader of the tree takes its whole process group down") {
    // The test's child leads a group of its own with eight members that are
    // not its tree's by any mark (no marker, not our children): only the
    // group reaches them, as it reaches a fork bomb's newest processes.
    int pids[2];
    REQUIRE(::pipe2(pids, O_CLOEXEC) == 0);
    const pid_t leader = ::fork();
    REQUIRE(leader >= 0);
    if (leader == 0) {
        ::setpgid(0, 0);
        for (int i = 0; i < 8; ++i) {
            const pid_t member = ::fork();
            if (member == 0) {
                ::close(pids[1]);
                for (;;)
                    ::pause();
            }
            if (member > 0 && ::write(pids[1], &member, sizeof member) < 0) ::_exit(1);
        }
        ::close(pids[1]);
        for (;;)
            ::pause();
    }
    ::setpgid(leader, leader);
    ::close(pids[1]);
    std::vector<forkspawn::UniqueFd> members;
    pid_t member = 0;
    // Exactly eight: the members hold the pipe's write end too.
    while (members.size() < 8 &&
           ::read(pids[0], &member, sizeof member) == static_cast<ssize_t>(sizeof member))
        members.push_back(forkspawn::sys::pidfd_open(member));
    ::close(pids[0]);
    REQUIRE(members.size() == 8);

    const auto result =
        sweep_tree("", ::getpid(), {}, forkspawn::Clock::now() + std::chrono::seconds(20));
    CHECK(result.complete);
    for (const auto& m : members) {
        REQUIRE(m);
        pollfd p{m.get(), POLLIN, 0};
        CHECK(::poll(&p, 1, 5'000) == 1); // exited
    }
    for (const auto& m : members) // what the sweep missed, if it failed
        if (m) forkspawn::sys::pidfd_send_signal(m.get(), SIGKILL);
    int status = 0;
    const forkspawn::UniqueFd leader_fd = forkspawn::sys::pidfd_open(leader);
    pollfd lp{leader_fd.get(), POLLIN, 0};
    const bool leader_gone = leader_fd && ::poll(&lp, 1, 5'000) == 1;
    if (!leader_gone) ::kill(leader, SIGKILL); // unreaped: still ours
    REQUIRE(::waitpid(leader, &status, 0) == leader);
    CHECK(leader_gone);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
}

TEST_CASE("process_start_ticks: field 22 of /proc/PID/stat, whatever the name holds") {
    // A child whose name has spaces and parens, as a hostile one could.
    int named[2];
    REQUIRE(::pipe(named) == 0);
    const pid_t child = ::fork();
    if (child == 0) {
        ::prctl(PR_SET_NAME, ") 1 2 (x");
        [[maybe_unused]] auto n = ::write(named[1], "n", 1);
        for (;;)
            ::pause();
    }
    REQUIRE(child > 0);
    ::close(named[1]);
    char byte = 0;
    REQUIRE(::read(named[0], &byte, 1) == 1); // named now
    ::close(named[0]);
    std::string stat;
    std::getline(std::ifstream("/proc/" + std::to_string(child) + "/stat"), stat);
    REQUIRE(stat.find(") 1 2 (x)") != std::string::npos);
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    for (int n = 3; n <= 22; ++n)
        fields >> field; // the 22nd is last
    const std::uint64_t expected = std::stoull(field);
    CHECK(process_start_ticks(child) == expected);
    // Still readable as a zombie; 0 once reaped.
    ::kill(child, SIGKILL);
    siginfo_t info{};
    REQUIRE(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT) == 0);
    CHECK(process_start_ticks(child) == expected);
    ::waitpid(child, nullptr, 0);
    CHECK(process_start_ticks(child) == 0);
}

TEST_CASE("kill_escaped: a helper started by the reap (a new guardian) is spared by its new pid") {
    // An escaped child to kill, and a helper that the first reap starts, as
    // the supervisor's reap starts a new guardian for one that died during
    // the end-of-run kill.
    const pid_t escaped = ::fork();
    REQUIRE(escaped >= 0);
    if (escaped == 0)
        for (;;)
            ::pause();
    pid_t helper = 0;
    bool escaped_reaped = false;
    const auto reap = [&] {
        if (helper == 0) {
            helper = ::fork();
            if (helper == 0)
                for (;;)
                    ::pause();
        }
        if (!escaped_reaped && ::waitpid(escaped, nullptr, WNOHANG) == escaped)
            escaped_reaped = true;
    };
    std::size_t killed = 0;
    const bool clean = kill_escaped(
        "", [&] { return std::vector<pid_t>{helper}; },
        forkspawn::Clock::now() + std::chrono::seconds(20), reap,
        [&](std::size_t n) { killed += n; });
    REQUIRE(helper > 0);
    // Not stopped, not killed: its state is S (sleeping in pause).
    std::ifstream stat("/proc/" + std::to_string(helper) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto state = line.substr(line.rfind(')') + 2, 1);
    ::kill(helper, SIGKILL);
    ::waitpid(helper, nullptr, 0);
    if (!escaped_reaped) {
        ::kill(escaped, SIGKILL);
        ::waitpid(escaped, nullptr, 0);
    }
    CHECK(clean);
    CHECK(escaped_reaped);
    CHECK(killed >= 1);
    CHECK(state == "S");
}
