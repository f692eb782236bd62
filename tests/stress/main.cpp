// SPDX-License-Identifier: MIT
// The stress suite's doctest main. Like the integration suite's: the test
// process is a child subreaper (escapees come back to it and are found),
// --spawn-backend=KEY selects the backend under test. --stress-cases=N is
// how many random cases a test runs unless FORKSPAWN_STRESS_CASES says
// otherwise (see tests/CMakeLists.txt for the quick and long passes).
#define DOCTEST_CONFIG_IMPLEMENT
#include <csignal>
#include <cstdlib>
#include <doctest/doctest.h>
#include <string_view>
#include <sys/prctl.h>

int main(int argc, char** argv) {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    ::signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg.starts_with("--spawn-backend="))
            ::setenv("FORKSPAWN_TEST_BACKEND", argv[i] + 16, 1);
        else if (arg.starts_with("--stress-cases="))
            ::setenv("FORKSPAWN_STRESS_DEFAULT_CASES", argv[i] + 15, 1);
    }
    return doctest::Context(argc, argv).run();
}
