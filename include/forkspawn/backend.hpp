// SPDX-License-Identifier: MIT
// Spawn backends: how an actor's process is created. The supervisor submits
// requests and later collects completions when ready_fd() becomes readable
// (it sits in the supervisor's epoll set), so a backend never blocks the
// event loop. Every backend creates the same child (exec_child) and returns
// the same things: a pid, a pidfd taken before anyone could reap the child,
// and the read end of the exec-error pipe.
#pragma once

#include "forkspawn/spawn_args.hpp"
#include "forkspawn/spec.hpp"
#include "forkspawn/unique_fd.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace forkspawn::backend {

// What a nursery child runs instead of execve: forkspawn's own supervisor,
// entered right after fork() in the child and never returning.
using ChildMain = void (*)(void* arg);

struct SpawnRequest {
    std::uint64_t id = 0;
    SpawnArgs args; // pointers stay valid until the completion for `id` is taken
};

// A nursery actor's sub-supervisor, described in both forms a backend may
// start it in; the backend picks its own (Backend::spawn_nursery).
struct NurseryRequest {
    std::uint64_t id = 0;
    // A fork of this process that runs on: the child calls run(arg), which
    // never returns.
    ChildMain run = nullptr;
    void* arg = nullptr;
    // A fresh image: forkspawn's hidden `__nursery OPTIONS` mode, with the
    // channel as fd 3, the subtree's spec (spec::subtree_json) in a memfd as
    // fd 4, the guardian's pipe as fd 5 and the page of started pids as fd 6
    // (nursery_image.hpp).
    const spec::Actor* subtree = nullptr;
    std::string options; // the __nursery argument: JSON
    int channel = -1;    // the child's end of the channel
    std::int32_t* started_slot = nullptr;
};

struct SpawnCompletion {
    std::uint64_t id = 0;
    pid_t pid = -1;
    UniqueFd pidfd;
    UniqueFd error_pipe;               // EOF: execve succeeded; a ChildError: it did not
    int error = 0;                     // errno when no child was created (fork, pipe2, pidfd_open)
    const char* failed_call = nullptr; // the call that failed, with `error`
    // Why the backend refused to create the child, when no call failed.
    std::string refused;
    // Read just before the fork: the child's start, never after it, however
    // late the loop takes this completion. The epoch: unknown.
    std::chrono::steady_clock::time_point forked_at{};
};

// The tree's page of started pids: one int32 per actor below the root, in
// depth-first order (the report's order), in a memfd every supervisor of
// the tree maps. A child writes its pid into its entry before anything
// else (SpawnArgs::started_slot); the supervisor that forked it clears the
// entry once it reaped it. A supervisor that adopts an actor of a nursery
// whose sub-supervisor was killed before it could report that actor finds
// it there.
struct StartedPage {
    int fd = -1;
    std::int32_t* slots = nullptr;
    std::size_t count = 0;
};

// This process's mapping of the page on `fd` (none when -1 or unmappable);
// it stays mapped until the process exits.
StartedPage map_started_page(int fd);

class Backend {
  public:
    virtual ~Backend() = default;
    virtual std::string_view key() const = 0;
    virtual void submit(SpawnRequest request) = 0;
    // Withdraws a request not yet started; true if it was withdrawn (no
    // completion will come for it).
    virtual bool withdraw(std::uint64_t id) = 0;
    // SIGKILLs the child of a request that is being created right now and
    // has not been reported yet (a child stuck before its execve, whose
    // report comes only once it gets there); true if there was one to kill.
    // Its completion still comes, once it died.
    virtual bool kill_starting(std::uint64_t) { return false; }
    virtual int ready_fd() const = 0;
    virtual std::vector<SpawnCompletion> take_completions() = 0;
    // Starts a nursery actor's sub-supervisor, in the form this backend
    // makes (a fork that runs on, or a fresh image), and waits for it: the
    // caller (the event loop thread) stays parked while the child is made,
    // so a fork never inherits a lock, allocator or stdio state held
    // mid-operation by it. Requests submitted earlier are made first; their
    // completions stay queued for take_completions().
    virtual SpawnCompletion spawn_nursery(const NurseryRequest& request) = 0;
    // When `pid`, a child of the supervisor, is a helper process of this
    // backend (the mp_forkserver server), reaps it and returns true: spawns
    // fail from then on. The supervisor's orphan reaper asks before it
    // reaps a child it does not know.
    virtual bool reap_helper(pid_t) { return false; }
    // Whether a command's child shares the supervisor's memory until its
    // execve (a vfork-style clone): the kernel then counts the supervisor's
    // resident size into the child's peak (ru_maxrss), which says nothing
    // of the program's own below that.
    virtual bool child_shares_memory() const { return false; }
    // Requests whose child may exist but is not reported yet. Children that
    // are not the forking thread's only (mp_forkserver's CLONE_PARENT
    // children) could be mistaken for orphans while this is not zero.
    virtual std::size_t pending() const { return 0; }
    // The guardian's pipe (guardian_protocol.hpp): every process group is
    // registered there by whoever forks its leader, right after the fork.
    virtual void set_guardian_fd(int fd) { m_guardian_fd = fd; }
    // The tree's page of started pids (SpawnArgs::started_slot): its memfd
    // and this process's mapping of its `count` entries. A backend whose
    // children are forked in another process maps it there too.
    void set_started_page(const StartedPage& page) { m_page = page; }

  protected:
    int m_guardian_fd = -1;
    StartedPage m_page;
};

struct BackendInfo {
    std::string key;
    std::string description;
    std::string alias_of; // non-empty for an alias
    bool available = true;
    std::string unavailable_reason;
};

// Every registered key, aliases included, in display order.
std::vector<BackendInfo> list_backends();
// Canonical key for `key` (resolving aliases), or "" if unknown.
std::string canonical_key(std::string_view key);
// Creates the backend for a canonical key; the caller checked it exists.
std::unique_ptr<Backend> make_backend(std::string_view key);

inline constexpr std::string_view k_default_backend = "subint_forkserver";

// The hidden `forkspawn __mp_forkserver` mode: the mp_forkserver server as a
// fresh image, its socket on fd 3 and the guardian's pipe on fd 4.
[[noreturn]] int mp_forkserver_main();

} // namespace forkspawn::backend
