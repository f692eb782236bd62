// SPDX-License-Identifier: MIT
// The fresh-image form of a nursery request (backend.hpp, NurseryRequest):
// forkspawn re-executed as /proc/self/exe in its hidden `__nursery OPTIONS`
// mode. Made by a backend whose children cannot be forks that run on (trio
// creates them with a vfork-style clone, mp_forkserver in another process):
// the subtree's spec goes into a memfd, and the SpawnArgs place the channel,
// that memfd, the guardian's pipe and the page of started pids on fds 3-6,
// which run_reexec_nursery reads on the other side.
#pragma once

#include "forkspawn/backend.hpp"
#include "forkspawn/unique_fd.hpp"

#include <string>
#include <vector>

namespace forkspawn::backend {

class NurseryImage {
  public:
    // Ready for spawning unless failed_call() says which call failed (errno
    // in error()). `guardian_fd` and `page_fd` may be -1.
    NurseryImage(const NurseryRequest& request, int guardian_fd, int page_fd);
    NurseryImage(const NurseryImage&) = delete;
    NurseryImage& operator=(const NurseryImage&) = delete;

    const char* failed_call() const { return m_failed_call; }
    int error() const { return m_error; }
    // The completion of request `id` when the image could not be made.
    SpawnCompletion failure(std::uint64_t id) const {
        SpawnCompletion done;
        done.id = id;
        done.error = m_error;
        done.failed_call = m_failed_call;
        return done;
    }
    // Valid while this object lives.
    const SpawnArgs& args() const { return m_args; }

  private:
    UniqueFd m_spec;
    std::vector<std::string> m_argv_storage;
    std::vector<char*> m_argv;
    SpawnArgs m_args;
    const char* m_failed_call = nullptr;
    int m_error = 0;
};

} // namespace forkspawn::backend
