// SPDX-License-Identifier: MIT
// The trio backend (after tractor's trio_proc): every actor is a fresh
// process image created from the event loop thread itself. Commands are
// started the way posix_spawn(3) starts them — a vfork-style clone
// (CLONE_VM | CLONE_VFORK) that shares the supervisor's memory until execve,
// so the cost does not grow with the supervisor's page tables — but by hand,
// because posix_spawn cannot set PR_SET_PDEATHSIG; the child runs the same
// exec_child as every backend. Nursery actors re-execute /proc/self/exe in
// the hidden `__nursery` mode, with their channel as fd 3 and their subtree
// spec as fd 4.
#include "forkspawn/backend.hpp"
#include "forkspawn/guardian_protocol.hpp"
#include "forkspawn/nursery_image.hpp"
#include "forkspawn/sys.hpp"

#include <csignal>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

namespace forkspawn::backend {

namespace {

constexpr std::size_t k_stack_size = 256 * 1024;

FORKSPAWN_CHILD_SIDE int child_trampoline(void* arg) {
    exec_child(*static_cast<const SpawnArgs*>(arg));
}

class LoopSpawn final : public Backend {
  public:
    LoopSpawn() : m_ready(sys::make_eventfd()) {
        void* stack = ::mmap(nullptr, k_stack_size, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) sys::fail("mmap (spawn stack)");
        m_stack = static_cast<char*>(stack);
    }
    ~LoopSpawn() override { ::munmap(m_stack, k_stack_size); }

    std::string_view key() const override { return "trio"; }
    bool child_shares_memory() const override { return true; }

    void submit(SpawnRequest request) override {
        m_done.push_back(spawn(request));
        const std::uint64_t one = 1;
        while (::write(m_ready.get(), &one, sizeof one) < 0 && errno == EINTR) {
        }
    }
    bool withdraw(std::uint64_t) override { return false; } // nothing waits in a queue
    int ready_fd() const override { return m_ready.get(); }
    std::vector<SpawnCompletion> take_completions() override {
        std::uint64_t count;
        while (::read(m_ready.get(), &count, sizeof count) < 0 && errno == EINTR) {
        }
        return std::exchange(m_done, {});
    }
    // A fresh image of forkspawn: a fork that runs on cannot be made from a
    // vfork-style clone.
    SpawnCompletion spawn_nursery(const NurseryRequest& request) override {
        const NurseryImage image(request, m_guardian_fd, m_page.fd);
        if (image.failed_call()) return image.failure(request.id);
        return spawn(SpawnRequest{request.id, image.args()});
    }
    // Children created but not yet taken by the supervisor: not orphans.
    std::size_t pending() const override { return m_done.size(); }

  private:
    UniqueFd m_ready;
    char* m_stack = nullptr;
    std::vector<SpawnCompletion> m_done;

    SpawnCompletion spawn(const SpawnRequest& request) {
        SpawnCompletion done;
        done.id = request.id;
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) < 0) { // EMFILE: this spawn fails, not the supervisor
            done.error = errno;
            done.failed_call = "pipe2";
            return done;
        }
        sys::Pipe pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
        SpawnArgs args = request.args;
        args.error_fd = pipe.write.get();
        args.guardian_fd = m_guardian_fd;
        // No handler may run in the child while it shares our memory.
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int pidfd = -1;
        done.forked_at = std::chrono::steady_clock::now();
        const pid_t pid = ::clone(child_trampoline, m_stack + k_stack_size,
                                  CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &args, &pidfd);
        const int err = errno;
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        if (pid < 0) {
            done.error = err;
            done.failed_call = "clone";
            return done;
        }
        pipe.write.reset();
        guardian_notify(m_guardian_fd, '+', pid);
        done.pid = pid;
        done.pidfd = UniqueFd(pidfd); // from clone itself: no window at all
        done.error_pipe = std::move(pipe.read);
        return done;
    }
};

} // namespace

std::unique_ptr<Backend> make_loop_spawn() {
    return std::make_unique<LoopSpawn>();
}

} // namespace forkspawn::backend
