// The mp_forkserver wire format, shared by the supervisor's side
// (mp_forkserver.cpp) and the server process (mp_forkserver_server.cpp):
// requests as length-prefixed bytes with their fds as SCM_RIGHTS, replies
// as a fixed struct. Not a public header.
#pragma once

#include "forkspawn/backend.hpp"
#include "forkspawn/sys.hpp"
#include "forkspawn/unique_fd.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <type_traits>
#include <vector>

namespace forkspawn::backend::mp {

constexpr std::size_t k_max_message = 1u << 20;
constexpr int k_max_fds = 9; // stdin, stdout, stderr, fd3 to fd6, notify, a payload memfd
// A request larger than this (argv and environment up to the kernel's own
// ARG_MAX) travels in a memfd: a datagram this size always fits the socket.
constexpr std::size_t k_inline_limit = 64 * 1024;
// The first byte of a request datagram: where the request's bytes are.
constexpr char k_inline = 0, k_in_memfd = 1;

// A length-prefixed binary encoding: argv and environment strings are bytes,
// not text, and must arrive exactly.
class Writer {
  public:
    template <typename T> void put(T v) {
        static_assert(std::is_trivially_copyable_v<T>);
        m_out.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    void put_string(const char* s) {
        const auto n = static_cast<std::uint32_t>(s ? std::strlen(s) : 0);
        put(n);
        m_out.append(s ? s : "", n);
    }
    void put_strings(char* const* list) {
        std::uint32_t n = 0;
        for (char* const* p = list; p && *p; ++p)
            ++n;
        put(n);
        for (char* const* p = list; p && *p; ++p)
            put_string(*p);
    }
    const std::string& data() const { return m_out; }

  private:
    std::string m_out;
};

class Reader {
  public:
    Reader(const char* data, std::size_t size) : m_data(data), m_size(size) {}
    template <typename T> bool get(T& v) {
        if (m_size - m_pos < sizeof v) return false;
        std::memcpy(&v, m_data + m_pos, sizeof v);
        m_pos += sizeof v;
        return true;
    }
    bool get_string(std::string& s) {
        std::uint32_t n;
        if (!get(n) || m_size - m_pos < n) return false;
        s.assign(m_data + m_pos, n);
        m_pos += n;
        return true;
    }
    bool get_strings(std::vector<std::string>& list) {
        std::uint32_t n;
        if (!get(n)) return false;
        list.resize(n);
        for (auto& s : list)
            if (!get_string(s)) return false;
        return true;
    }

  private:
    const char* m_data;
    std::size_t m_size;
    std::size_t m_pos = 0;
};

struct Reply {
    std::uint64_t id;
    std::int32_t pid;       // -1: failed
    std::int32_t error;     // errno of the failed call
    std::int64_t forked_ns; // steady_clock (CLOCK_MONOTONIC, one for all processes) before the fork
};

inline ssize_t send_with_fds(int sock, const void* data, std::size_t size, const int* fds,
                             int nfds) {
    iovec iov{const_cast<void*>(data), size};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * k_max_fds)];
    if (nfds > 0) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<std::size_t>(nfds));
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<std::size_t>(nfds));
        std::memcpy(CMSG_DATA(c), fds, sizeof(int) * static_cast<std::size_t>(nfds));
    }
    return sys::retry_eintr([&] { return ::sendmsg(sock, &msg, MSG_NOSIGNAL); });
}

// Receives one datagram into buf and its fds (close-on-exec). Returns its
// size, 0 at EOF, -1 on error (errno set).
inline ssize_t recv_with_fds(int sock, char* buf, std::size_t size, std::vector<UniqueFd>& fds,
                             int flags) {
    iovec iov{buf, size};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * k_max_fds)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n =
        sys::retry_recv([&] { return ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags); });
    if (n < 0) return n;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t k = 0; k < count; ++k) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
            fds.emplace_back(fd);
        }
    }
    return n;
}

// Which of SpawnArgs' fds travel with a request, in this order.
enum FdBit : std::uint8_t {
    k_stdin = 1,
    k_stdout = 2,
    k_stderr = 4,
    k_fd3 = 8,
    k_fd4 = 16,
    k_fd5 = 32,
    k_fd6 = 64,
    k_notify = 128 // the notification fd; its target follows the started slot
};

// A request's flags byte.
enum FlagBit : std::uint8_t { k_has_cwd = 1, k_take_terminal = 2 };

// The server's loop: answers requests on `sock` until EOF, then exits
// (mp_forkserver_server.cpp). `guardian` and `page_fd` may be -1.
[[noreturn]] void serve(int sock, int guardian, int page_fd);

} // namespace forkspawn::backend::mp
