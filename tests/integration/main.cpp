#define DOCTEST_CONFIG_IMPLEMENT
#include <csignal>
#include <doctest/doctest.h>
#include <sys/prctl.h>

int main(int argc, char** argv) {
    // Orphans of a forkspawn run come back to the test process, where
    // check_nothing_left() finds them instead of init silently reaping them.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    ::signal(SIGPIPE, SIG_IGN); // a forkspawn that stops reading stdin must not kill the tests
    return doctest::Context(argc, argv).run();
}
