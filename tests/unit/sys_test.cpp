// SPDX-License-Identifier: MIT
#include "forkspawn/sys.hpp"
#include "forkspawn/unique_fd.hpp"

#include <cerrno>
#include <doctest/doctest.h>
#include <string>
#include <sys/socket.h>
#include <vector>

using namespace forkspawn;

namespace {

// A recv stand-in that fails with the given errnos first, then returns 1.
struct Script {
    std::vector<int> errors;
    std::size_t calls = 0;
    ssize_t operator()() {
        if (calls < errors.size()) {
            errno = errors[calls++];
            return -1;
        }
        ++calls;
        return 1;
    }
};

std::string recv_text(int fd) {
    char buf[64];
    const ssize_t n = sys::retry_recv([&] { return ::recv(fd, buf, sizeof buf, MSG_DONTWAIT); });
    if (n < 0) return "error " + std::to_string(errno);
    return n == 0 ? "EOF" : std::string(buf, static_cast<std::size_t>(n));
}

} // namespace

TEST_CASE("retry_recv retries EINTR, and ECONNRESET once") {
    Script eintr{{EINTR, EINTR}};
    CHECK(sys::retry_recv(eintr) == 1);
    CHECK(eintr.calls == 3);

    Script reset{{ECONNRESET}};
    CHECK(sys::retry_recv(reset) == 1);
    CHECK(reset.calls == 2);

    // The kernel reports the reset once; a second one is a real error.
    Script twice{{ECONNRESET, EINTR, ECONNRESET}};
    CHECK(sys::retry_recv(twice) == -1);
    CHECK(errno == ECONNRESET);
    CHECK(twice.calls == 3);

    Script again{{EAGAIN}};
    CHECK(sys::retry_recv(again) == -1);
    CHECK(errno == EAGAIN);
}

// A sub-supervisor that exits with a cancel from its parent unread must
// not take the reports it sent before exiting with it.
TEST_CASE("a seqpacket peer that closed with our message unread: its messages still arrive") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0);
    UniqueFd parent(fds[0]);
    UniqueFd child(fds[1]);
    REQUIRE(::send(parent.get(), "cancel", 6, MSG_NOSIGNAL) == 6); // never read
    REQUIRE(::send(child.get(), "reaped", 6, MSG_NOSIGNAL) == 6);
    REQUIRE(::send(child.get(), "exit", 4, MSG_NOSIGNAL) == 4);
    child.reset();

    CHECK(recv_text(parent.get()) == "reaped");
    CHECK(recv_text(parent.get()) == "exit");
    CHECK(recv_text(parent.get()) == "EOF");
}
