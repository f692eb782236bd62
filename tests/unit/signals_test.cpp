// SPDX-License-Identifier: MIT
#include "forkspawn/signals.hpp"

#include <csignal>
#include <doctest/doctest.h>
#include <string>

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
    CHECK_FALSE(parse_signal("SIGSIGTERM"));
    CHECK_FALSE(parse_signal(" TERM"));
}

TEST_CASE("signals by number and real-time signals") {
    CHECK(parse_signal("15") == SIGTERM);
    CHECK(parse_signal("9") == SIGKILL);
    CHECK(parse_signal("1") == SIGHUP);
    CHECK(parse_signal(std::to_string(SIGRTMIN)) == SIGRTMIN);
    CHECK(parse_signal(std::to_string(SIGRTMAX)) == SIGRTMAX);
    CHECK(parse_signal("SIGRTMIN") == SIGRTMIN);
    CHECK(parse_signal("SIGRTMIN+3") == SIGRTMIN + 3);
    CHECK(parse_signal("rtmin+3") == SIGRTMIN + 3);
    CHECK(parse_signal("SIGRTMAX-1") == SIGRTMAX - 1);
    CHECK(parse_signal("RTMAX") == SIGRTMAX);
    CHECK(parse_signal("SIGRTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN)) == SIGRTMAX);
    // Out of range, reserved by the C library, malformed.
    CHECK_FALSE(parse_signal("0"));
    CHECK_FALSE(parse_signal("32"));
    CHECK_FALSE(parse_signal("33"));
    CHECK_FALSE(parse_signal(std::to_string(SIGRTMAX + 1)));
    CHECK_FALSE(parse_signal("1000"));
    CHECK_FALSE(parse_signal("-15"));
    CHECK_FALSE(parse_signal("+15"));
    CHECK_FALSE(parse_signal("SIGRTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN + 1)));
    CHECK_FALSE(parse_signal("SIGRTMIN-1"));
    CHECK_FALSE(parse_signal("SIGRTMAX+1"));
    CHECK_FALSE(parse_signal("SIGRTMIN+"));
    CHECK_FALSE(parse_signal("SIGRTMIN+x"));
    CHECK_FALSE(parse_signal("SIG15"));
}

TEST_CASE("signal numbers print as canonical names") {
    CHECK(signal_name(SIGTERM) == "SIGTERM");
    CHECK(signal_name(SIGKILL) == "SIGKILL");
    CHECK(signal_name(SIGABRT) == "SIGABRT");
    CHECK(signal_name(SIGIO) == "SIGIO");
    CHECK(signal_name(SIGRTMIN) == "SIGRTMIN");
    CHECK(signal_name(SIGRTMIN + 1) == "SIGRTMIN+1");
    CHECK(signal_name(32) == "SIG32");
    for (int signo = 1; signo <= SIGRTMAX; ++signo)
        if (signo < 32 || signo >= SIGRTMIN) CHECK(parse_signal(signal_name(signo)) == signo);
}
