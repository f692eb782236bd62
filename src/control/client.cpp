// SPDX-License-Identifier: MIT
// `forkspawn ctl`: the control socket's client (control.hpp). It sends one
// request line, reads the reply line (and, for `events`, every line after
// it), prints what a person or a script wants to see, and says with its
// exit status how it went.
#include "forkspawn/control.hpp"

#include "forkspawn/error.hpp"
#include "forkspawn/report.hpp"
#include "forkspawn/signals.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <type_traits>
#include <unistd.h>
#include <vector>

namespace forkspawn::control {

namespace {

using nlohmann::json;

// A reply line longer than this is refused: the status of the largest tree
// (100,000 actors) is a few tens of MiB.
constexpr std::size_t k_max_reply = 256u * 1024 * 1024;
constexpr std::size_t k_read_chunk = 64 * 1024;

int usage_error(std::string_view what) {
    fmt::print(stderr, "forkspawn: error: {}\n", what);
    return k_exit_usage;
}

int unreachable(const std::string& socket, int err) {
    fmt::print(stderr, "forkspawn: error: cannot reach the control socket {}: {}\n", socket,
               errno_text(err));
    return k_exit_unreachable;
}

// A connected socket, or the errno of why not.
int connect_to(const std::string& path, UniqueFd& out) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return ENAMETOOLONG;
    path.copy(addr.sun_path, path.size());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return errno;
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
        if (errno != EINTR) return errno;
        // Interrupted: the connection goes on; wait for it and ask how it went.
        pollfd p{fd.get(), POLLOUT, 0};
        while (::poll(&p, 1, -1) < 0)
            if (errno != EINTR) return errno;
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
        if (err != 0) return err;
    }
    out = std::move(fd);
    return 0;
}

// The whole of `data`, or the errno of why not (EPIPE when the server has
// closed the connection: never SIGPIPE).
int send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
}

// Lines from the socket, each without its newline.
class LineReader {
  public:
    explicit LineReader(int fd) : m_fd(fd) {}

    enum class Got { line, eof, too_long, error };
    // The next line in `line`; eof when the server closed the connection
    // (a last line without a newline is dropped: it was cut off); error
    // with the errno in error().
    Got next(std::string& line) {
        for (;;) {
            const auto nl = m_buf.find('\n', m_scanned);
            if (nl != std::string::npos) {
                line.assign(m_buf, m_start, nl - m_start);
                if (!line.empty() && line.back() == '\r') line.pop_back();
                m_start = m_scanned = nl + 1;
                return Got::line;
            }
            m_scanned = m_buf.size();
            if (m_scanned - m_start > k_max_reply) return Got::too_long;
            // What has been taken is dropped before reading more, so the
            // buffer holds one line at most, plus one read.
            if (m_start > 0) {
                m_buf.erase(0, m_start);
                m_scanned -= m_start;
                m_start = 0;
            }
            const std::size_t have = m_buf.size();
            m_buf.resize(have + k_read_chunk);
            const ssize_t n = ::recv(m_fd, m_buf.data() + have, k_read_chunk, 0);
            m_buf.resize(have + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
            if (n < 0 && errno == EINTR) continue;
            // A server that closes with our request unread (it was refused)
            // leaves ECONNRESET after its last line: the same end.
            if (n == 0 || (n < 0 && errno == ECONNRESET)) return Got::eof;
            if (n < 0) {
                m_error = errno;
                return Got::error;
            }
        }
    }
    int error() const { return m_error; }

  private:
    int m_fd;
    std::string m_buf;
    std::size_t m_start = 0;   // where the next line begins
    std::size_t m_scanned = 0; // no newline between m_start and here
    int m_error = 0;
};

// Writes to stdout, flushed (a script reads it as it comes); false when
// stdout cannot take it.
bool put(std::string_view text) {
    return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() &&
           std::fflush(stdout) == 0;
}

int stdout_failed() {
    const int err = errno;
    // The reader went away (SIGPIPE is ignored, or it would have ended
    // this): a pipeline's end, as the signal would say it.
    if (err == EPIPE) return 128 + SIGPIPE;
    fmt::print(stderr, "forkspawn: error: cannot write to stdout: {}\n", errno_text(err));
    return k_exit_io;
}

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The request for `args`, or a usage error in `why`.
std::optional<json> build_request(const CtlArgs& args, std::string& why) {
    const auto& cmd = args.command;
    json r = {{"cmd", cmd}};
    for (const auto& p : args.paths) {
        if (p.empty()) {
            why = "an actor path must not be empty (`status` lists them, e.g. root/web)";
            return std::nullopt;
        }
    }
    if (cmd == "status" || cmd == "cancel" || cmd == "events") {
        if (!args.paths.empty()) {
            why = fmt::format("ctl {} takes no actor paths", cmd);
            return std::nullopt;
        }
        return r;
    }
    if (cmd == "stop" || cmd == "start" || cmd == "restart") {
        if (args.paths.empty()) {
            why = fmt::format("ctl {} needs at least one actor path, e.g. root/web", cmd);
            return std::nullopt;
        }
        r["paths"] = args.paths;
        return r;
    }
    if (cmd == "wait") {
        r["ready"] = args.ready;
        if (!args.paths.empty()) r["paths"] = args.paths;
        return r;
    }
    if (cmd == "signal") {
        if (args.paths.size() != 1) {
            why = "ctl signal needs one actor path and a signal, e.g. root/web HUP";
            return std::nullopt;
        }
        r["path"] = args.paths.front();
        if (const auto signo = parse_signal(args.signal)) {
            r["signal"] = *signo;
            return r;
        }
        why = fmt::format("ctl signal: unknown signal '{}'; give {}", args.signal, k_signal_help);
        return std::nullopt;
    }
    why = fmt::format("unknown ctl command '{}'; valid: status, stop, start, restart, signal, "
                      "cancel, wait, events",
                      cmd);
    return std::nullopt;
}

std::optional<std::string> string_of(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

template <typename T> std::optional<T> number_of(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return std::nullopt;
    if constexpr (std::is_integral_v<T>) {
        if (!it->is_number_integer()) return std::nullopt;
        if (it->is_number_unsigned())
            return static_cast<T>(
                std::min<std::uint64_t>(it->get<std::uint64_t>(), std::numeric_limits<T>::max()));
        const auto v = it->get<std::int64_t>();
        if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min())) return std::nullopt;
        return static_cast<T>(std::min<std::int64_t>(v, std::numeric_limits<T>::max()));
    } else {
        return it->get<T>();
    }
}

