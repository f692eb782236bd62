// The mp_forkserver backend (after Python multiprocessing's forkserver): a
// small single-threaded process, forked from the supervisor on the first
// spawn, that forks on request over a unix socketpair. Requests carry
// everything the child needs (path, argv, envp, cwd, and its stdio and
// extra fds as SCM_RIGHTS); the server never touches the spec.
//
// Who is the parent: the server creates each child with
// clone(CLONE_PARENT), so the child's parent is the supervisor, not the
// server. The supervisor therefore reaps every actor itself through a pidfd,
// with the exact wait status, exactly as with the other backends, and the
// child's PR_SET_PDEATHSIG is tied to the supervisor's (main) thread. The
// server only reports the pid, or the errno of a failed clone, and hands
// back the read end of the exec-error pipe. Nursery actors are re-executed
// forkspawn images (the hidden __nursery mode), like the trio backend's.
//
// If the server dies, its socket reaches EOF: every request still waiting
// completes as failed, and so does every later one. If the supervisor dies,
// the server dies by its own parent-death signal.
#include "forkspawn/backend.hpp"
#include "forkspawn/guardian_protocol.hpp"
#include "forkspawn/nursery_image.hpp"
#include "forkspawn/sys.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace forkspawn::backend {

namespace {

constexpr std::size_t k_max_message = 1u << 20;
constexpr int k_max_fds = 8; // stdin, stdout, stderr, fd3 to fd6, a payload memfd
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

ssize_t send_with_fds(int sock, const void* data, std::size_t size, const int* fds, int nfds) {
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
ssize_t recv_with_fds(int sock, char* buf, std::size_t size, std::vector<UniqueFd>& fds,
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

// ---- the server process -------------------------------------------------

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

// Which of SpawnArgs' fds travel with a request, in this order.
enum FdBit : std::uint8_t {
    k_stdin = 1,
    k_stdout = 2,
    k_stderr = 4,
    k_fd3 = 8,
    k_fd4 = 16,
    k_fd5 = 32,
    k_fd6 = 64
};

// A request's flags byte.
enum FlagBit : std::uint8_t { k_has_cwd = 1, k_take_terminal = 2 };

[[noreturn]] void serve(int sock, int guardian, int page_fd) {
    const StartedPage started = map_started_page(page_fd);
    std::int32_t* const page = started.slots;
    const std::size_t page_count = started.count;
    std::vector<char> data(k_max_message); // once: requests arrive one at a time
    for (;;) {
        std::vector<UniqueFd> fds;
        const ssize_t n = recv_with_fds(sock, data.data(), data.size(), fds, 0);
        if (n <= 0) ::_exit(0); // the supervisor is gone or done
        std::string payload; // a request that came in a memfd (its last fd)
        if (data[0] == k_in_memfd && !fds.empty()) {
            payload = read_payload(fds.back().get());
            fds.pop_back();
        }
        Reader in = data[0] == k_in_memfd
                        ? Reader(payload.data(), payload.size())
                        : Reader(data.data() + 1, static_cast<std::size_t>(n) - 1);
        std::uint64_t id = 0;
        std::int32_t parent_pid = 0;
        std::uint8_t which = 0, flags = 0;
        std::int32_t slot = -1;
        std::string path, cwd;
        std::vector<std::string> argv, envp;
        Reply reply{0, -1, EPROTO};
        if (in.get(id) && in.get(parent_pid) && in.get(which) && in.get_string(path) &&
            in.get(flags) && in.get(slot) && in.get_string(cwd) && in.get_strings(argv) && in.get_strings(envp)) {
            reply.id = id;
            std::vector<char*> argv_ptrs, envp_ptrs;
            for (auto& s : argv)
                argv_ptrs.push_back(s.data());
            argv_ptrs.push_back(nullptr);
            for (auto& s : envp)
                envp_ptrs.push_back(s.data());
            envp_ptrs.push_back(nullptr);
            SpawnArgs args;
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
            auto take = [&](std::uint8_t bit) {
                return (which & bit) && next < fds.size() ? fds[next++].get() : -1;
            };
            args.stdin_fd = take(k_stdin);
            args.stdout_fd = take(k_stdout);
            args.stderr_fd = take(k_stderr);
            args.fd3 = take(k_fd3);
            args.fd4 = take(k_fd4);
            args.fd5 = take(k_fd5);
            args.fd6 = take(k_fd6);
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

// ---- the supervisor's side ----------------------------------------------

class MpForkServer final : public Backend {
  public:
    ~MpForkServer() override {
        m_sock.reset(); // the server exits at EOF
        if (m_pid > 0) {
            UniqueFd pidfd = sys::pidfd_open(m_pid);
            pollfd p{pidfd.get(), POLLIN, 0};
            if (!pidfd || ::poll(&p, 1, 2000) <= 0) ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
    }

    std::string_view key() const override { return "mp_forkserver"; }
    bool reap_helper(pid_t pid) override {
        if (pid <= 0 || pid != m_pid) return false;
        siginfo_t info{};
        ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG);
        m_pid = -1;
        return true;
    }
    // Children not yet taken by the supervisor (queued, with the server, or
    // answered but not taken) are not orphans.
    std::size_t pending() const override {
        return m_pending.size() + m_outbox.size() + m_done.size();
    }

    void submit(SpawnRequest request) override {
        if (!start()) {
            fail_now(request.id);
            return;
        }
        Outgoing out = encode(request);
        if (out.error != 0) {
            errno = out.error;
            fail_now(request.id);
            return;
        }
        m_outbox.push_back(std::move(out));
        flush();
    }
    // A request still in the outbox never reached the server.
    bool withdraw(std::uint64_t id) override {
        auto it = std::find_if(m_outbox.begin(), m_outbox.end(),
                               [&](const Outgoing& o) { return o.id == id; });
        if (it == m_outbox.end()) return false;
        m_outbox.erase(it);
        return true;
    }
    // An epoll set of its own holding the completion eventfd and, once the
    // server runs, its socket: one fd for the supervisor to wait on.
    int ready_fd() const override { return m_epoll.get(); }

    std::vector<SpawnCompletion> take_completions() override {
        std::uint64_t count;
        while (::read(m_ready.get(), &count, sizeof count) < 0 && errno == EINTR) {
        }
        flush();
        receive();
        return std::exchange(m_done, {});
    }

    // A fresh image of forkspawn, made by the server like any command: a
    // fork of the server that ran on would be the server, not a supervisor.
    SpawnCompletion spawn_nursery(const NurseryRequest& nursery) override {
        const NurseryImage image(nursery, m_guardian_fd, m_page.fd);
        if (image.failed_call()) return image.failure(nursery.id);
        const SpawnRequest request{nursery.id, image.args()};
        submit(request);
        for (;;) {
            auto it = std::find_if(m_done.begin(), m_done.end(),
                                   [&](const SpawnCompletion& c) { return c.id == request.id; });
            if (it != m_done.end()) {
                SpawnCompletion done = std::move(*it);
                m_done.erase(it);
                return done;
            }
            // Parked until the server answers (or dies: POLLHUP).
            pollfd p{m_sock.get(), static_cast<short>(m_outbox.empty() ? POLLIN : POLLIN | POLLOUT),
                     0};
            if (::poll(&p, 1, -1) < 0 && errno != EINTR) sys::fail("poll");
            flush();
            receive();
        }
    }

  private:
    pid_t m_pid = -1;
    UniqueFd m_sock;
    UniqueFd m_ready = sys::make_eventfd(); // completions waiting in m_done
    UniqueFd m_epoll = make_ready_set(m_ready.get());

    static UniqueFd make_ready_set(int eventfd) {
        UniqueFd ep = sys::make_epoll();
        epoll_event ev{};
        ev.events = EPOLLIN;
        if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, eventfd, &ev) < 0) sys::fail("epoll_ctl");
        return ep;
    }
    // A request encoded but not yet sent: the socket is non-blocking, because
    // a supervisor blocked in sendmsg while the server is blocked sending it
    // replies would deadlock both (seen with 1000 actors at once). Its fds
    // stay valid until its completion is taken (SpawnRequest's contract).
    struct Outgoing {
        std::uint64_t id;
        std::string bytes;
        int fds[k_max_fds];
        int nfds;
        UniqueFd payload; // the request's bytes, when too large to go inline
        int error = 0;    // the request could not be made (memfd)
    };
    bool m_dead = false;
    bool m_want_out = false;                // the socket is in m_epoll for EPOLLOUT too
    std::deque<Outgoing> m_outbox;          // in submit order
    std::vector<std::uint64_t> m_pending;   // sent, not answered
    std::vector<SpawnCompletion> m_done;

    bool start() {
        if (m_sock || m_dead) return !m_dead;
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) return false;
        UniqueFd mine(fds[0]), theirs(fds[1]);
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) return false;
        if (pid == 0) {
            // Own group (a terminal's Ctrl-C is forkspawn's alone), dies
            // with the supervisor, keeps only stdio, its socket (3), the
            // guardian's pipe (4) and the page of started pids (5), for the
            // fresh image (no close-on-exec on them), and blocks every
            // signal: it has nothing to handle.
            ChildSetup setup;
            setup.parent_pid = parent;
            setup.fds[0] = {theirs.get(), 3};
            setup.fds[1] = {m_guardian_fd, 4};
            setup.fds[2] = {m_page.fd, 5};
            setup.fd_count = 3;
            setup.keep_cloexec = false;
            setup_child(setup);
            sigset_t all; // after its set-up, which runs with the caller's mask
            sigfillset(&all);
            ::sigprocmask(SIG_SETMASK, &all, nullptr);
            ::prctl(PR_SET_NAME, "forkspawn-mpfs");
            const int guardian = m_guardian_fd >= 0 ? 4 : -1;
            const int page = m_page.fd >= 0 ? 5 : -1;
            // A fresh, small image: forks from it copy its page tables, not
            // those of a supervisor that has grown since.
            char name[] = "forkspawn-mpfs";
            char mode[] = "__mp_forkserver";
            char* args[] = {name, mode, nullptr};
            restore_fd_limit(); // the fresh image records and raises it again
            ::execve("/proc/self/exe", args, environ);
            serve(3, guardian >= 0 ? 4 : -1, page >= 0 ? 5 : -1); // no fresh image: serve from this one
        }
        m_pid = pid;
        m_sock = std::move(mine);
        if (::fcntl(m_sock.get(), F_SETFL, O_NONBLOCK) < 0) return false;
        epoll_event ev{};
        ev.events = EPOLLIN;
        if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, m_sock.get(), &ev) < 0) return false;
        return true;
    }

