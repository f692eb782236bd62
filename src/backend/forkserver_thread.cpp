// SPDX-License-Identifier: MIT
// The subint_forkserver backend: every child is created on one long-lived
// worker thread. Two reasons for a dedicated thread: PR_SET_PDEATHSIG fires
// when the *thread* that created a child exits, so this thread lives as long
// as the process and children die only with the supervisor; and the event
// loop never waits for a child's creation.
//
// A command is started with a vfork-style clone (CLONE_VM | CLONE_VFORK, as
// posix_spawn does, and the trio backend): the child shares the
// supervisor's memory until execve, so its cost does not grow with the
// supervisor's page tables (a fork() copies them, which made a tree of N
// actors cost O(N^2)). This thread waits in the clone until the child has
// called execve or died. A nursery child that keeps running this image is a
// real fork().
#include "forkspawn/backend.hpp"
#include "forkspawn/error.hpp"
#include "forkspawn/guardian_protocol.hpp"
#include "forkspawn/sys.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <fcntl.h>
#include <fmt/format.h>
#include <mutex>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace forkspawn::backend {

namespace {

// The threads a fork without exec may be made with (DESIGN invariant 5):
// this forkserver thread and the event loop thread, parked in spawn_nursery.
// TSan starts a background thread of its own with the first thread.
#if defined(__SANITIZE_THREAD__)
constexpr int k_fork_threads = 3;
#else
constexpr int k_fork_threads = 2;
#endif

constexpr std::size_t k_stack_size = 256 * 1024;

#if !defined(__SANITIZE_THREAD__)
FORKSPAWN_CHILD_SIDE int child_trampoline(void* arg) {
    exec_child(*static_cast<const SpawnArgs*>(arg));
}
#endif

class ForkServerThread final : public Backend {
  public:
    ForkServerThread() : m_ready(sys::make_eventfd()) {
        void* stack = ::mmap(nullptr, k_stack_size, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) sys::fail("mmap (spawn stack)");
        m_stack = static_cast<char*>(stack);
        m_thread = std::thread([this] { serve(); });
    }

    ~ForkServerThread() override {
        std::unique_lock lock(m_mutex);
        m_stopping = true; // requests still queued are dropped
        m_wake.notify_one();
        // A child stuck before its execve would hold this thread in its
        // clone for ever: it is killed, then the thread can end.
        while (!m_served) {
            kill_cloning();
            m_done_cv.wait_for(lock, std::chrono::milliseconds(10));
        }
        lock.unlock();
        m_thread.join();
        ::munmap(m_stack, k_stack_size);
    }

    std::string_view key() const override { return "subint_forkserver"; }
    bool child_shares_memory() const override { return true; }

    void submit(SpawnRequest request) override {
        {
            std::lock_guard lock(m_mutex);
            m_requests.push_back(Queued{request, nullptr, nullptr});
        }
        m_wake.notify_one();
    }

    bool withdraw(std::uint64_t id) override {
        std::lock_guard lock(m_mutex);
        for (auto it = m_requests.begin(); it != m_requests.end(); ++it) {
            if (it->request.id == id) {
                m_requests.erase(it);
                return true;
            }
        }
        return false;
    }

    bool kill_starting(std::uint64_t id) override {
        std::lock_guard lock(m_mutex);
        return m_cloning && m_cloning_id == id && kill_cloning();
    }

    int ready_fd() const override { return m_ready.get(); }

    // A fork that runs on: the sub-supervisor keeps this image.
    SpawnCompletion spawn_nursery(const NurseryRequest& request) override {
        const std::uint64_t id = request.id;
        std::unique_lock lock(m_mutex);
        m_requests.push_back(Queued{{id, {}}, request.run, request.arg});
        m_wake.notify_one();
        for (;;) {
            auto it = std::find_if(m_done.begin(), m_done.end(),
                                   [&](const SpawnCompletion& c) { return c.id == id; });
            if (it != m_done.end()) {
                SpawnCompletion done = std::move(*it);
                m_done.erase(it);
                return done;
            }
            m_done_cv.wait(lock);
        }
    }

    std::vector<SpawnCompletion> take_completions() override {
        std::uint64_t count;
        while (::read(m_ready.get(), &count, sizeof count) < 0 && errno == EINTR) {
        }
        std::lock_guard lock(m_mutex);
        return std::exchange(m_done, {});
    }

  private:
    std::thread m_thread;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::condition_variable m_done_cv;
    // A command's request, or a nursery's (`run` set: a fork that runs on).
    struct Queued {
        SpawnRequest request;
        ChildMain run = nullptr;
        void* arg = nullptr;
    };
    std::deque<Queued> m_requests;
    std::vector<SpawnCompletion> m_done;
    bool m_stopping = false;
    bool m_served = false; // serve() has returned
    UniqueFd m_ready;
    char* m_stack = nullptr;
    // The request whose child is being cloned, and the child's pid, which
    // the kernel stores (CLONE_PARENT_SETTID) before the child first runs.
    bool m_cloning = false;
    std::uint64_t m_cloning_id = 0;
    pid_t m_cloning_pid = 0;

