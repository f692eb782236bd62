// Fault injection for the integration tests, loaded with LD_PRELOAD into
// forkspawn (and inherited by everything it starts). Plain C calls only, no
// sanitizer runtime: it is loaded into sanitized and plain builds alike.
//
// FORKSPAWN_FAULT_EPOLL=PATH: epoll_wait fails with ENOMEM in the process
// whose pid is written in the file PATH (the test writes it once the tree is
// up, then wakes that process, e.g. with SIGUSR1). Every other process, and
// every call before the file names it, goes to the real epoll_wait.
#include <cerrno>
#include <cstdlib>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

namespace {

bool named_in(const char* path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    return std::atol(buf) == static_cast<long>(getpid());
}

} // namespace

extern "C" int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
    using Fn = int (*)(int, struct epoll_event*, int, int);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "epoll_wait"));
    const char* path = std::getenv("FORKSPAWN_FAULT_EPOLL");
    if (path && named_in(path)) {
        errno = ENOMEM;
        return -1;
    }
    return real(epfd, events, maxevents, timeout);
}