    Outgoing encode(const SpawnRequest& r) const {
        const SpawnArgs& a = r.args;
        Outgoing out{r.id, {}, {}, 0};
        Writer w;
        w.put(r.id);
        w.put(static_cast<std::int32_t>(a.parent_pid));
        std::uint8_t which = 0;
        for (auto [fd, bit] : {std::pair{a.stdin_fd, k_stdin}, std::pair{a.stdout_fd, k_stdout},
                               std::pair{a.stderr_fd, k_stderr}, std::pair{a.fd3, k_fd3},
                               std::pair{a.fd4, k_fd4}, std::pair{a.fd5, k_fd5},
                               std::pair{a.fd6, k_fd6}}) {
            if (fd < 0) continue;
            which |= bit;
            out.fds[out.nfds++] = fd;
        }
        w.put(which);
        w.put_string(a.path);
        w.put(static_cast<std::uint8_t>((a.cwd ? k_has_cwd : 0) |
                                        (a.take_terminal ? k_take_terminal : 0)));
        w.put(static_cast<std::int32_t>(m_page.slots && a.started_slot ? a.started_slot - m_page.slots
                                                                       : -1));
        w.put_string(a.cwd);
        w.put_strings(a.argv);
        w.put_strings(a.envp);
        const std::string& body = w.data();
        if (body.size() <= k_inline_limit) {
            out.bytes = k_inline + body;
            return out;
        }
        out.payload = UniqueFd(::memfd_create("forkspawn-request", MFD_CLOEXEC));
        std::size_t done = 0;
        while (out.payload && done < body.size()) {
            const ssize_t n = sys::retry_eintr(
                [&] { return ::write(out.payload.get(), body.data() + done, body.size() - done); });
            if (n <= 0) break;
            done += static_cast<std::size_t>(n);
        }
        if (done < body.size()) {
            out.error = errno != 0 ? errno : EIO;
            return out;
        }
        out.bytes = std::string(1, k_in_memfd);
        out.fds[out.nfds++] = out.payload.get();
        return out;
    }