    // With m_mutex held. Safe by pid: the child is not reported yet, so
    // nobody can have reaped it and its pid is still its own.
    bool kill_cloning() {
        const pid_t pid = __atomic_load_n(&m_cloning_pid, __ATOMIC_ACQUIRE);
        return m_cloning && pid > 0 && ::kill(pid, SIGKILL) == 0;
    }

    void serve() {
        // Every signal blocked on this thread: they are handled by the event
        // loop's signalfd, and a child must not run a handler between fork()
        // and its own reset of the mask.
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
        for (;;) {
            Queued next;
            {
                std::unique_lock lock(m_mutex);
                m_wake.wait(lock, [&] { return m_stopping || !m_requests.empty(); });
                if (m_stopping) {
                    m_served = true;
                    m_done_cv.notify_all();
                    return;
                }
                next = m_requests.front();
                m_requests.pop_front();
            }
            SpawnCompletion done = next.run ? fork_nursery(next) : spawn(next.request);
            {
                std::lock_guard lock(m_mutex);
                m_done.push_back(std::move(done));
            }
            m_done_cv.notify_all();
            const std::uint64_t one = 1;
            while (::write(m_ready.get(), &one, sizeof one) < 0 && errno == EINTR) {
            }
        }
    }

    SpawnCompletion spawn(const SpawnRequest& request) {
        SpawnCompletion done;
        done.id = request.id;
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) < 0) {
            done.error = errno;
            done.failed_call = "pipe2";
            return done;
        }
        UniqueFd error_read(fds[0]), error_write(fds[1]);
        SpawnArgs args = request.args;
        args.error_fd = error_write.get();
        args.guardian_fd = m_guardian_fd;
        {
            std::lock_guard lock(m_mutex);
            m_cloning = true;
            m_cloning_id = request.id;
            __atomic_store_n(&m_cloning_pid, 0, __ATOMIC_RELEASE);
        }
        done.forked_at = std::chrono::steady_clock::now();
#if defined(__SANITIZE_THREAD__)
        // TSan follows fork(), but not a child that shares our memory and
        // this thread's TLS: that child would run TSan's interceptors on
        // this thread's state (its sigaction table, its clocks) and corrupt
        // it. The TSan build forks; every other build clones (the ASan
        // build covers that path).
        const pid_t pid = ::fork();
        if (pid == 0) exec_child(args);
#else
        // Every signal is blocked on this thread: no handler runs in the
        // child while it shares our memory.
        const pid_t pid =
            ::clone(child_trampoline, m_stack + k_stack_size,
                    CLONE_VM | CLONE_VFORK | CLONE_PARENT_SETTID | SIGCHLD, &args, &m_cloning_pid);
#endif
        const int err = errno;
        {
            std::lock_guard lock(m_mutex);
            m_cloning = false;
        }
        if (pid < 0) {
            done.error = err;
            done.failed_call = "clone";
            return done;
        }
        guardian_notify(m_guardian_fd, '+', pid);
        error_write.reset();
        return tracked(std::move(done), pid, std::move(error_read));
    }

    SpawnCompletion fork_nursery(const Queued& nursery) {
        SpawnCompletion done;
        done.id = nursery.request.id;
        // The child keeps running this image without exec, with only this
        // thread: whatever another thread held at the moment of fork() (the
        // allocator's lock, a stdio lock) would stay held in it forever. The
        // event loop thread is parked and holds nothing; any other thread
        // is refused, checked rather than assumed.
        const int threads = sys::thread_count();
        if (threads < 0) {
            done.refused = fmt::format("a fork without exec needs the process's threads counted "
                                       "first (/proc/self/task): {}",
                                       errno_text(errno));
            return done;
        }
        if (threads > k_fork_threads) {
            done.refused = fmt::format(
                "a fork without exec is made only while the forkserver thread and the parked "
                "event loop thread are the process's only threads, and it has {} threads",
                threads);
            return done;
        }
        done.forked_at = std::chrono::steady_clock::now();
        const pid_t pid = ::fork();
        if (pid < 0) {
            done.error = errno;
            done.failed_call = "fork";
            return done;
        }
        if (pid == 0) {
            nursery.run(nursery.arg);
            ::_exit(70); // run does not return
        }
        ::setpgid(pid, pid);
        guardian_notify(m_guardian_fd, '+', pid);
        return tracked(std::move(done), pid, {});
    }

    // The completion of a child this thread created: with its pidfd, or,
    // when none can be opened (EMFILE), with the child killed and reaped
    // here, since the event loop cannot reap this thread's children by pid
    // (it waits with __WNOTHREAD). Safe by pid: only this thread or the
    // event loop (through the pidfd) reap it, neither has yet.
    SpawnCompletion tracked(SpawnCompletion done, pid_t pid, UniqueFd error_pipe) {
        done.pidfd = sys::pidfd_open(pid);
        if (!done.pidfd) {
            done.error = errno;
            done.failed_call = "pidfd_open";
            ::kill(pid, SIGKILL);
            guardian_notify(m_guardian_fd, '-', pid);
            while (::waitpid(pid, nullptr, __WALL) < 0 && errno == EINTR) {
            }
            return done; // pid -1: the spawn failed
        }
        done.pid = pid;
        done.error_pipe = std::move(error_pipe);
        return done;
    }
};

} // namespace

std::unique_ptr<Backend> make_forkserver_thread() {
    return std::make_unique<ForkServerThread>();
}

} // namespace forkspawn::backend
