// SPDX-License-Identifier: MIT
// The helper actor of the benches: tells the bench it is running by writing
// one ActorEvent to a fifo (forkspawn passes an actor no fd but 0, 1 and 2,
// so the fifo is opened by path), then becomes what the bench needs.
//
//   forkspawn_bench_actor sleep FIFO      'R', then execs sleep 1000
//   forkspawn_bench_actor stubborn FIFO   'R', then ignores SIGTERM for ever,
//                                         writing a 'T' event (with the time
//                                         it arrived) each time it gets one
//   forkspawn_bench_actor ready-fd FIFO   'Y', then a newline on fd 3 (s6's
//                                         notification fd), then waits
//   forkspawn_bench_actor notify FIFO     'Y', then READY=1 to NOTIFY_SOCKET
//                                         (sd_notify), then waits
//   forkspawn_bench_actor mark FIFO       'R', and exits
//
// libc only (linked --as-needed: no libstdc++ to load), so that its own
// start-up stays small next to what is measured.
#include <cerrno>
#include <cstddef>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

struct ActorEvent {
    std::int32_t pid;
    std::int32_t kind;
    std::int64_t t_ns;
};

int g_fifo = -1;

void tell(std::int32_t kind) {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const ActorEvent e{static_cast<std::int32_t>(::getpid()), kind,
                       static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec};
    // Async-signal-safe; 16 bytes < PIPE_BUF, so one atomic write.
    [[maybe_unused]] const ssize_t n = ::write(g_fifo, &e, sizeof e);
}

void on_term(int) {
    const int saved = errno;
    tell('T');
    errno = saved;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    g_fifo = ::open(argv[2], O_WRONLY | O_CLOEXEC);
    if (g_fifo < 0) return 3;
    if (std::strcmp(argv[1], "sleep") == 0) {
        tell('R');
        char sleep_name[] = "sleep";
        char forever[] = "1000";
        char* sleep_argv[] = {sleep_name, forever, nullptr};
        ::execv("/bin/sleep", sleep_argv);
        return 127;
    }
    if (std::strcmp(argv[1], "mark") == 0) {
        tell('R');
        return 0;
    }
    if (std::strcmp(argv[1], "ready-fd") == 0) {
        tell('Y');
        if (::write(3, "\n", 1) != 1) return 4;
        for (;;)
            ::pause();
    }
    if (std::strcmp(argv[1], "notify") == 0) {
        const char* name = std::getenv("NOTIFY_SOCKET");
        if (!name || !*name) return 4;
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        const std::size_t len = std::strlen(name);
        if (len >= sizeof addr.sun_path) return 4;
        std::memcpy(addr.sun_path, name, len);
        if (name[0] == '@') addr.sun_path[0] = '\0'; // abstract
        const int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        tell('Y');
        if (sock < 0 || ::sendto(sock, "READY=1", 7, 0, reinterpret_cast<sockaddr*>(&addr),
                                 static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len)) < 0)
            return 4;
        for (;;)
            ::pause();
    }
    if (std::strcmp(argv[1], "stubborn") == 0) {
        struct sigaction sa {};
        sa.sa_handler = on_term;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        ::sigaction(SIGTERM, &sa, nullptr);
        tell('R');
        for (;;)
            ::pause();
    }
    return 2;
}
