// SPDX-License-Identifier: MIT
// The root's report of the whole tree: one entry per actor at every depth,
// in spec order (depth-first), filled in as spawns and ends are reported
// from wherever they happen, and completed at the end for actors whose end
// never reached the root (their sub-supervisor died first).
#pragma once

#include "forkspawn/report.hpp"
#include "forkspawn/spec.hpp"

#include <string>
#include <sys/types.h>
#include <unordered_map>
#include <vector>

namespace forkspawn::supervise {

class TreeReport {
  public:
    // Entries for every actor below `root` (not the root itself).
    TreeReport(const spec::Actor& root, const std::string& backend);

    // The actor at `path` started as `pid`; unknown paths are ignored.
    void spawned(const std::string& path, pid_t pid, double started_ms);
    // Its final report.
    void reaped(const report::ActorReport& r);
    // Every entry, the ones never reported ended completed: an actor seen
    // spawned is `killed` (supervisor_killed); one whose nursery never ran
    // is `not_started` with the nursery's cancel reason; the rest say their
    // end is unknown.
    std::vector<report::ActorReport> finish() const;

  private:
    std::vector<report::ActorReport> m_entries;
    std::unordered_map<std::string, std::size_t> m_index;

    void add(const spec::Actor& nursery, const std::string& backend);
};

} // namespace forkspawn::supervise
