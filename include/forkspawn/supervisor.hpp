// SPDX-License-Identifier: MIT
// The supervisor: runs one nursery (the root) in this process with one event
// loop — epoll over pidfds, a signalfd, a timerfd, the backend's completion
// eventfd and the actors' output pipes — and applies DESIGN.md's rules:
// children start in order; one_for_all failure cancels the siblings; daemons
// are cancelled once the work is done; every cancel runs the actor's stop
// sequence against its process group, ending in SIGKILL on time; every child
// is reaped through its pidfd; orphans adopted as subreaper are reaped as
// they come and killed at the end. Nothing in the loop blocks: every wait is
// a deadline in the timer queue.
#pragma once

#include "forkspawn/backend.hpp"
#include "forkspawn/report.hpp"
#include "forkspawn/sink.hpp"
#include "forkspawn/spec.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace forkspawn::supervise {

inline constexpr std::size_t k_max_prefix_width = 40;

struct Options {
    std::string backend = "subint_forkserver";
    std::optional<Duration> tree_timeout;
    report::Format format = report::Format::table;
    int verbosity = 1;   // 0 errors only, 1 notable events, 2 every spawn and exit
    bool colour = false; // colour for actor prefixes on stderr
    // Actors' output prefixes are padded to this many columns, so that
    // their lines start in one column (see prefix_width(); 0: not padded).
    std::size_t prefix_width = 0;
    // The process group the terminal on fd 0 is given back to when an
    // actor with stdin "inherit" that held it ends: forkspawn's own group
    // when it was started in the terminal's foreground, 0 otherwise (no
    // terminal, or a background job: actors are then left to job control).
    pid_t terminal_home = 0;
    // Containment (DESIGN "Containment"): the cgroup v2 directory the
    // children's cgroups are made in. The root's: forkspawn's own cgroup,
    // where it makes the run's; a sub-supervisor's: its nursery's cgroup.
    // Empty: process groups only, and why in cgroup_fallback (auto mode).
    std::string cgroup;
    std::string cgroup_fallback;
    bool cgroup_required = false; // --cgroup=on: no cgroup is an error
    // The control socket (DESIGN "Control"): the root's listening socket
    // (-1: none); `control`: the tree has one, so sub-supervisors tell the
    // root how their actors change.
    int control_fd = -1;
    bool control = false;
    // Set by forkspawn itself: the page of started pids, and the entry of
    // this nursery's first child in it.
    backend::StartedPage page;
    std::size_t first_slot = 0;
};

struct Result {
    int exit_code = 0;
    report::Summary summary;
    std::vector<report::ActorReport> actors; // depth-first, spec order
    // Bytes of actors' output (at any depth) dropped because the log's
    // reader took nothing at the end of a run.
    std::size_t output_dropped = 0;
};

// Signals the supervisor handles through its signalfd; they must be blocked
// in every thread, so main() blocks them before any thread starts.
void block_supervised_signals();

// The longest path of a command actor below `nursery` whose output is
// prefixed, among those of at most k_max_prefix_width columns.
std::size_t prefix_width(const spec::Actor& nursery);

// Runs the tree to the end. `report_sink` receives jsonl lines as actors are
// reaped (when the format is jsonl); `log_sink` receives actor output lines
// and lifecycle messages. The final report is rendered by the caller.
Result run(const spec::Spec& spec, const Options& options, Sink& report_sink, Sink& log_sink);

// The hidden `forkspawn __nursery OPTIONS` mode: a sub-supervisor started
// as a fresh image (backends that do not fork without exec), with its channel
// on fd 3 and its subtree spec on fd 4. Returns the exit code.
int run_reexec_nursery(const char* options_json);

} // namespace forkspawn::supervise
