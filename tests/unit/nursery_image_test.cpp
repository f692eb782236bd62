// SPDX-License-Identifier: MIT
// The fresh-image form of a sub-supervisor (nursery_image.hpp): what
// run_reexec_nursery expects on the other side of the execve.
#include "forkspawn/nursery_image.hpp"
#include "forkspawn/spec.hpp"

#include <cerrno>
#include <cstring>
#include <doctest/doctest.h>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace forkspawn;

namespace {

spec::Actor nursery() {
    auto parsed = spec::parse(R"({"name": "outer", "actors": [{"name": "sub", "actors": [
        {"name": "a", "cmd": ["true"]}, {"name": "b", "cmd": ["sleep", "1"], "daemon": true}]}]})");
    REQUIRE(parsed.spec);
    return parsed.spec->root.actors.at(0);
}

std::string read_all(int fd) {
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(text.size()))) > 0)
        text.append(buf, static_cast<std::size_t>(n));
    return text;
}

} // namespace

TEST_CASE("nursery image: forkspawn's __nursery mode with the channel, spec, guardian, page") {
    const spec::Actor sub = nursery();
    std::int32_t slot = 0;
    backend::NurseryRequest request;
    request.id = 7;
    request.subtree = &sub;
    request.options = R"({"path":"root/sub"})";
    request.channel = 11;
    request.started_slot = &slot;
    const backend::NurseryImage image(request, 12, 13);
    REQUIRE(image.failed_call() == nullptr);
    const backend::SpawnArgs& args = image.args();
    CHECK(std::string(args.path) == "/proc/self/exe");
    REQUIRE(args.argv != nullptr);
    CHECK(std::string(args.argv[0]) == "forkspawn");
    CHECK(std::string(args.argv[1]) == "__nursery");
    CHECK(std::string(args.argv[2]) == request.options);
    CHECK(args.argv[3] == nullptr);
    CHECK(args.fd3 == 11);
    CHECK(args.fd5 == 12);
    CHECK(args.fd6 == 13);
    CHECK(args.started_slot == &slot);
    CHECK(args.parent_pid == ::getpid());
    // fd 4: the subtree, written out so that parsing it gives the same tree.
    REQUIRE(args.fd4 >= 0);
    const std::string text = read_all(args.fd4);
    CHECK(text == spec::subtree_json(sub));
    auto again = spec::parse(text);
    REQUIRE(again.spec);
    CHECK(again.spec->root.actors.size() == 2);
    CHECK(again.spec->root.actors.at(1).daemon);
}

TEST_CASE("nursery image: a memfd that cannot be made is a failed call, not a crash") {
    const spec::Actor sub = nursery();
    const pid_t pid = ::fork();
    if (pid == 0) {
        // Every fd number taken: memfd_create fails with EMFILE.
        const rlimit none{3, 3};
        for (int fd = 3; fd < 64; ++fd)
            ::close(fd);
        if (::setrlimit(RLIMIT_NOFILE, &none) < 0) ::_exit(10);
        backend::NurseryRequest request;
        request.subtree = &sub;
        const backend::NurseryImage image(request, -1, -1);
        if (image.failed_call() == nullptr) ::_exit(11);
        if (std::strcmp(image.failed_call(), "memfd_create") != 0) ::_exit(12);
        ::_exit(image.error() == EMFILE ? 0 : 13);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
