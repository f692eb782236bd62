// SPDX-License-Identifier: MIT
// The messages between a supervisor and a sub-supervisor it started, on
// their SOCK_SEQPACKET channel: one JSON object per datagram ("t" names the
// type), so the kernel does the framing. Typed here: the supervisor sends
// and handles structs, and only this file knows the wire form. A datagram
// that is not a message (not JSON, unknown "t", a field of the wrong type)
// decodes to nothing and is ignored.
//   up (child to parent):  spawned, attempt_ended, ready, reaped, failing, terminal(want), exit,
//                          live, refused
//   down (parent to child): cancel, dump, terminal(lent), control
#pragma once

#include "forkspawn/control.hpp"
#include "forkspawn/report.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <variant>

namespace forkspawn::channel {

// An actor below started: the parent keeps its pid to adopt and report it
// if the sub-supervisor dies, and passes the message on up to the root.
struct Spawned {
    std::string path;
    report::Kind kind = report::Kind::cmd;
    pid_t pid = 0;
    double started_ms = 0;
    std::uint64_t start_ticks = 0; // process_start_ticks(pid) while unreaped; 0: unknown
    unsigned attempt = 1;          // 2 and up: a restart
};
// An attempt of an actor below ended (failed, completed, or stopped for a
// sibling's restart: cancelled, killed) and will be restarted after delay_ms:
// the root streams it (jsonl "exited" and "restarting").
struct AttemptEnded {
    std::string path;
    unsigned attempt = 1;
    std::optional<std::string> status;
    report::Outcome outcome = report::Outcome::failed;
    double ended_ms = 0;
    double delay_ms = 0;
};
// An actor below became ready (DESIGN "Dependencies and readiness"): the
// root streams it (jsonl "ready").
struct Ready {
    std::string path;
    unsigned attempt = 1;
    double ready_ms = 0;
};
// An actor below ended: its report.
struct Reaped {
    report::ActorReport actor;
};
// The sub-supervisor's nursery is failing: its siblings can be cancelled now.
struct Failing {};
// The sub-supervisor wants the terminal for one of its actors (or gives it back).
struct TerminalWant {
    bool want = false;
};
// The last message: everything before it arrived.
struct Exit {
    std::size_t output_dropped = 0;
};
// An actor below changed as the control socket shows it (sent only when
// the root serves one): the root keeps the live table of the whole tree.
struct Live {
    control::LiveActor actor;
};
// A control request for an actor below could not be carried out (the
// supervisor that owns the actor says why).
struct Refused {
    std::uint64_t id = 0;
    std::string error;
};
using Up =
    std::variant<Spawned, AttemptEnded, Ready, Reaped, Failing, TerminalWant, Exit, Live, Refused>;

struct Cancel {
    std::string reason;
};
struct Dump {};
struct TerminalLent {};
// A control request (stop, start, restart, signal) for the actor at `path`,
// which is in this sub-supervisor's subtree; `id` comes back in a Refused.
struct Control {
    std::uint64_t id = 0;
    control::Op op = control::Op::stop;
    std::string path;
    int signo = 0;
};
using Down = std::variant<Cancel, Dump, TerminalLent, Control>;

// For std::visit over a message: one lambda per type.
template <class... F> struct Overload : F... { using F::operator()...; };
template <class... F> Overload(F...) -> Overload<F...>;

std::string encode(const Up& message);
std::string encode(const Down& message);
std::optional<Up> decode_up(std::string_view datagram);
std::optional<Down> decode_down(std::string_view datagram);

} // namespace forkspawn::channel
