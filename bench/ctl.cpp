// SPDX-License-Identifier: MIT
// Control socket round trip: `{"cmd":"status"}` to forkspawn's control
// socket (`forkspawn run --control=PATH`) and its whole reply line back,
// for a tree of 1000 sleeping actors in 10 nurseries (1010 entries: the
// nurseries are sub-supervisors, whose actors' states travel up to the root
// before the root can answer), per backend. Target: `ctl status --json`
// for a 1,000-actor tree in at most 5 ms (median), shown as a ratio of a
// bare unix-socket echo round trip in the same run; the verdict is on the
// protocol round trip (the status row), the whole CLI is shown beside it.
//
// Per backend, one run of `forkspawn run --control=SOCK --report=none
// --cgroup=off`: the actors (forkspawn_bench_actor sleep FIFO) write a
// record to the bench's fifo and exec sleep; once all did, the bench asks
// for the status on one connection until every entry is running (or
// ready: an actor with no ready source is ready once it runs). Then, in
// rounds (every subject once per round, the CLI rows in the first rounds
// only):
//   - status: one persistent connection; send the request line, read until
//     the reply's newline. Median, p90, p99 and the reply's size;
//   - `forkspawn ctl SOCK status --json`: spawned with stdout to a pipe,
//     read to its end, reaped (a whole CLI round trip: exec, start-up,
//     connect, request, reply, JSON parse, print);
//   - the baseline: a bare echo server, a child forked by the bench,
//     answers each request line on a unix socket with one line of the same
//     size as forkspawn's first status reply; same client code, same loop;
//   - `forkspawn --version`: the CLI's start-up alone (exec, dynamic
//     linking, argument parsing), no socket: what the CLI rows cost before
//     they reach the socket.
// Then `{"cmd":"cancel"}` and forkspawn's exit (143). Whatever happens, the
// run ends with nothing left: forkspawn is cancelled (SIGTERM, then
// SIGKILL past a deadline) and every actor the fifo named that is still
// there, with its process group, is killed (and counted as a failure).
//
//   forkspawn_bench_ctl FORKSPAWN [--actors=1000] [--nurseries=10]
//                       [--cli-reps=50] [--reps=200] [--quick]
#include "common.hpp"

#include <dirent.h>
#include <map>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/un.h>

using namespace bench;

