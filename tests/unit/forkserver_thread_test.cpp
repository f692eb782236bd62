// SPDX-License-Identifier: MIT
// The subint_forkserver backend's fork without exec (spawn_nursery: its
// sub-supervisors are forks that run on): made only while the forkserver thread and the parked caller
// are the process's only threads, refused with the reason otherwise.
#include "forkspawn/backend.hpp"

#include <doctest/doctest.h>
#include <future>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace forkspawn;

namespace {

// The child side: a fork of this test process that leaves at once.
void exit_at_once(void*) {
    ::_exit(0);
}

// Reaps the child through its pidfd; its exit code.
int reap(const backend::SpawnCompletion& done) {
    siginfo_t info{};
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(done.pidfd.get()), &info,
                 WEXITED) != 0)
        return -1;
    return info.si_status;
}

} // namespace

TEST_CASE("subint_forkserver forks a nursery child only while its two threads are the only ones") {
    const auto forkserver = backend::make_backend("subint_forkserver");
    backend::NurseryRequest request;
    request.run = &exit_at_once;

    request.id = 1;
    const auto done = forkserver->spawn_nursery(request);
    REQUIRE(done.pid > 0);
    CHECK(done.refused.empty());
    CHECK(reap(done) == 0);

    // A thread the backend did not make: it could hold a lock (malloc's,
    // stdio's) at the moment of the fork, and the child would inherit it held.
    std::promise<void> release;
    std::thread extra([released = release.get_future()] { released.wait(); });
    request.id = 2;
    const auto refused = forkserver->spawn_nursery(request);
    release.set_value();
    extra.join();
    if (refused.pidfd) reap(refused);
    CHECK(refused.pid < 0);
    CHECK_FALSE(refused.pidfd);
    INFO(refused.refused);
    CHECK(refused.refused.find("threads") != std::string::npos);
    CHECK(refused.refused.find("forkserver thread") != std::string::npos);

    // The extra thread is gone: forks without exec are made again.
    request.id = 3;
    const auto again = forkserver->spawn_nursery(request);
    REQUIRE(again.pid > 0);
    CHECK(reap(again) == 0);
}
