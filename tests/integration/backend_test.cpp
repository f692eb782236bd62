// SPDX-License-Identifier: MIT
// The backend under test, driven directly as the supervisor drives it: a
// completion must say when its child was forked, so an actor's started_ms
// is the moment it began, however late the event loop takes the completion.
#include "harness.hpp"

#include "forkspawn/backend.hpp"
#include "forkspawn/unique_fd.hpp"

#include <chrono>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace forkspawn;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("backend: a completion carries the time its child was forked") {
    auto b = backend::make_backend(test::backend());
    REQUIRE(b);
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    REQUIRE(null);
    char program[] = "/bin/true";
    char* argv[] = {program, nullptr};
    char* envp[] = {nullptr};
    backend::SpawnRequest request;
    request.id = 7;
    request.args.path = program;
    request.args.argv = argv;
    request.args.envp = envp;
    request.args.stdin_fd = request.args.stdout_fd = request.args.stderr_fd = null.get();
    request.args.parent_pid = ::getpid();

    const auto before = Clock::now();
    b->submit(request);
    std::vector<backend::SpawnCompletion> done;
    const auto until = before + 20s;
    while (done.empty() && Clock::now() < until) {
        pollfd p{b->ready_fd(), POLLIN, 0};
        ::poll(&p, 1, 100); // a deadline on every wait
        for (auto& c : b->take_completions())
            done.push_back(std::move(c));
    }
    const auto after = Clock::now();
    REQUIRE(done.size() == 1);
    CHECK(done[0].id == 7);
    REQUIRE(done[0].pid > 0);
    REQUIRE(done[0].pidfd);
    CHECK(done[0].forked_at >= before);
    CHECK(done[0].forked_at <= after);

    siginfo_t info{};
    pollfd exited{done[0].pidfd.get(), POLLIN, 0};
    CHECK(::poll(&exited, 1, 20'000) == 1);
    CHECK(::waitid(P_PIDFD, static_cast<id_t>(done[0].pidfd.get()), &info, WEXITED) == 0);
    CHECK(info.si_code == CLD_EXITED);
    CHECK(info.si_status == 0);
}

TEST_CASE("backend: every backend spawns what the kernel takes: a 300 KB environment, 200 KB of argv") {
    // mp_forkserver sent each request as one datagram: over about 208 KB
    // (argv plus environment) it failed with EMSGSIZE, and a large inherited
    // environment failed every spawn, nested sub-supervisors included.
    std::vector<std::pair<std::string, std::string>> env;
    for (const char* name : {"BIG1", "BIG2", "BIG3"})
        env.emplace_back(name, std::string(100'000, 'e'));
    nlohmann::json argv = {"sh", "-c",
                           "echo \"sizes ${#BIG1} ${#BIG2} ${#BIG3} $# ${#1}\"", "sh"};
    for (int i = 0; i < 200; ++i)
        argv.push_back(std::string(1000, 'a'));
    const nlohmann::json spec = {
        {"name", "root"},
        {"actors",
         {{{"name", "a"}, {"cmd", argv}},
          {{"name", "n"}, {"actors", {{{"name", "b"}, {"cmd", argv}}}}}}}};
    const auto r = test::run({.args = {"--report=json", "-"}, .stdin_data = spec.dump(), .env = env});
    INFO(r.err.substr(0, 3000));
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("root/a | sizes 100000 100000 100000 200 1000") != std::string::npos);
    CHECK(r.err.find("root/n/b | sizes 100000 100000 100000 200 1000") != std::string::npos);
    test::check_nothing_left(r.tag);
}
