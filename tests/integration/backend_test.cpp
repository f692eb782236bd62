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
