// SPDX-License-Identifier: MIT
// --help, the man page and the shell completions must name the same commands
// and options: a new option that is not documented fails here.
#include "harness.hpp"

#include <doctest/doctest.h>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

using namespace forkspawn::test;

namespace {

std::set<std::string> long_options(const std::string& help) {
    std::set<std::string> out;
    const std::regex option(R"((--[a-z][a-z-]*))");
    for (auto it = std::sregex_iterator(help.begin(), help.end(), option);
         it != std::sregex_iterator(); ++it)
        out.insert((*it)[1]);
    return out;
}

} // namespace

TEST_CASE("help, man page and completions agree") {
    const std::string root = std::string(FORKSPAWN_EXAMPLES_DIR) + "/..";
    // The man page escapes '-' as '\-'.
    std::string man = slurp_file(root + "/man/forkspawn.1");
    man = std::regex_replace(man, std::regex(R"(\\-)"), "-");
    const std::string bash = slurp_file(root + "/completions/forkspawn.bash");
    const std::string zsh = slurp_file(root + "/completions/_forkspawn");
    const std::string fish = slurp_file(root + "/completions/forkspawn.fish");
    REQUIRE(!man.empty());

    const auto top = run({.args = {"--help"}});
    REQUIRE(top.exit_code == 0);
    // Subcommands listed by --help.
    const std::regex subcommand(R"(^  ([a-z]+)\s{2,})", std::regex::multiline);
    std::set<std::string> commands;
    std::string help_all = top.out;
    for (auto it = std::sregex_iterator(top.out.begin(), top.out.end(), subcommand);
         it != std::sregex_iterator(); ++it)
        commands.insert((*it)[1]);
    CHECK(commands.count("check") == 1);
    for (const auto& c : commands) {
        INFO("command ", c);
        CHECK(man.find(".B forkspawn " + c) != std::string::npos);
        CHECK(bash.find(c) != std::string::npos);
        CHECK(zsh.find("'" + c + ":") != std::string::npos);
        CHECK(fish.find("-a " + c) != std::string::npos);
        const auto sub = run({.args = {c, "--help"}});
        CHECK(sub.exit_code == 0);
        help_all += sub.out;
    }
    for (const auto& option : long_options(help_all)) {
        INFO("option ", option);
        CHECK(man.find(option) != std::string::npos);
        CHECK(bash.find(option) != std::string::npos);
        CHECK(zsh.find(option) != std::string::npos);
        CHECK(fish.find("-l " + option.substr(2)) != std::string::npos);
    }
}
