// SPDX-License-Identifier: MIT
#define DOCTEST_CONFIG_IMPLEMENT
#include "forkspawn/backend.hpp"

#include <csignal>
#include <cstdlib>
#include <doctest/doctest.h>
#include <string_view>
#include <sys/prctl.h>

int main(int argc, char** argv) {
    // The mp_forkserver backend starts its server as a fresh image of the
    // running program: backend_test.cpp drives that backend from here.
    if (argc == 2 && std::string_view(argv[1]) == "__mp_forkserver")
        forkspawn::backend::mp_forkserver_main();
    // Orphans of a forkspawn run come back to the test process, where
    // check_nothing_left() finds them instead of init silently reaping them.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    ::signal(SIGPIPE, SIG_IGN); // a forkspawn that stops reading stdin must not kill the tests
    // --spawn-backend=KEY (ctest passes one per backend) selects the backend
    // under test; see harness.hpp backend().
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg.starts_with("--spawn-backend="))
            ::setenv("FORKSPAWN_TEST_BACKEND", argv[i] + 16, 1);
    }
    return doctest::Context(argc, argv).run();
}
