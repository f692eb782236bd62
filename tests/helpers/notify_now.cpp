// SPDX-License-Identifier: MIT
// A fast sd_notify sender for the readiness tests: sends each argument as
// one datagram to $NOTIFY_SOCKET ("@name": abstract) from its first
// instructions, before a supervisor may have learnt its pid, then exits.
// libc only, so that it gets there within microseconds of its execve.
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char** argv) {
    const char* name = std::getenv("NOTIFY_SOCKET");
    if (!name || !*name) return 2;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::size_t len = std::strlen(name);
    if (len >= sizeof addr.sun_path) return 2;
    std::memcpy(addr.sun_path, name, len);
    if (name[0] == '@') addr.sun_path[0] = '\0';
    const int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return 3;
    for (int i = 1; i < argc; ++i)
        if (::sendto(sock, argv[i], std::strlen(argv[i]), 0, reinterpret_cast<sockaddr*>(&addr),
                     static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len)) < 0)
            return 3;
    return 0;
}
