// SPDX-License-Identifier: MIT
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
constexpr int k_max_fds = 10; // stdin, stdout, stderr, fd3 to fd6, notify, cgroup, a payload memfd
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
enum FdBit : std::uint16_t {
    k_stdin = 1,
    k_stdout = 2,
    k_stderr = 4,
    k_fd3 = 8,
    k_fd4 = 16,
    k_fd5 = 32,
    k_fd6 = 64,
    k_notify = 128, // the notification fd; its target follows the started slot
    k_cgroup = 256  // the actor's cgroup.procs
};

// A request's flags byte.
enum FlagBit : std::uint8_t { k_has_cwd = 1, k_take_terminal = 2 };

// The process attributes of SpawnArgs (after the environment): the cgroup's
// path, the limits, nice, umask, groups, gid, uid.
inline void put_attributes(Writer& w, const SpawnArgs& a) {
    w.put_string(a.cgroup_path);
    w.put(static_cast<std::int32_t>(a.limit_count));
    for (int k = 0; k < a.limit_count; ++k)
        w.put(a.limits[k]);
    w.put(static_cast<std::uint8_t>(a.set_nice));
    w.put(static_cast<std::int32_t>(a.nice));
    w.put(static_cast<std::int32_t>(a.umask));
    w.put(static_cast<std::uint8_t>(a.set_groups));
    w.put(static_cast<std::int32_t>(a.group_count));
    for (int k = 0; k < a.group_count; ++k)
        w.put(a.groups[k]);
    w.put(static_cast<std::uint8_t>(a.set_gid));
    w.put(a.gid);
    w.put(static_cast<std::uint8_t>(a.set_uid));
    w.put(a.uid);
}
// The inverse: `groups` and `cgroup_path` hold what `a` points to. False
// when the bytes are not such a record.
inline bool get_attributes(Reader& in, SpawnArgs& a, std::vector<gid_t>& groups,
                           std::string& cgroup_path) {
    std::int32_t limits = 0, nice = 0, umask = -1, group_count = 0;
    std::uint8_t set_nice = 0, set_groups = 0, set_gid = 0, set_uid = 0;
    if (!in.get_string(cgroup_path) || !in.get(limits) || limits < 0 ||
        limits > SpawnArgs::k_max_limits)
        return false;
    a.limit_count = limits;
    for (int k = 0; k < limits; ++k)
        if (!in.get(a.limits[k])) return false;
    if (!in.get(set_nice) || !in.get(nice) || !in.get(umask) || !in.get(set_groups) ||
        !in.get(group_count) || group_count < 0 || group_count > 65536)
        return false;
    groups.resize(static_cast<std::size_t>(group_count));
    for (auto& g : groups)
        if (!in.get(g)) return false;
    if (!in.get(set_gid) || !in.get(a.gid) || !in.get(set_uid) || !in.get(a.uid)) return false;
    a.cgroup_path = cgroup_path.empty() ? nullptr : cgroup_path.c_str();
    a.set_nice = set_nice != 0;
    a.nice = nice;
    a.umask = umask;
    a.set_groups = set_groups != 0;
    a.groups = groups.data();
    a.group_count = group_count;
    a.set_gid = set_gid != 0;
    a.set_uid = set_uid != 0;
    return true;
}

// The server's loop: answers requests on `sock` until EOF, then exits
// (mp_forkserver_server.cpp). `guardian` and `page_fd` may be -1.
[[noreturn]] void serve(int sock, int guardian, int page_fd);

} // namespace forkspawn::backend::mp