    // Sends what the socket takes now; the rest waits for EPOLLOUT.
    void flush() {
        while (!m_outbox.empty() && m_sock && !m_dead) {
            Outgoing& o = m_outbox.front();
            if (send_with_fds(m_sock.get(), o.bytes.data(), o.bytes.size(), o.fds, o.nfds) < 0) {
                // Full for now; or the server is gone, which receive() sees
                // as EOF and fails everything still waiting.
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EPIPE ||
                    errno == ECONNRESET)
                    break;
                const int error = errno; // e.g. EMSGSIZE: this request alone
                const std::uint64_t id = o.id;
                m_outbox.pop_front();
                errno = error;
                fail_now(id);
                continue;
            }
            m_pending.push_back(o.id);
            m_outbox.pop_front();
        }
        const bool want_out = !m_outbox.empty() && m_sock && !m_dead;
        if (want_out == m_want_out) return;
        epoll_event ev{};
        ev.events = want_out ? EPOLLIN | EPOLLOUT : EPOLLIN;
        if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, m_sock.get(), &ev) == 0)
            m_want_out = want_out;
    }

    void complete(SpawnCompletion done) {
        std::erase(m_pending, done.id);
        m_done.push_back(std::move(done));
        const std::uint64_t one = 1;
        while (::write(m_ready.get(), &one, sizeof one) < 0 && errno == EINTR) {
        }
    }

    void fail_now(std::uint64_t id) {
        SpawnCompletion done;
        done.id = id;
        done.error = m_dead ? ECONNRESET : errno;
        done.failed_call = m_dead ? "the mp_forkserver process died" : "mp_forkserver";
        complete(std::move(done));
    }

    // Takes every answer waiting on the (non-blocking) socket.
    void receive() {
        while (m_sock && !m_dead) {
            Reply reply{};
            std::vector<UniqueFd> fds;
            const ssize_t n = recv_with_fds(m_sock.get(), reinterpret_cast<char*>(&reply),
                                            sizeof reply, fds, 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (n <= 0) {
                // The server is gone: whatever it had not answered failed.
                m_dead = true;
                ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, m_sock.get(), nullptr);
                for (auto id : std::vector(m_pending))
                    fail_now(id);
                for (auto& o : std::exchange(m_outbox, {}))
                    fail_now(o.id);
                return;
            }
            if (static_cast<std::size_t>(n) < sizeof reply) continue;
            SpawnCompletion done;
            done.id = reply.id;
            if (reply.pid < 0) {
                done.error = reply.error;
                done.failed_call = "fork in mp_forkserver";
            } else {
                done.pid = reply.pid;
                done.forked_at = std::chrono::steady_clock::time_point(
                    std::chrono::steady_clock::duration(reply.forked_ns));
                // Our child (CLONE_PARENT), unreaped: the pid is still its.
                done.pidfd = sys::pidfd_open(reply.pid);
                if (!done.pidfd) {
                    done.error = errno;
                    done.failed_call = "pidfd_open";
                }
                if (!fds.empty()) done.error_pipe = std::move(fds.front());
            }
            complete(std::move(done));
        }
    }
};

} // namespace

std::unique_ptr<Backend> make_mp_forkserver() {
    return std::make_unique<MpForkServer>();
}

int mp_forkserver_main() {
    ::prctl(PR_SET_NAME, "forkspawn-mpfs");
    raise_fd_limit();
    serve(3, ::fcntl(4, F_GETFD) >= 0 ? 4 : -1, ::fcntl(5, F_GETFD) >= 0 ? 5 : -1);
}

} // namespace forkspawn::backend
