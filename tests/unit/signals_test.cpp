#include "forkspawn/signals.hpp"

#include <csignal>
#include <doctest/doctest.h>

using namespace forkspawn;

TEST_CASE("signal names parse with or without SIG, in any case") {
    CHECK(parse_signal("SIGTERM") == SIGTERM);
    CHECK(parse_signal("TERM") == SIGTERM);
    CHECK(parse_signal("sigterm") == SIGTERM);
    CHECK(parse_signal("Kill") == SIGKILL);
    CHECK(parse_signal("SIGINT") == SIGINT);
    CHECK(parse_signal("HUP") == SIGHUP);
    CHECK(parse_signal("SIGUSR2") == SIGUSR2);
    CHECK(parse_signal("IOT") == SIGABRT);
    CHECK_FALSE(parse_signal("SIG"));
    CHECK_FALSE(parse_signal(""));
    CHECK_FALSE(parse_signal("SIGFOO"));
    CHECK_FALSE(parse_signal("15"));
    CHECK_FALSE(parse_signal("SIGSIGTERM"));
    CHECK_FALSE(parse_signal(" TERM"));
}

TEST_CASE("signal numbers print as canonical names") {
    CHECK(signal_name(SIGTERM) == "SIGTERM");
    CHECK(signal_name(SIGKILL) == "SIGKILL");
    CHECK(signal_name(SIGABRT) == "SIGABRT");
    CHECK(signal_name(SIGIO) == "SIGIO");
    CHECK(signal_name(SIGRTMIN + 1) == "SIG" + std::to_string(SIGRTMIN + 1));
    for (int signo = 1; signo < 32; ++signo)
        CHECK(parse_signal(signal_name(signo)) == signo);
}
