// SPDX-License-Identifier: MIT
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
#include "mp_wire.hpp"

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

using namespace mp;

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
    bool m_want_out = false;              // the socket is in m_epoll for EPOLLOUT too
    std::deque<Outgoing> m_outbox;        // in submit order
    std::vector<std::uint64_t> m_pending; // sent, not answered
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
            serve(3, guardian >= 0 ? 4 : -1,
                  page >= 0 ? 5 : -1); // no fresh image: serve from this one
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
        std::uint16_t which = 0;
        for (auto [fd, bit] :
             {std::pair{a.stdin_fd, k_stdin}, std::pair{a.stdout_fd, k_stdout},
              std::pair{a.stderr_fd, k_stderr}, std::pair{a.fd3, k_fd3}, std::pair{a.fd4, k_fd4},
              std::pair{a.fd5, k_fd5}, std::pair{a.fd6, k_fd6}, std::pair{a.notify_fd, k_notify},
              std::pair{a.cgroup_procs_fd, k_cgroup}}) {
            if (fd < 0) continue;
            which |= bit;
            out.fds[out.nfds++] = fd;
        }
        w.put(which);
        w.put_string(a.path);
        w.put(static_cast<std::uint8_t>((a.cwd ? k_has_cwd : 0) |
                                        (a.take_terminal ? k_take_terminal : 0)));
        w.put(static_cast<std::int32_t>(
            m_page.slots && a.started_slot ? a.started_slot - m_page.slots : -1));
        w.put(static_cast<std::int32_t>(a.notify_target));
        w.put_string(a.cwd);
        w.put_strings(a.argv);
        w.put_strings(a.envp);
        put_attributes(w, a);
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
            const ssize_t n =
                recv_with_fds(m_sock.get(), reinterpret_cast<char*>(&reply), sizeof reply, fds, 0);
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

} // namespace forkspawn::backend