namespace {

constexpr auto k_start_limit = std::chrono::seconds(120); // 1000 actors under load
constexpr auto k_io_limit = std::chrono::seconds(10);     // one reply
constexpr double k_target_ms = 5.0;
const std::string k_status = "{\"cmd\":\"status\"}\n";

// The children of the moment, for a signal that ends the bench (its
// terminal's ^C reaches forkspawn too, a kill of the bench alone does not):
// forkspawn is told to stop its tree, the echo server is killed.
volatile sig_atomic_t g_forkspawn = 0, g_echo = 0;

void on_signal(int sig) {
    if (g_forkspawn > 0) ::kill(g_forkspawn, SIGTERM);
    if (g_echo > 0) ::kill(g_echo, SIGKILL);
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    return addr;
}

// A connected unix stream socket whose reads give up after k_io_limit; -1.
int connect_unix(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const sockaddr_un addr = address_of(path);
    const timeval limit{std::chrono::seconds(k_io_limit).count(), 0};
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool send_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// One connection, one request line out, one reply line back: the client of
// both the forkspawn rows and the echo baseline, so both pay the same.
class Connection {
  public:
    explicit Connection(const std::string& path) : m_fd(connect_unix(path)) {
        m_buf.resize(1 << 20);
    }
    ~Connection() {
        if (m_fd >= 0) ::close(m_fd);
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    bool ok() const { return m_fd >= 0; }

    // Sends `request` and reads until a newline ends what came; the reply
    // (with its newline) is reply(). False on an error, EOF or timeout.
    bool round_trip(const std::string& request) {
        m_size = 0;
        if (!send_all(m_fd, request.data(), request.size())) return false;
        for (;;) {
            if (m_buf.size() - m_size < k_chunk) m_buf.resize(m_buf.size() * 2);
            const ssize_t n = ::recv(m_fd, m_buf.data() + m_size, k_chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            m_size += static_cast<std::size_t>(n);
            if (m_buf[m_size - 1] == '\n') return true;
        }
    }
    std::string_view reply() const { return {m_buf.data(), m_size}; }

  private:
    // As forkspawn's own client reads (control/client.cpp).
    static constexpr std::size_t k_chunk = 64 * 1024;
    int m_fd;
    std::vector<char> m_buf;
    std::size_t m_size = 0;
};

// The baseline: a child of the bench that accepts one connection and
// answers every line with the same prepared line of `size` bytes (newline
// included), until the connection closes. Listening before the fork, so
// the bench connects without waiting for anything.
class EchoServer {
  public:
    EchoServer(const std::string& path, std::size_t size) : m_path(path) {
        ::unlink(path.c_str());
        const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listener < 0) return;
        const sockaddr_un addr = address_of(path);
        if (::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0 ||
            ::listen(listener, 1) < 0) {
            ::close(listener);
            return;
        }
        // {"ok": true, "pad": "xxx"}\n, exactly `size` bytes.
        const std::string head = "{\"ok\": true, \"pad\": \"", tail = "\"}\n";
        std::string reply = head;
        reply.append(size > head.size() + tail.size() ? size - head.size() - tail.size() : 0, 'x');
        reply += tail;
        std::vector<char> in(64 * 1024);
        m_pid = ::fork();
        if (m_pid > 0) g_echo = m_pid;
        if (m_pid == 0) {
            for (const int sig : {SIGINT, SIGTERM, SIGHUP})
                ::signal(sig, SIG_DFL);
            const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) ::_exit(1);
            for (;;) {
                const ssize_t n = ::recv(fd, in.data(), in.size(), 0);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) ::_exit(0);
                // One request line per round trip: a read that ends the line
                // is answered (requests are never pipelined here).
                if (in[static_cast<std::size_t>(n) - 1] != '\n') continue;
                if (!send_all(fd, reply.data(), reply.size())) ::_exit(1);
            }
        }
        ::close(listener);
    }
    ~EchoServer() {
        if (m_pid > 0) {
            // It ends when its connection closes (the caller's goes first).
            if (!wait_exit(m_pid, std::chrono::seconds(5)))
                fmt::print(stderr, "bench: the echo server did not end; killed\n");
            g_echo = 0;
        }
        ::unlink(m_path.c_str());
    }
    EchoServer(const EchoServer&) = delete;
    EchoServer& operator=(const EchoServer&) = delete;
    bool ok() const { return m_pid > 0; }
    pid_t pid() const { return m_pid; }

  private:
    std::string m_path;
    pid_t m_pid = -1;
};

// The spec: root with `nurseries` nurseries that share `actors` sleeping
// actors (0 nurseries: all at the root).
std::string spec(const std::string& helper, const std::string& fifo, int actors, int nurseries) {
    auto sleeper = [&](int i) {
        return nlohmann::json{{"name", fmt::format("s{}", i)}, {"cmd", {helper, "sleep", fifo}}};
    };
    nlohmann::json top = nlohmann::json::array();
    if (nurseries <= 0) {
        for (int i = 0; i < actors; ++i)
            top.push_back(sleeper(i));
    } else {
        for (int k = 0; k < nurseries; ++k) {
            nlohmann::json list = nlohmann::json::array();
            for (int i = k; i < actors; i += nurseries)
                list.push_back(sleeper(i));
            top.push_back({{"name", fmt::format("n{}", k)}, {"actors", list}});
        }
    }
    return nlohmann::json{{"name", "root"}, {"output", "null"}, {"actors", top}}.dump();
}

// The entries of a status reply and how many of them run; nullopt when it
// is not an {"ok": true, "actors": [...]} reply.
struct Census {
    std::size_t entries = 0, running = 0;
};
std::optional<Census> census(std::string_view reply) {
    const auto j = nlohmann::json::parse(reply, nullptr, false);
    if (!j.is_object() || j.value("ok", false) != true || !j.contains("actors") ||
        !j["actors"].is_array())
        return std::nullopt;
    Census c;
    for (const auto& a : j["actors"]) {
        ++c.entries;
        const std::string state = a.value("state", "");
        if (state == "running" || state == "ready") ++c.running;
    }
    return c;
}

// What a backend's run measured, in ms; the reply sizes in bytes.
struct Samples {
    std::vector<double> status, echo, cli, version, reply_bytes, cli_bytes;
    std::size_t entries = 0, echo_bytes = 0;
    // The servers' own side over the timed rounds, per request answered
    // (forkspawn's count the CLI's requests too): CPU ms, minor faults.
    double server_cpu_ms = 0, server_faults = 0, echo_cpu_ms = 0;
    bool ok = false;
};

// CPU time of every thread of `pid` so far, ns (/proc/PID/task/*/schedstat:
// on-CPU ns first); and its minor page faults (field 10 of /proc/PID/stat).
struct Usage {
    double cpu_ns = 0, faults = 0;
};
Usage usage_of(pid_t pid) {
    Usage u;
    const std::string task = fmt::format("/proc/{}/task", pid);
    if (DIR* d = ::opendir(task.c_str())) {
        while (const dirent* e = ::readdir(d))
            if (e->d_name[0] != '.')
                u.cpu_ns += std::atof(read_file(task + "/" + e->d_name + "/schedstat").c_str());
        ::closedir(d);
    }
    const std::string text = read_file(fmt::format("/proc/{}/stat", pid));
    const auto close = text.rfind(')');
    unsigned long minflt = 0;
    // After ") ": state ppid pgrp session tty_nr tpgid flags minflt
    if (close != std::string::npos &&
        std::sscanf(text.c_str() + close + 1, " %*c %*d %*d %*d %*d %*d %*u %lu", &minflt) == 1)
        u.faults = static_cast<double>(minflt);
    return u;
}

// Whether process `pid` is still there (not a zombie) and its comm is
// `comm`: an actor (sleep) or a sub-supervisor (forkspawn) left behind.
bool still_there(pid_t pid, std::string_view comm) {
    const std::string text = read_file(fmt::format("/proc/{}/stat", pid));
    const auto open = text.find('('), close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 2 >= text.size())
        return false;
    return text.compare(open + 1, close - open - 1, comm) == 0 && text[close + 2] != 'Z';
}

