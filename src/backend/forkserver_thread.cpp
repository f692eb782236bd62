// The subint_forkserver backend: every fork() happens on one long-lived
// worker thread. Two reasons for a dedicated thread: PR_SET_PDEATHSIG fires
// when the *thread* that forked exits, so this thread lives as long as the
// process and children die only with the supervisor; and the event loop
// never waits for fork(), whose cost grows with the supervisor's page tables.
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
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

namespace forkspawn::backend {

namespace {

// The threads a fork without exec may be made with (DESIGN invariant 5):
// this forkserver thread and the event loop thread, parked in spawn_parked.
// TSan starts a background thread of its own with the first thread.
#if defined(__SANITIZE_THREAD__)
constexpr int k_fork_threads = 3;
#else
constexpr int k_fork_threads = 2;
#endif

class ForkServerThread final : public Backend {
  public:
    ForkServerThread() : m_ready(sys::make_eventfd()) {
        m_thread = std::thread([this] { serve(); });
    }

    ~ForkServerThread() override {
        {
            std::lock_guard lock(m_mutex);
            m_stopping = true;
        }
        m_wake.notify_one();
        m_thread.join();
    }

    std::string_view key() const override { return "subint_forkserver"; }
    bool forks_without_exec() const override { return true; }

    void submit(SpawnRequest request) override {
        {
            std::lock_guard lock(m_mutex);
            m_requests.push_back(request);
        }
        m_wake.notify_one();
    }

    bool withdraw(std::uint64_t id) override {
        std::lock_guard lock(m_mutex);
        for (auto it = m_requests.begin(); it != m_requests.end(); ++it) {
            if (it->id == id) {
                m_requests.erase(it);
                return true;
            }
        }
        return false;
    }

    int ready_fd() const override { return m_ready.get(); }

    SpawnCompletion spawn_parked(SpawnRequest request) override {
        const std::uint64_t id = request.id;
        std::unique_lock lock(m_mutex);
        m_requests.push_back(request);
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
    std::deque<SpawnRequest> m_requests;
    std::vector<SpawnCompletion> m_done;
    bool m_stopping = false;
    UniqueFd m_ready;

    void serve() {
        // Every signal blocked on this thread: they are handled by the event
        // loop's signalfd, and a child must not run a handler between fork()
        // and its own reset of the mask.
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
        for (;;) {
            SpawnRequest request;
            {
                std::unique_lock lock(m_mutex);
                m_wake.wait(lock, [&] { return m_stopping || !m_requests.empty(); });
                if (m_requests.empty()) return; // stopping
                request = m_requests.front();
                m_requests.pop_front();
            }
            SpawnCompletion done = spawn(request);
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
        if (request.child_main) return spawn_nursery(request);
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
        done.forked_at = std::chrono::steady_clock::now();
        const pid_t pid = ::fork();
        if (pid < 0) {
            done.error = errno;
            done.failed_call = "fork";
            return done;
        }
        if (pid == 0) exec_child(args);
        // The parent sets the group too, so a stop signal sent to the group
        // right after this cannot miss a child that has not run yet.
        ::setpgid(pid, pid);
        guardian_notify(m_guardian_fd, '+', pid);
        error_write.reset();
        done.pid = pid;
        // Safe by pid: the child is ours and only the event loop reaps it,
        // through this pidfd, so the pid cannot have been reused yet.
        done.pidfd = sys::pidfd_open(pid);
        if (!done.pidfd) {
            done.error = errno;
            done.failed_call = "pidfd_open";
        }
        done.error_pipe = std::move(error_read);
        return done;
    }

    SpawnCompletion spawn_nursery(const SpawnRequest& request) {
        SpawnCompletion done;
        done.id = request.id;
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
            request.child_main(request.child_arg);
            ::_exit(70); // child_main does not return
        }
        ::setpgid(pid, pid);
        guardian_notify(m_guardian_fd, '+', pid);
        done.pid = pid;
        done.pidfd = sys::pidfd_open(pid);
        if (!done.pidfd) {
            done.error = errno;
            done.failed_call = "pidfd_open";
        }
        return done;
    }
};

} // namespace

std::unique_ptr<Backend> make_forkserver_thread() {
    return std::make_unique<ForkServerThread>();
}

} // namespace forkspawn::backend
