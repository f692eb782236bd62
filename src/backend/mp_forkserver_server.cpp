// SPDX-License-Identifier: MIT
// The mp_forkserver server process: a small single-threaded process that
// forks on request (see mp_forkserver.cpp for who is whose parent). It runs
// either as a fork of the supervisor made before any spec runs, or as a
// fresh image (`forkspawn __mp_forkserver`).
#include "mp_wire.hpp"

#include "forkspawn/guardian_protocol.hpp"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace forkspawn::backend::mp {

namespace {

// The whole content of a request's memfd; empty when it cannot be read (the
// request then fails to parse and is answered EPROTO).
std::string read_payload(int fd) {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = sys::retry_eintr(
                [&] { return ::pread(fd, buf, sizeof buf, static_cast<off_t>(out.size())); })) > 0)
        out.append(buf, static_cast<std::size_t>(n));
    return n < 0 ? std::string() : out;
}

} // namespace

[[noreturn]] void serve(int sock, int guardian, int page_fd) {
    const StartedPage started = map_started_page(page_fd);
    std::int32_t* const page = started.slots;
    const std::size_t page_count = started.count;
    std::vector<char> data(k_max_message); // once: requests arrive one at a time
    for (;;) {
        std::vector<UniqueFd> fds;
        const ssize_t n = recv_with_fds(sock, data.data(), data.size(), fds, 0);
        if (n <= 0) ::_exit(0); // the supervisor is gone or done
        std::string payload;    // a request that came in a memfd (its last fd)
        if (data[0] == k_in_memfd && !fds.empty()) {
            payload = read_payload(fds.back().get());
            fds.pop_back();
        }
        Reader in = data[0] == k_in_memfd
                        ? Reader(payload.data(), payload.size())
                        : Reader(data.data() + 1, static_cast<std::size_t>(n) - 1);
        std::uint64_t id = 0;
        std::int32_t parent_pid = 0;
        std::uint16_t which = 0;
        std::uint8_t flags = 0;
        std::int32_t slot = -1;
        std::int32_t notify_target = -1;
        std::string path, cwd;
        std::vector<std::string> argv, envp;
        std::vector<gid_t> groups;
        std::string cgroup_path;
        SpawnArgs args;
        Reply reply{0, -1, EPROTO};
        if (in.get(id) && in.get(parent_pid) && in.get(which) && in.get_string(path) &&
            in.get(flags) && in.get(slot) && in.get(notify_target) && in.get_string(cwd) &&
            in.get_strings(argv) && in.get_strings(envp) &&
            get_attributes(in, args, groups, cgroup_path)) {
            reply.id = id;
            std::vector<char*> argv_ptrs, envp_ptrs;
            for (auto& s : argv)
                argv_ptrs.push_back(s.data());
            argv_ptrs.push_back(nullptr);
            for (auto& s : envp)
                envp_ptrs.push_back(s.data());
            envp_ptrs.push_back(nullptr);
            args.path = path.c_str();
            args.argv = argv_ptrs.data();
            args.envp = envp_ptrs.data();
            args.cwd = (flags & k_has_cwd) ? cwd.c_str() : nullptr;
            args.take_terminal = (flags & k_take_terminal) != 0;
            if (page && slot >= 0 && static_cast<std::size_t>(slot) < page_count)
                args.started_slot = page + slot;
            args.parent_pid = parent_pid;
            args.guardian_fd = guardian; // the child registers its own group
            std::size_t next = 0;
            auto take = [&](std::uint16_t bit) {
                return (which & bit) && next < fds.size() ? fds[next++].get() : -1;
            };
            args.stdin_fd = take(k_stdin);
            args.stdout_fd = take(k_stdout);
            args.stderr_fd = take(k_stderr);
            args.fd3 = take(k_fd3);
            args.fd4 = take(k_fd4);
            args.fd5 = take(k_fd5);
            args.fd6 = take(k_fd6);
            args.notify_fd = take(k_notify);
            args.cgroup_procs_fd = take(k_cgroup);
            args.notify_target = notify_target;
            if (notify_target < 3 || notify_target > 9) args.notify_fd = -1; // not ours to place
            int pipe_fds[2];
            if (::pipe2(pipe_fds, O_CLOEXEC) < 0) {
                reply.error = errno;
            } else {
                UniqueFd error_read(pipe_fds[0]), error_write(pipe_fds[1]);
                args.error_fd = error_write.get();
                // A fork whose parent is the supervisor (CLONE_PARENT).
                reply.forked_ns = std::chrono::steady_clock::now().time_since_epoch().count();
                const long pid =
                    ::syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr, nullptr, nullptr, 0);
                if (pid == 0) exec_child(args);
                if (pid > 0) guardian_notify(guardian, '+', static_cast<pid_t>(pid));
                if (pid < 0) {
                    reply.error = errno;
                } else {
                    reply.pid = static_cast<std::int32_t>(pid);
                    reply.error = 0;
                }
                error_write.reset();
                const int back = error_read.get();
                send_with_fds(sock, &reply, sizeof reply, &back, pid > 0 ? 1 : 0);
                continue;
            }
        }
        send_with_fds(sock, &reply, sizeof reply, nullptr, 0);
    }
}

} // namespace forkspawn::backend::mp

namespace forkspawn::backend {

int mp_forkserver_main() {
    ::prctl(PR_SET_NAME, "forkspawn-mpfs");
    raise_fd_limit();
    mp::serve(3, ::fcntl(4, F_GETFD) >= 0 ? 4 : -1, ::fcntl(5, F_GETFD) >= 0 ? 5 : -1);
}

} // namespace forkspawn::backend