// One forkspawn run on a backend. The destructor leaves nothing: a run
// still going is cancelled (SIGTERM: forkspawn stops its tree), killed past
// a deadline (its guardian then kills the actors), and every actor the fifo
// named that is still there is killed with its process group.
class Tree {
  public:
    Tree(const std::string& forkspawn, const std::string& backend, const std::string& spec_path,
         const std::string& sock, const std::string& log)
        : m_backend(backend) {
        const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        m_pid = start({forkspawn, "run", "--spawn-backend=" + backend, "--control=" + sock,
                       "--report=none", "--cgroup=off", spec_path},
                      -1, err);
        if (err >= 0) ::close(err);
        if (m_pid > 0) g_forkspawn = m_pid;
        m_log = log;
    }
    ~Tree() {
        if (m_pid > 0) {
            ::kill(m_pid, SIGTERM);
            if (!wait_exit(m_pid, std::chrono::seconds(30)))
                fmt::print(stderr, "bench: ctl {}: forkspawn did not stop; killed\n", m_backend);
            g_forkspawn = 0;
        }
        leftovers();
    }
    Tree(const Tree&) = delete;
    Tree& operator=(const Tree&) = delete;

    pid_t pid() const { return m_pid; }
    void add_actors(const std::vector<ActorEvent>& ready) {
        for (const auto& e : ready)
            if (e.kind == 'R') m_actors.push_back(e.pid);
    }
    void add_nursery(pid_t pid) { m_nurseries.push_back(pid); }

    // After `{"cmd":"cancel"}`: forkspawn's exit status, nullopt if it had
    // to be killed.
    std::optional<int> wait() {
        const auto status = wait_exit(m_pid, std::chrono::seconds(30));
        m_pid = -1;
        g_forkspawn = 0;
        return status;
    }

    // Kills and counts what is left of the tree; 0 when nothing is.
    std::size_t leftovers() {
        std::size_t left = 0;
        for (const pid_t pid : m_actors)
            if (still_there(pid, "sleep")) {
                ::kill(-pid, SIGKILL); // its process group (--cgroup=off)
                ::kill(pid, SIGKILL);
                ++left;
            }
        for (const pid_t pid : m_nurseries)
            if (still_there(pid, "forkspawn")) {
                ::kill(pid, SIGKILL);
                ++left;
            }
        if (left > 0)
            fmt::print(stderr, "bench: ctl {}: {} processes of the tree were left; killed\n",
                       m_backend, left);
        m_actors.clear();
        m_nurseries.clear();
        return left;
    }

