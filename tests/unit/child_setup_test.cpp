// SPDX-License-Identifier: MIT
// The set-up every child forkspawn makes: fds put in place (a swap
// included), nothing else of the parent's left, its own group, death with
// its parent. Each case runs in a forked child that reports by exit code.
#include "forkspawn/spawn_args.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace forkspawn::backend;

namespace {

ino_t inode(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

// Runs `body` in a child; its exit code (0: all held), or -1.
template <typename F> int in_child(F body) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(body());
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

} // namespace

TEST_CASE("child set-up: fds that are each other's targets are swapped, not lost") {
    CHECK(in_child([] {
              int a[2], b[2];
              if (::pipe(a) < 0 || ::pipe(b) < 0) return 10;
              if (::dup2(a[0], 3) < 0 || ::dup2(b[0], 4) < 0) return 11;
              const ino_t was3 = inode(3), was4 = inode(4);
              const FdMove swap[2] = {{4, 3}, {3, 4}};
              if (!place_fds(swap, 2, false)) return 12;
              if (inode(3) != was4 || inode(4) != was3) return 13;
              // Without keep_cloexec the targets survive an exec.
              if (::fcntl(3, F_GETFD) != 0 || ::fcntl(4, F_GETFD) != 0) return 14;
              return 0;
          }) == 0);
}

TEST_CASE("child set-up: the targets keep close-on-exec for a child that does not exec") {
    CHECK(in_child([] {
              int a[2];
              if (::pipe2(a, O_CLOEXEC) < 0) return 10;
              const FdMove move[1] = {{a[0], 5}};
              if (!place_fds(move, 1, true)) return 11;
              return ::fcntl(5, F_GETFD) == FD_CLOEXEC ? 0 : 12;
          }) == 0);
}

TEST_CASE("child set-up: own group, its fds from 3, nothing else of the parent's") {
    const pid_t parent = ::getpid();
    CHECK(in_child([parent] {
              int a[2], b[2];
              if (::pipe(a) < 0 || ::pipe(b) < 0) return 10;
              const int stray = ::fcntl(a[1], F_DUPFD, 20); // an fd the parent leaked
              if (stray < 0) return 11;
              const ino_t want3 = inode(b[0]), want5 = inode(a[0]);
              sigset_t mask;
              sigemptyset(&mask);
              sigaddset(&mask, SIGUSR2);
              ChildSetup setup;
              setup.mask = &mask;
              setup.parent_pid = parent;
              setup.fds[0] = {b[0], 3};
              setup.fds[1] = {-1, 4}; // none: fd 4 must not be left as it was
              setup.fds[2] = {a[0], 5};
              setup.fd_count = 3;
              setup_child(setup);
              if (::getpgid(0) != ::getpid()) return 12;
              if (inode(3) != want3 || inode(5) != want5) return 13;
              if (::fcntl(4, F_GETFD) != -1 || ::fcntl(stray, F_GETFD) != -1) return 14;
              for (int fd = 6; fd < 64; ++fd)
                  if (::fcntl(fd, F_GETFD) != -1) return 15;
              sigset_t now;
              if (::sigprocmask(SIG_SETMASK, nullptr, &now) < 0 || !sigismember(&now, SIGUSR2))
                  return 16;
              return 0;
          }) == 0);
}

TEST_CASE("child set-up: a child whose parent is already gone does not go on") {
    CHECK(in_child([] {
              ChildSetup setup;
              setup.parent_pid = 1; // not our parent: as if it had died before the prctl
              setup_child(setup);
              return 0; // never reached
          }) == 1);
}
