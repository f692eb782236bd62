// SPDX-License-Identifier: MIT
// The control socket (DESIGN "Control"): `forkspawn run --control=PATH`
// serves a unix stream socket from the supervisor's event loop, and
// `forkspawn ctl PATH COMMAND` talks to it. One JSON object per line each
// way; every request is answered with {"ok": true, ...} or {"ok": false,
// "error": "..."} (an "id" in the request comes back in its reply):
//
//   {"cmd": "status"}                        the live tree ("actors": [...])
//   {"cmd": "stop", "paths": [P...]}         answered once they have ended
//   {"cmd": "start", "paths": [P...]}        answered once they run again
//   {"cmd": "restart", "paths": [P...]}      (the same)
//   {"cmd": "signal", "path": P, "signal": "HUP"}
//   {"cmd": "cancel"}                        the tree, as SIGTERM would
//   {"cmd": "wait", "ready": B, "paths": [P...]}
//                                            answered {"reached": true} or
//                                            {"reached": false, "why": ...}
//   {"cmd": "events"}                        {"ok": true}, then the jsonl
//                                            events until the summary
//
// A request the tree's end overtakes is answered {"ok": false,
// "tree_ended": true, ...}. This file holds the pure parts (requests, the
// live table, the replies) and the server's socket handling; what a request
// does to the tree is the supervisor's (supervise/control_link.cpp).
#pragma once

#include "forkspawn/event_loop.hpp"
#include "forkspawn/unique_fd.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace forkspawn::spec {
struct Actor;
}

namespace forkspawn::control {

constexpr std::size_t k_max_clients = 64;
constexpr std::size_t k_max_request = 64 * 1024;  // bytes of one request line
constexpr std::size_t k_max_queued = 1024 * 1024; // a client past this is dropped

enum class Op { status, stop, start, restart, signal, cancel, wait, events };
std::string_view op_name(Op op);

struct Request {
    Op op = Op::status;
    std::vector<std::string> paths; // stop, start, restart, wait; signal: one
    int signo = 0;                  // signal
    bool ready = false;             // wait --ready
    std::string id;                 // the request's "id", as JSON text ("" when none)
    std::string error;              // why it is not a valid request ("" when it is)
};

// A request line (without its newline). When it is not a valid request,
// `error` says why (and `id` is kept when the line had a readable one).
Request parse_request(std::string_view line);

// Replies, each one line with its newline. `fields`: more members, as
// JSON object text without the braces ("" for none).
std::string ok_reply(const std::string& id, std::string_view fields = {});
std::string error_reply(const std::string& id, std::string_view error,
                        std::string_view fields = {});

// One actor as the control socket shows it: kept by the root for every
// actor at every depth, from its own actors and from "live" messages of the
// sub-supervisors.
struct LiveActor {
    std::string path;
    bool nursery = false;
    std::optional<long> pid;
    std::string state = "waiting";      // lifecycle::public_name
    std::optional<std::string> outcome; // its end (ended), or its last attempt's
    std::optional<std::string> cancel_reason;
    unsigned restarts = 0;
    unsigned attempt = 0; // 0: never started
    bool ready = false;   // its attempt said it is ready (or has no ready source)
    std::optional<std::string> status_text;
    std::optional<double> started_ms, ended_ms;
    bool operator==(const LiveActor&) const = default;
};

std::string live_json(const LiveActor& a);
std::optional<LiveActor> live_from_json(std::string_view text);

// The outcome of a wait on some actors.
struct WaitState {
    enum class Is { pending, reached, failed } is = Is::pending;
    std::string why; // failed: which actor, and how it ended
};

class LiveTable {
  public:
    LiveTable() = default;
    // An entry, "waiting", for every actor below `root` (depth-first).
    explicit LiveTable(const spec::Actor& root);

    // Replaces the entry at a.path; false when the path is unknown or
    // nothing changed. A nursery that ended ends what is still shown alive
    // below it: its supervisor is gone, and no word of them will come
    // (`killed` with supervisor_killed if it ran, else not_started).
    bool update(const LiveActor& a);
    const LiveActor* find(std::string_view path) const;
    std::optional<std::size_t> index(std::string_view path) const;
    const LiveActor& at(std::size_t i) const { return m_actors[i]; }
    std::size_t size() const { return m_actors.size(); }

    // The command actors a wait names: each path itself, or every command
    // actor below a nursery; none given: every command actor. The first
    // unknown path in `unknown`.
    std::vector<std::size_t> wait_targets(const std::vector<std::string>& paths,
                                          std::string* unknown) const;
    // All of `targets` ready (`ready`: ready now, or completed after being
    // ready) or ended; failed as soon as one can no longer get there.
    WaitState wait_state(const std::vector<std::size_t>& targets, bool ready) const;
    // The nearest nursery above `path` that has ended, if one has.
    const LiveActor* ended_nursery_above(std::string_view path) const;