    // The end of forkspawn's stderr, for a failure's message.
    std::string log_tail() const {
        const std::string text = read_file(m_log);
        return text.size() > 600 ? "..." + text.substr(text.size() - 600) : text;
    }

  private:
    std::string m_backend, m_log;
    pid_t m_pid = -1;
    std::vector<pid_t> m_actors, m_nurseries;
};

// One CLI round trip: the command spawned with stdout to a pipe, read to
// its end, reaped; ms (-1 on failure) and the bytes it printed.
std::pair<double, std::size_t> cli_round_trip(const std::vector<std::string>& cmd) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) < 0) return {-1, 0};
    std::size_t bytes = 0;
    const auto t0 = Clock::now();
    const pid_t pid = start(cmd, out[1]);
    ::close(out[1]);
    if (pid < 0) {
        ::close(out[0]);
        return {-1, 0};
    }
    static char buf[64 * 1024];
    const auto until = Clock::now() + k_io_limit;
    bool eof = false;
    while (!eof && Clock::now() < until) {
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, 1000) <= 0) continue;
        const ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) eof = true;
        if (n > 0) bytes += static_cast<std::size_t>(n);
    }
    const auto status = wait_exit(pid, std::chrono::seconds(5));
    const double ms = ms_between(t0, Clock::now());
    ::close(out[0]);
    return {eof && exited_with(status, 0) ? ms : -1, bytes};
}

