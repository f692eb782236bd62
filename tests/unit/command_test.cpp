// SPDX-License-Identifier: MIT
#include "forkspawn/command.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <optional>
#include <string>
#include <unistd.h>

using forkspawn::backend::resolve_program;

TEST_CASE("resolve_program: the first absolute PATH entry holding the program") {
    CHECK(resolve_program("sh", "/nonexistent:/bin:/usr/bin") ==
          std::optional<std::string>("/bin/sh"));
    CHECK(resolve_program("forkspawn-no-such-program", "/usr/bin:/bin") == std::nullopt);
    CHECK(resolve_program("sh", "") == std::nullopt);
}

TEST_CASE("resolve_program: a name with a slash is used as given") {
    CHECK(resolve_program("./x", "/bin") == std::optional<std::string>("./x"));
    CHECK(resolve_program("/nonexistent/x", "/bin") ==
          std::optional<std::string>("/nonexistent/x"));
}

TEST_CASE("resolve_program: relative and empty PATH entries are skipped") {
    // Run from / so that each relative entry would find sh if it counted.
    const auto cwd = std::filesystem::current_path();
    REQUIRE(::chdir("/") == 0);
    CHECK(resolve_program("sh", "bin") == std::nullopt);
    CHECK(resolve_program("sh", "usr/bin:./bin:../bin") == std::nullopt);
    REQUIRE(::chdir("/bin") == 0);
    CHECK(resolve_program("sh", "") == std::nullopt);
    CHECK(resolve_program("sh", ":") == std::nullopt);
    CHECK(resolve_program("sh", ".") == std::nullopt);
    CHECK(resolve_program("sh", "bin:/bin") == std::optional<std::string>("/bin/sh"));
    std::filesystem::current_path(cwd);
}