report::StatusRow status_row(const json& a) {
    report::StatusRow row;
    row.path = string_of(a, "path").value_or("?");
    row.kind = string_of(a, "kind") == "nursery" ? report::Kind::nursery : report::Kind::cmd;
    row.pid = number_of<long>(a, "pid");
    row.state = string_of(a, "state").value_or("");
    row.outcome = string_of(a, "outcome");
    row.cancel_reason = string_of(a, "cancel_reason");
    row.restarts = number_of<unsigned>(a, "restarts").value_or(0);
    row.attempt = number_of<unsigned>(a, "attempt").value_or(0);
    const auto ready = a.find("ready");
    row.ready = ready != a.end() && ready->is_boolean() && ready->get<bool>();
    row.status_text = string_of(a, "status_text");
    row.runtime_ms = number_of<double>(a, "runtime_ms");
    return row;
}

bool colour_allowed() {
    const char* no_colour = std::getenv("NO_COLOR");
    return ::isatty(STDOUT_FILENO) == 1 && !(no_colour && *no_colour);
}

// `root/web: running (pid 1234, attempt 2)`, `root/web: ended (cancelled)`.
std::string actor_line(const json& a, bool stop) {
    const std::string path = string_of(a, "path").value_or("?");
    const std::string state = string_of(a, "state").value_or("?");
    std::vector<std::string> notes;
    const auto outcome = string_of(a, "outcome");
    const auto pid = number_of<long>(a, "pid");
    const auto attempt = number_of<unsigned>(a, "attempt");
    if (state == "ended" && outcome) notes.push_back(*outcome);
    if (state != "ended" && pid) notes.push_back(fmt::format("pid {}", *pid));
    if (!stop && attempt && *attempt > 0) notes.push_back(fmt::format("attempt {}", *attempt));
    std::string line = fmt::format("{}: {}", path, state);
    for (std::size_t k = 0; k < notes.size(); ++k)
        line += fmt::format("{}{}", k == 0 ? " (" : ", ", notes[k]);
    if (!notes.empty()) line += ')';
    line += '\n';
    return line;
}

// What `line` says the request came to, after an {"ok": true} reply.
int on_success(const CtlArgs& args, const std::string& line, const json& reply) {
    const auto& cmd = args.command;
    if (cmd == "status") {
        if (args.json) return put(line + "\n") ? k_exit_ok : stdout_failed();
        std::vector<report::StatusRow> rows;
        if (const auto actors = reply.find("actors"); actors != reply.end() && actors->is_array())
            for (const auto& a : *actors)
                if (a.is_object()) rows.push_back(status_row(a));
        const std::string table = report::render_status_table(
            rows, number_of<double>(reply, "now_ms").value_or(0), colour_allowed());
        return put(table) ? k_exit_ok : stdout_failed();
    }
    if (cmd == "stop" || cmd == "start" || cmd == "restart") {
        std::string out;
        if (const auto actors = reply.find("actors"); actors != reply.end() && actors->is_array())
            for (const auto& a : *actors)
                if (a.is_object()) out += actor_line(a, cmd == "stop");
        return put(out) ? k_exit_ok : stdout_failed();
    }
    if (cmd == "wait") {
        const auto reached = reply.find("reached");
        if (reached != reply.end() && reached->is_boolean() && reached->get<bool>())
            return k_exit_ok;
        fmt::print(stderr, "forkspawn: {}\n",
                   string_of(reply, "why").value_or("the actors can no longer get there"));
        return k_exit_failed;
    }
    return k_exit_ok; // signal, cancel
}