Samples one_backend(const std::string& forkspawn, const std::string& helper,
                    const std::string& backend, int n, int nurseries, int reps, int cli_reps,
                    const std::string& dir) {
    Samples s;
    Fifo fifo;
    const std::string spec_path = dir + "/ctl.json";
    const std::string sock = dir + "/control.sock";
    const std::string log = dir + "/forkspawn.log";
    // The run's files go with it, however it ends (the last to go).
    struct Files {
        std::vector<std::string> paths;
        ~Files() {
            for (const auto& p : paths)
                ::unlink(p.c_str());
        }
    } files{{spec_path, log, sock}};
    write_file(spec_path, spec(helper, fifo.path(), n, nurseries));
    const std::size_t expected = static_cast<std::size_t>(n + std::max(nurseries, 0));
    auto fail = [&](const Tree& tree, const std::string& what) {
        fmt::print(stderr, "bench: ctl {}: {}\n{}", backend, what, tree.log_tail());
        return s;
    };

    Tree tree(forkspawn, backend, spec_path, sock, log);
    if (tree.pid() < 0) return fail(tree, "cannot start forkspawn");
    const auto ready = fifo.wait_for(static_cast<std::size_t>(n), 'R', k_start_limit);
    tree.add_actors(ready);
    if (ready.size() != static_cast<std::size_t>(n))
        return fail(tree, fmt::format("{} of {} actors started", ready.size(), n));

    // The socket listens from before the first spawn: every actor that ran
    // found it there. Status until every entry runs.
    Connection control(sock);
    if (!control.ok()) return fail(tree, "cannot connect to the control socket");
    const auto until = Clock::now() + k_start_limit;
    std::optional<Census> c;
    for (;;) {
        if (!control.round_trip(k_status)) return fail(tree, "no status reply");
        c = census(control.reply());
        if (!c) return fail(tree, "a status reply that is not {\"ok\": true, \"actors\": [...]}");
        if (c->entries == expected && c->running == expected) break;
        if (Clock::now() > until)
            return fail(tree, fmt::format("{} of {} entries running", c->running, c->entries));
    }
    s.entries = c->entries;
    // The nurseries' pids, to be sure no sub-supervisor outlives the run.
    const auto live = nlohmann::json::parse(control.reply());
    for (const auto& a : live["actors"])
        if (const auto pid = a.find("pid");
            a.value("kind", "") == "nursery" && pid != a.end() && pid->is_number_integer())
            tree.add_nursery(pid->get<pid_t>());

    const std::size_t size = control.reply().size();
    s.echo_bytes = size;
    EchoServer echo_server(dir + "/echo.sock", size);
    if (!echo_server.ok()) return fail(tree, "cannot start the echo server");
    {
        Connection echo(dir + "/echo.sock");
        if (!echo.ok()) return fail(tree, "cannot connect to the echo server");
        const std::vector<std::string> ctl{forkspawn, "ctl", sock, "status", "--json"};
        const std::vector<std::string> version{forkspawn, "--version"};
        // Warm-up: caches, the page cache for the binary, the socket buffers.
        for (int k = 0; k < 5; ++k)
            if (!control.round_trip(k_status) || !echo.round_trip(k_status))
                return fail(tree, "warm-up round trips failed");
        cli_round_trip(ctl);
        cli_round_trip(version);
        const Usage server0 = usage_of(tree.pid()), echo0 = usage_of(echo_server.pid());

        for (int r = 0; r < std::max(reps, cli_reps); ++r) {
            if (r < reps) {
                auto t0 = Clock::now();
                if (!control.round_trip(k_status)) return fail(tree, "no status reply");
                s.status.push_back(ms_between(t0, Clock::now()));
                s.reply_bytes.push_back(static_cast<double>(control.reply().size()));
                if (!control.reply().starts_with("{\"ok\": true,"))
                    return fail(tree, "a status reply that is not ok");
                t0 = Clock::now();
                if (!echo.round_trip(k_status)) return fail(tree, "no echo reply");
                s.echo.push_back(ms_between(t0, Clock::now()));
                if (echo.reply().size() != size) return fail(tree, "an echo reply of another size");
            }
            if (r < cli_reps) {
                const auto [ms, bytes] = cli_round_trip(ctl);
                if (ms < 0) return fail(tree, "forkspawn ctl status --json failed");
                s.cli.push_back(ms);
                s.cli_bytes.push_back(static_cast<double>(bytes));
                const auto [v_ms, v_bytes] = cli_round_trip(version);
                if (v_ms < 0) return fail(tree, "forkspawn --version failed");
                s.version.push_back(v_ms);
            }
        }
        const Usage server1 = usage_of(tree.pid()), echo1 = usage_of(echo_server.pid());
        const auto requests = static_cast<double>(reps + cli_reps);
        s.server_cpu_ms = (server1.cpu_ns - server0.cpu_ns) / 1e6 / requests;
        s.server_faults = (server1.faults - server0.faults) / requests;
        s.echo_cpu_ms = (echo1.cpu_ns - echo0.cpu_ns) / 1e6 / static_cast<double>(reps);
        // The last reply must still list every entry, all running.
        c = census(control.reply());
        if (!c || c->entries != expected || c->running != expected)
            return fail(tree, "the last status reply does not show every actor running");
    } // the echo connection closes: the echo server ends

    if (!control.round_trip("{\"cmd\":\"cancel\"}\n") ||
        !control.reply().starts_with("{\"ok\": true"))
        return fail(tree, "cancel was not answered ok");
    const auto status = tree.wait();
    if (!exited_with(status, 128 + SIGTERM))
        return fail(tree, fmt::format("forkspawn after cancel: {} (expected exit 143)",
                                      status_text(status)));
    if (tree.leftovers() > 0) return fail(tree, "processes were left after the cancel");
    struct stat st {};
    if (::lstat(sock.c_str(), &st) == 0) return fail(tree, "the control socket file was left");
    s.ok = true;
    return s;
}

std::string pct(const std::vector<double>& v, double q) {
    return v.empty() ? "-" : fmt::format("{:.3f}", quantile(v, q));
}

} // namespace

