// SPDX-License-Identifier: MIT
// Finding and killing what is left of a tree, whoever its parent is now.
//
// Every process of a tree carries FORKSPAWN_TREE=<id>[:<id of the tree
// that started this forkspawn>...] in its environment (see guardian.hpp):
// a nested forkspawn adds its own id in front of its ancestors', so an
// outer tree's sweep still finds the inner tree's processes after the inner
// forkspawn and its guardian are gone.
//
// sweep_tree() works in rounds over /proc. Each round SIGSTOPs every process
// it finds that carries the id (or is a child of `parent`), through a pidfd
// opened before the process was examined, so a pid reused by a stranger is
// never signalled; rounds repeat until one finds nothing new. A stopped
// process cannot fork, so a fork bomb stops growing, and then every stopped
// process is SIGKILLed at once. The whole repeats until a round finds
// nothing or the deadline passes.
//
// A process of the tree that leads its own process group (a setsid
// daemon, a bomb that left for a session of its own) is stopped, then its
// whole group is stopped by group id, and later killed the same way: one
// signal reaches members that forked since the last pass over /proc. The id
// is signalled only while the leader provably holds it (it is the caller's
// own unreaped child, or it is seen stopped), so it cannot have been given
// to anyone else; never forkspawn's own group or a spared process's group.
#pragma once

#include "forkspawn/duration.hpp"

#include <functional>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace forkspawn::supervise {

// The variable that marks the tree's processes.
inline constexpr const char* k_tree_variable = "FORKSPAWN_TREE";
// Ancestor ids kept in a nested forkspawn's value (a longer chain is cut).
inline constexpr std::size_t k_tree_max_depth = 16;

// Whether `value` (the variable's value) names the tree `id`.
bool tree_value_has(std::string_view value, std::string_view id);
// The value for a new tree `id` started in an environment where the variable
// was `inherited` (null: unset): its own id first, then the well-formed ids
// of the trees around it.
std::string tree_value(std::string_view id, const char* inherited);

// Whether the environment of `pid` (/proc/PID/environ, or a living
// thread's when its main thread has exited) marks it as part of tree `id`.
// False when it is gone or unreadable.
bool process_in_tree(pid_t pid, std::string_view id);

// Whether process `pid` has exited as a whole (or is gone). Not the state
// letter of /proc/PID/stat: a leader whose main thread exited shows 'Z'
// while its other threads run on.
bool exited(pid_t pid);

// When process `pid` started (field 22 of /proc/PID/stat, clock ticks
// since boot), zombies included: with the pid, it names one process for
// good, as a pid reused by another process has a later start. 0 when no
// process has that pid.
std::uint64_t process_start_ticks(pid_t pid);

struct SweepResult {
    std::size_t killed = 0; // processes SIGKILLed
    bool complete = false;  // a last round found nothing left
};

// Stops, then kills every process of tree `id` (empty: none by marker) and
// every child of `parent` (0: none), except the pids in `spare`; see above.
// The pids in `first` (known children, say) are examined before each pass
// over /proc. Does not reap: a caller that is the parent (or subreaper) reaps.
SweepResult sweep_tree(std::string_view id, pid_t parent, const std::vector<pid_t>& spare,
                       TimePoint until, const std::vector<pid_t>& first = {});

// Our children (every thread's), living or not reaped yet.
std::vector<pid_t> living_children();

// The end of a run: every child of ours but those `spare` names escaped its
// actor (a double fork, setsid) and was adopted. Calls `reap`, then stops
// and kills what is left and what it started (by tree `id` when not empty,
// as the guardian would), waits for the deaths, and repeats until two reads
// in a row find nothing. `spare` is asked after each `reap`: a helper that
// `reap` replaced (a new guardian, for one that died) is spared by its new
// pid. `killed` hears how many each round killed. Never waits past `until`;
// false when something was still alive then.
bool kill_escaped(std::string_view id, const std::function<std::vector<pid_t>()>& spare,
                  TimePoint until,
                  const std::function<void()>& reap,
                  const std::function<void(std::size_t)>& killed);

} // namespace forkspawn::supervise