    // The whole status reply, {"ok": true, "now_ms": ..., "actors": [...]}
    // with its newline, written in one buffer (a wide tree's is 200 kB);
    // runtime_ms counts up to `now_ms` for a running actor.
    std::string status_reply(const std::string& id, double now_ms) const;

  private:
    std::vector<LiveActor> m_actors;
    std::unordered_map<std::string, std::size_t> m_index;
    void add(const spec::Actor& nursery);
};

// The bound and listening socket at a path, made before anything runs (a
// live socket there is an error, a stale one is replaced) and removed when
// this goes (also after an internal error: the caller owns it).
class Listener {
  public:
    // Throws Error (exit 2) saying why.
    static Listener open(const std::string& path);
    Listener() = default;
    Listener(Listener&& o) noexcept
        : m_fd(std::move(o.m_fd)), m_path(std::exchange(o.m_path, {})), m_ino(o.m_ino) {}
    Listener& operator=(Listener&&) = delete;
    ~Listener();
    int fd() const { return m_fd.get(); }
    const std::string& path() const { return m_path; }

  private:
    UniqueFd m_fd;
    std::string m_path;
    ino_t m_ino = 0; // removed only while the path is still this socket
};

// The clients of the control socket, served from the supervisor's loop:
// accepts (at most k_max_clients; SO_PEERCRED: forkspawn's uid or root),
// reads lines (at most k_max_request each), queues replies (a client with
// more than k_max_queued waiting is dropped), and streams events to the
// clients that asked. Never blocks.
class Server {
  public:
    using ClientId = std::uint64_t;
    // `tag(k)`: the loop tag for entry k (0: the listening socket, k >= 1:
    // client slot k - 1).
    Server(int listen_fd, EventLoop& loop, std::uint64_t (*tag)(std::size_t));
    ~Server();

    // Handles an event of entry k; the requests that arrived, in order
    // (malformed ones too, with their `error`: they are answered in turn).
    std::vector<std::pair<ClientId, Request>> on_event(std::size_t k, std::uint32_t events);
    // Queues the answer to one of a client's requests (gone: ignored). A
    // client that closed its side after its requests is closed once each
    // has its answer (events excepted: they go on to the end).
    void send(ClientId client, std::string line);
    // The client will receive events (its request was answered).
    void subscribe(ClientId client);
    bool has_subscribers() const { return m_subscribers > 0; }
    void publish(const std::string& event_line);
    // Whether a client is still connected.
    bool connected(ClientId client) const;
    // The end of the run: `last` to the subscribers, then every client gets
    // up to `limit` to take what is queued, and is closed.
    void finish(const std::string& last, std::chrono::milliseconds limit);
    std::size_t clients() const;

  private:
    struct Client {
        UniqueFd fd;
        ClientId id = 0;
        std::string in;
        std::deque<std::string> out;
        std::size_t out_bytes = 0, out_offset = 0;
        bool subscribed = false;
        bool closing = false;       // close once `out` is sent
        bool peer_done = false;     // it shut its side (echo ... | socat): read no more
        std::size_t unanswered = 0; // its requests without an answer yet
    };
    int m_listen;
    EventLoop& m_loop;
    std::uint64_t (*m_tag)(std::size_t);
    std::vector<Client> m_slots; // k_max_clients; fd < 0: free
    ClientId m_next_id = 1;
    std::size_t m_subscribers = 0;
    bool m_accept_paused = false;

    void accept_clients();
    void refuse(int fd, std::string_view why);
    void read_client(std::size_t slot, std::vector<std::pair<ClientId, Request>>& out);
    void flush(std::size_t slot);
    void queue(Client& c, std::string line);
    void drop(std::size_t slot);
    Client* by_id(ClientId id);
    const Client* by_id(ClientId id) const;
};

// `forkspawn ctl SOCKET COMMAND ...` (client.cpp): sends the request,
// prints the answer, and returns the exit code (DESIGN "Control"): 0 done,
// 1 refused (or, for wait, an actor failed or ended first), 2 usage error,
// 3 (wait) the tree ended first, 69 the socket cannot be reached.
struct CtlArgs {
    std::string socket;
    std::string command; // status, stop, start, restart, signal, cancel, wait, events
    std::vector<std::string> paths;
    std::string signal; // signal: the signal, as given
    bool json = false;  // status --json
    bool ready = false; // wait --ready
};
constexpr int k_exit_unreachable = 69; // EX_UNAVAILABLE
constexpr int k_exit_tree_ended = 3;
int ctl(const CtlArgs& args);

} // namespace forkspawn::control