int main(int argc, char** argv) {
    const auto args = command_line(argc, argv,
                                   {.actors = 1000,
                                    .reps = 200,
                                    .quick_reps = 50,
                                    .more = "[--nurseries=10] [--cli-reps=50] "});
    if (!args) return 2;
    const auto& [forkspawn, n, reps] = *args;
    const int nurseries = std::stoi(option(argc, argv, "nurseries", "10"));
    const int cli_reps = std::stoi(option(argc, argv, "cli-reps", quick(argc, argv) ? "15" : "50"));
    const std::string helper = helper_path(argv[0]);
    const std::string dir = scratch_dir("ctl");
    for (const int sig : {SIGINT, SIGTERM, SIGHUP})
        ::signal(sig, on_signal);

    std::map<std::string, Samples> runs;
    for (const auto& b : backends())
        runs[b] = one_backend(forkspawn, helper, b, n, nurseries, reps, cli_reps, dir);
    ::rmdir(dir.c_str());

    const std::string section = "13 control socket";
    const std::string shape = nurseries > 0
                                  ? fmt::format("{} sleep actors in {} nurseries", n, nurseries)
                                  : fmt::format("{} sleep actors at the root", n);
    fmt::print("control socket: {{\"cmd\":\"status\"}} round trip on one connection, {}, "
               "--cgroup=off; {} round trips per backend, {} of the CLI (a whole process each: "
               "ctl status --json, and --version for its start-up); the echo answers each line "
               "with one of the status reply's size; ms\n",
               shape, reps, cli_reps);
    fmt::print("{:<48} {:>8} {:>8} {:>8} {:>15} {:>9}  {:<24} {:>8}  {}\n", "subject", "median",
               "p90", "p99", "spread", "reply B", "baseline (same run)", "ratio", "target");
    const std::string target = fmt::format("<= {} ms", k_target_ms);
    for (const auto& b : backends()) {
        const Samples& s = runs[b];
        const std::string status_name = fmt::format("forkspawn {}: status", b);
        if (!s.ok) {
            fmt::print("{:<48} every run failed\n", status_name);
            record({section, status_name, {}, "ms", "", 0, target, "no data", "the run failed"});
            continue;
        }
        const Stats st = stats(s.status), echo = stats(s.echo), cli = stats(s.cli),
                    version = stats(s.version), bytes = stats(s.reply_bytes);
        const std::string echo_name = fmt::format("bare unix-socket echo ({} run)", b);
        const std::string cli_name = fmt::format("forkspawn {}: ctl status --json", b);
        const std::string version_name = fmt::format("forkspawn --version ({} run)", b);
        auto row = [&](const std::string& name, const std::vector<double>& v, const Stats& x,
                       double size, const std::string& base, double ratio, const std::string& tgt) {
            fmt::print("{:<48} {:>8.3f} {:>8} {:>8} {:>15} {:>9}  {:<24} {:>8}  {}\n", name,
                       x.median, pct(v, 0.9), pct(v, 0.99), spread(x, 3),
                       size > 0 ? fmt::format("{:.0f}", size) : "-", base.empty() ? "-" : base,
                       ratio > 0 ? fmt::format("{:.2f}x", ratio) : "-", tgt);
        };
        const double ratio = st.median / echo.median;
        const bool met = st.median <= k_target_ms;
        row(echo_name, s.echo, echo, static_cast<double>(s.echo_bytes), "", 0, "");
        row(status_name, s.status, st, bytes.median, "bare echo, same size", ratio,
            target + " " + verdict(met));
        row(cli_name, s.cli, cli, stats(s.cli_bytes).median, "forkspawn --version",
            cli.median / version.median, "");
        row(version_name, s.version, version, 0, "", 0, "");
        fmt::print("  {} entries; status reply {:.0f}..{:.0f} B, {:.1f} us per entry (median); "
                   "echo lines {} B (the first status reply's size)\n",
                   s.entries, bytes.min, bytes.max,
                   1000 * st.median / static_cast<double>(s.entries), s.echo_bytes);
        fmt::print("  per request answered: forkspawn (root process) {:.3f} ms CPU and {:.0f} "
                   "minor page faults ({} requests, the CLI's included); the echo server {:.3f} "
                   "ms CPU\n",
                   s.server_cpu_ms, s.server_faults, reps + cli_reps, s.echo_cpu_ms);
        record({section, echo_name, echo, "ms", "", 0, "", "",
                fmt::format("p99 {} ms, {} B lines", pct(s.echo, 0.99), s.echo_bytes)});
        record({section, status_name, st, "ms", "bare echo, same size", ratio, target, verdict(met),
                fmt::format("p90 {} p99 {} ms; {} entries, {:.0f} B; server {:.2f} ms CPU, {:.0f} "
                            "faults per request",
                            pct(s.status, 0.9), pct(s.status, 0.99), s.entries, bytes.median,
                            s.server_cpu_ms, s.server_faults)});
        record({section, cli_name, cli, "ms", "forkspawn --version", cli.median / version.median,
                "", "", fmt::format("p90 {} ms", pct(s.cli, 0.9))});
        record({section, version_name, version, "ms", "", 0, "", "", ""});
    }
    return 0;
}