// After the {"ok": true} of `events`: every line as it comes, until the
// server closes (after the summary).
int stream_events(LineReader& in, const std::string& socket) {
    std::string line;
    for (;;) {
        switch (in.next(line)) {
        case LineReader::Got::line:
            line += '\n';
            if (!put(line)) return stdout_failed();
            continue;
        case LineReader::Got::eof:
            return k_exit_ok;
        case LineReader::Got::too_long:
            fmt::print(stderr, "forkspawn: error: an event from {} is longer than {} bytes\n",
                       socket, k_max_reply);
            return k_exit_failed;
        case LineReader::Got::error:
            fmt::print(stderr, "forkspawn: error: cannot read from {}: {}\n", socket,
                       errno_text(in.error()));
            return k_exit_unreachable;
        }
    }
}

} // namespace

// How long `ctl wait` waits for the socket to appear.
constexpr std::chrono::seconds k_wait_for_socket{5};

int ctl(const CtlArgs& args) {
    if (args.socket.empty()) return usage_error("ctl: the control socket path is empty");
    std::string why;
    const auto request = build_request(args, why);
    if (!request) return usage_error(why);

    UniqueFd fd;
    int err = connect_to(args.socket, fd);
    // `wait` is what a script runs right after starting forkspawn in the
    // background: it gives a run that is starting up a moment to bind its
    // socket (k_wait_for_socket) before it calls the socket unreachable.
    if (args.command == "wait") {
        const auto until = std::chrono::steady_clock::now() + k_wait_for_socket;
        while ((err == ENOENT || err == ECONNREFUSED) && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling with a deadline
            err = connect_to(args.socket, fd);
        }
    }
    if (err != 0) return unreachable(args.socket, err);
    // A refused client (another uid, too many clients) is answered and
    // closed before it is heard: its answer is still read below.
    const int send_err = send_all(fd.get(), dump(*request) + "\n");
    if (send_err != 0 && send_err != EPIPE && send_err != ECONNRESET)
        return unreachable(args.socket, send_err);

    LineReader in(fd.get());
    std::string line;
    switch (in.next(line)) {
    case LineReader::Got::line:
        break;
    case LineReader::Got::eof:
        if (args.command == "wait") {
            fmt::print(stderr, "forkspawn: the tree ended first\n");
            return k_exit_tree_ended;
        }
        fmt::print(stderr,
                   "forkspawn: error: {} closed the connection without an answer (the tree "
                   "ended?)\n",
                   args.socket);
        return k_exit_unreachable;
    case LineReader::Got::too_long:
        fmt::print(stderr, "forkspawn: error: the answer from {} is longer than {} bytes\n",
                   args.socket, k_max_reply);
        return k_exit_failed;
    case LineReader::Got::error:
        fmt::print(stderr, "forkspawn: error: cannot read the answer from {}: {}\n", args.socket,
                   errno_text(in.error()));
        return k_exit_unreachable;
    }

    // status --json prints the reply as it came: forkspawn's successful
    // replies begin so, and a 200 kB tree need not be parsed to be copied.
    if (args.command == "status" && args.json && line.starts_with("{\"ok\": true,"))
        return put(line + "\n") ? k_exit_ok : stdout_failed();
    const json reply = json::parse(line, nullptr, false);
    const auto ok = reply.is_object() ? reply.find("ok") : reply.end();
    if (!reply.is_object() || ok == reply.end() || !ok->is_boolean()) {
        fmt::print(stderr,
                   "forkspawn: error: {} answered something that is not a forkspawn reply: {}\n",
                   args.socket, dump(json(line.substr(0, 200))));
        return k_exit_unreachable;
    }
    if (!ok->get<bool>()) {
        const std::string error = string_of(reply, "error").value_or("refused");
        const auto ended = reply.find("tree_ended");
        if (ended != reply.end() && ended->is_boolean() && ended->get<bool>()) {
            fmt::print(stderr, "forkspawn: {}\n", error);
            return k_exit_tree_ended;
        }
        fmt::print(stderr, "forkspawn: error: {}\n", error);
        return k_exit_failed;
    }
    if (args.command == "events") return stream_events(in, args.socket);
    return on_success(args, line, reply);
}

} // namespace forkspawn::control
