// SPDX-License-Identifier: MIT
// The control socket (DESIGN "Control"), end to end on every backend: each
// request against a running tree, at the root and inside a nested nursery;
// the socket file's life; and clients that misbehave, while a running
// actor's SIGKILL deadline is still met. Nothing is left behind after each.
#include "harness.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <doctest/doctest.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <set>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

using namespace forkspawn::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

int connect_to(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return fd;
    const int err = errno;
    ::close(fd);
    errno = err;
    return -1;
}

// One connection to the control socket, with a deadline on every read.
class Client {
  public:
    // Connects, trying again every 10ms while forkspawn has not bound the
    // socket yet (at most `limit`).
    explicit Client(const std::string& path, std::chrono::milliseconds limit = 20s) {
        const auto until = Clock::now() + limit;
        while ((m_fd = connect_to(path)) < 0 && Clock::now() < until)
            std::this_thread::sleep_for(10ms); // polling with a deadline
        REQUIRE_MESSAGE(m_fd >= 0,
                        "cannot connect to " << path << ": " << std::string(std::strerror(errno)));
    }
    ~Client() {
        if (m_fd >= 0) ::close(m_fd);
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    int fd() const { return m_fd; }

    void send(const std::string& text) {
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::send(m_fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            REQUIRE_MESSAGE(n > 0, "send: " << std::strerror(errno));
            done += static_cast<std::size_t>(n);
        }
    }
    // The next line, or nothing at EOF or when `limit` passes.
    std::optional<std::string> line(std::chrono::milliseconds limit = 30s) {
        const auto until = Clock::now() + limit;
        for (;;) {
            if (const auto nl = m_buf.find('\n'); nl != std::string::npos) {
                std::string out = m_buf.substr(0, nl);
                m_buf.erase(0, nl + 1);
                return out;
            }
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{m_fd, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[65536];
            const ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
            if (n <= 0) return std::nullopt;
            m_buf.append(buf, static_cast<std::size_t>(n));
        }
    }
    json reply(std::chrono::milliseconds limit = 30s) {
        const auto l = line(limit);
        REQUIRE_MESSAGE(l, "no reply");
        const json j = json::parse(*l, nullptr, false);
        REQUIRE_MESSAGE(j.is_object(), *l);
        return j;
    }
    json request(const json& r, std::chrono::milliseconds limit = 30s) {
        send(r.dump() + "\n");
        return reply(limit);
    }
    // Whether forkspawn closed the connection (within `limit`).
    bool closed(std::chrono::milliseconds limit = 10s) {
        while (line(limit)) {
        }
        pollfd p{m_fd, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) return false;
        char c;
        return ::recv(m_fd, &c, 1, MSG_DONTWAIT) <= 0;
    }

  private:
    int m_fd = -1;
    std::string m_buf;
};

// A spec file in `dir`, and the arguments to run it with a control socket.
struct Tree {
    TempDir dir{"control"};
    std::string sock = dir / "ctl.sock";
    std::string spec = dir / "spec.json";
    explicit Tree(const json& s) { std::ofstream(spec) << s.dump(); }
    RunOptions options(std::vector<std::string> extra = {}) const {
        std::vector<std::string> args = {"run", "--control=" + sock, "--report=json"};
        args.insert(args.end(), extra.begin(), extra.end());
        args.push_back(spec);
        return {.args = args};
    }
};

json sleeper(const std::string& name, const std::string& secs = "60") {
    return {{"name", name}, {"cmd", {"sleep", secs}}};
}

json daemon(const std::string& name) {
    json a = sleeper(name);
    a["daemon"] = true;
    return a;
}

const json& live(const json& status, const std::string& path) {
    for (const auto& a : status["actors"])
        if (a["path"] == path) return a;
    FAIL("no live entry for " << path);
    static const json none;
    return none;
}

// Waits (every 10ms, at most 20s) until the status shows `path` in `state`.
json await_state(Client& c, const std::string& path, const std::string& state) {
    json s;
    const auto until = Clock::now() + 20s;
    while (Clock::now() < until) {
        s = c.request({{"cmd", "status"}});
        if (live(s, path)["state"] == state) return s;
        std::this_thread::sleep_for(10ms); // polling with a deadline
    }
    FAIL("never " << state << ": " << s.dump());
    return s;
}

// Runs `cmd` with sh -c; its exit code and its stdout and stderr together.
std::pair<int, std::string> shell(const std::string& cmd) {
    std::string out;
    FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
    REQUIRE(f);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
        out.append(buf, n);
    const int status = ::pclose(f);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string ctl(const std::string& sock, const std::string& args) {
    return "'" + binary() + "' ctl '" + sock + "' " + args;
}

bool alive(long pid) {
    return ::kill(static_cast<pid_t>(pid), 0) == 0;
}

RunResult finish(Process& p) {
    RunResult r = p.wait();
    INFO(r.err);
    check_nothing_left(r.tag);
    return r;
}

} // namespace

TEST_CASE("control: status shows the live tree at every depth") {
    // It says how it is doing (sd_notify STATUS=), deep down.
    json said = {{"name", "said"},
                 {"cmd",
                  {"python3", "-c",
                   "import os,socket,time\n"
                   "a=os.environ['NOTIFY_SOCKET']\n"
                   "a='\\0'+a[1:] if a.startswith('@') else a\n"
                   "s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\n"
                   "s.sendto(b'STATUS=warming up',a)\n"
                   "s.sendto(b'READY=1\\nSTATUS=serving',a)\n"
                   "time.sleep(60)\n"}},
                 {"ready", {{"notify", true}}}};
    json inner = {{"name", "inner"}, {"actors", {sleeper("deep"), said}}};
    json later = sleeper("later");
    later["after"] = {{"inner", "completed"}}; // never, here
    Tree t(json{{"actors", {daemon("web"), inner, later}}});
    Process p(t.options());
    Client c(t.sock);
    await_state(c, "root/web", "ready");
    await_state(c, "root/inner/said", "ready");
    json s = await_state(c, "root/inner/deep", "ready");
    // Its last STATUS= may come a message after READY=1 (both travel up).
    for (const auto until = Clock::now() + 20s;
         live(s, "root/inner/said")["status_text"] != "serving" && Clock::now() < until;) {
        std::this_thread::sleep_for(10ms); // polling with a deadline
        s = c.request({{"cmd", "status"}});
    }
    CHECK(live(s, "root/inner/said")["status_text"] == "serving");
    CHECK(s["ok"] == true);
    CHECK(s["now_ms"].get<double>() > 0);
    REQUIRE(s["actors"].size() == 5);
    CHECK(s["actors"][0]["path"] == "root/web");
    CHECK(s["actors"][1]["path"] == "root/inner");
    CHECK(s["actors"][2]["path"] == "root/inner/deep");
    CHECK(s["actors"][3]["path"] == "root/inner/said");
    CHECK(s["actors"][4]["path"] == "root/later");
    const json& web = live(s, "root/web");
    CHECK(web["kind"] == "cmd");
    CHECK(web["state"] == "ready");
    CHECK(web["attempt"] == 1);
    CHECK(web["restarts"] == 0);
    CHECK(alive(web["pid"].get<long>()));
    CHECK(web["runtime_ms"].get<double>() >= 0);
    CHECK(live(s, "root/inner")["kind"] == "nursery");
    CHECK(alive(live(s, "root/inner/deep")["pid"].get<long>()));
    CHECK(live(s, "root/later")["state"] == "waiting");
    CHECK(live(s, "root/later")["pid"].is_null());
    // The socket and its connections are forkspawn's alone: no actor, no
    // sub-supervisor, no helper holds one (every socket the kernel lists
    // under the path: the listening one, and each accepted connection).
    std::set<std::string> sockets;
    {
        std::ifstream in("/proc/net/unix");
        for (std::string line; std::getline(in, line);) {
            if (!line.ends_with(" " + t.sock)) continue;
            std::istringstream fields(line);
            std::string field;
            for (int k = 0; k < 7; ++k)
                fields >> field; // Num RefCount Protocol Flags Type St Inode
            sockets.insert("socket:[" + field + "]");
        }
    }
    CHECK(sockets.size() >= 2);
    for (const pid_t pid : tagged_processes(p.tag())) {
        if (pid == p.pid()) continue;
        for (const auto& [fd, target] : fd_targets(pid)) {
            CAPTURE(pid);
            CAPTURE(fd);
            CHECK(sockets.count(target) == 0);
        }
    }
    for (const char* path : {"root/web", "root/inner/deep"}) {
        std::set<int> fds;
        for (const auto& [fd, target] : fd_targets(static_cast<pid_t>(live(s, path)["pid"])))
            fds.insert(fd);
        CHECK(fds == std::set<int>{0, 1, 2});
    }
    CHECK(c.request({{"cmd", "cancel"}})["ok"] == true);
    const auto r = finish(p);
    CHECK(r.exit_code == 143);
}

TEST_CASE("control: stop ends an actor cancelled (ctl_stop), not restarted and not a failure") {
    json web = daemon("web");
    web["restart"] = "always";
    json job = sleeper("job");
    job["restart"] = "always";
    json inner = {{"name", "inner"}, {"actors", {sleeper("deep")}}};
    Tree t(json{{"strategy", "one_for_all"}, {"actors", {web, job, inner}}});
    Process p(t.options());
    Client c(t.sock);
    await_state(c, "root/inner/deep", "ready");
    const json stopped = c.request({{"cmd", "stop"}, {"paths", {"root/job"}}});
    INFO(stopped.dump());
    REQUIRE(stopped["ok"] == true);
    REQUIRE(stopped["actors"].size() == 1);
    CHECK(stopped["actors"][0]["state"] == "ended");
    CHECK(stopped["actors"][0]["outcome"] == "cancelled");
    // Stopped twice: refused, it has ended.
    const json again = c.request({{"cmd", "stop"}, {"paths", {"root/job"}}});
    CHECK(again["ok"] == false);
    CHECK(again["error"].get<std::string>().find("has ended already") != std::string::npos);
    // Its restart policy (always) did not bring it back.
    CHECK(live(c.request({{"cmd", "status"}}), "root/job")["state"] == "ended");
    // The last non-daemon, deep down: the tree's work is done with it. The
    // reply may be overtaken by the tree's end.
    c.send(json{{"cmd", "stop"}, {"paths", {"root/inner/deep"}}}.dump() + "\n");
    // The non-daemons have all ended (inner with its only child): the work
    // is done, the daemon is cancelled, and the run succeeds.
    const auto r = finish(p);
    CHECK(r.exit_code == 0);
    const auto all = by_path(parse_report(r.out));
    CHECK(all.at("root/job")["outcome"] == "cancelled");
    CHECK(all.at("root/job")["cancel_reason"] == "ctl_stop");
    CHECK(all.at("root/job")["restarts"] == 0);
    CHECK(all.at("root/inner/deep")["cancel_reason"] == "ctl_stop");
    CHECK(all.at("root/inner")["outcome"] == "completed");
    CHECK(all.at("root/web")["cancel_reason"] == "nursery_done");
}

TEST_CASE("control: start runs an ended actor again, restart a running one, at every depth") {
    json inner = {{"name", "inner"},
                  {"actors", {daemon("deep"), sleeper("keep"), sleeper("one", "0")}}};
    Tree t(
        json{{"strategy", "one_for_one"}, {"actors", {daemon("web"), sleeper("job", "0"), inner}}});
    Process p(t.options());
    Client c(t.sock);
    await_state(c, "root/job", "ended");
    await_state(c, "root/inner/one", "ended");
    const json s0 = await_state(c, "root/inner/deep", "ready");
    const long web_pid = live(s0, "root/web")["pid"];
    const long deep_pid = live(s0, "root/inner/deep")["pid"];

    // Running: start is refused, restart is the way.
    const json refused = c.request({{"cmd", "start"}, {"paths", {"root/web"}}});
    CHECK(refused["ok"] == false);
    CHECK(refused["error"].get<std::string>().find("not ended") != std::string::npos);

    const json restarted =
        c.request({{"cmd", "restart"}, {"paths", {"root/web", "root/inner/deep"}}});
    INFO(restarted.dump());
    REQUIRE(restarted["ok"] == true);
    for (const auto& a : restarted["actors"]) {
        CHECK(a["attempt"] == 2);
        CHECK((a["state"] == "running" || a["state"] == "ready"));
    }
    CHECK(restarted["actors"][0]["pid"] != web_pid);
    CHECK(restarted["actors"][1]["pid"] != deep_pid);
    CHECK_FALSE(alive(web_pid));

    const json started = c.request({{"cmd", "start"}, {"paths", {"root/job"}}});
    INFO(started.dump());
    REQUIRE(started["ok"] == true);
    CHECK(started["actors"][0]["attempt"] == 2);

    const json deep_start = c.request({{"cmd", "start"}, {"paths", {"root/inner/one"}}});
    INFO(deep_start.dump());
    REQUIRE(deep_start["ok"] == true);
    CHECK(deep_start["actors"][0]["attempt"] == 2);

    CHECK(c.request({{"cmd", "cancel"}})["ok"] == true);
    const auto r = finish(p);
    const auto all = by_path(parse_report(r.out));
    CHECK(all.at("root/inner/one")["attempts"].size() == 2);
    const json& web = all.at("root/web");
    CHECK(web["restarts"] == 1);
    REQUIRE(web["attempts"].size() == 2);
    CHECK(web["attempts"][0]["pid"] == web_pid);
    CHECK(web["attempts"][0]["outcome"] == "cancelled");
    const json& deep = all.at("root/inner/deep");
    CHECK(deep["restarts"] == 1);
    REQUIRE(deep["attempts"].size() == 2);
    CHECK(deep["attempts"][0]["pid"] == deep_pid);
    const json& job = all.at("root/job");
    CHECK(job["restarts"] == 1);
    CHECK(job["attempts"].size() == 2);
    CHECK(job["attempts"][0]["outcome"] == "completed");
}

TEST_CASE("control: signal reaches the actor, bad paths and nurseries are refused") {
    Tree t(json{{"actors",
                 {{{"name", "hup"},
                   {"cmd",
                    // One process (a shell's loop forks, and a stop can find
                    // it waiting on a vfork child: state D, not T).
                    {"python3", "-u", "-c",
                     "import signal,sys,time\n"
                     "signal.signal(signal.SIGHUP, lambda *a: (print('got-hup'), sys.exit(0)))\n"
                     "print('up')\n"
                     "while True: time.sleep(0.05)\n"}}},
                  sleeper("keep")}}});
    Process p(t.options());
    Client c(t.sock);
    await_state(c, "root/hup", "ready");
    REQUIRE(p.wait_for_stderr("up", 20s));
    // STOP is sent as it is (no SIGCONT after it, as a stop sequence has).
    const long pid = live(c.request({{"cmd", "status"}}), "root/hup")["pid"];
    const auto state = [&] {
        std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
        std::string st;
        std::getline(in, st);
        const auto close = st.rfind(')');
        return close == std::string::npos || st.size() < close + 3 ? '?' : st[close + 2];
    };
    CHECK(c.request({{"cmd", "signal"}, {"path", "root/hup"}, {"signal", "STOP"}})["ok"] == true);
    const auto until = Clock::now() + 10s;
    while (state() != 'T' && Clock::now() < until)
        std::this_thread::sleep_for(10ms); // polling with a deadline
    CHECK(state() == 'T');
    CHECK(c.request({{"cmd", "signal"}, {"path", "root/hup"}, {"signal", 18}})["ok"] == true);
    CHECK(c.request({{"cmd", "signal"}, {"path", "root/hup"}, {"signal", "HUP"}})["ok"] == true);
    const json bad = c.request({{"cmd", "signal"}, {"path", "root/nope"}, {"signal", "HUP"}});
    CHECK(bad["ok"] == false);
    CHECK(bad["error"].get<std::string>().find("no actor root/nope") != std::string::npos);
    const json sig = c.request({{"cmd", "signal"}, {"path", "root/hup"}, {"signal", "SIGNOPE"}});
    CHECK(sig["ok"] == false);
    await_state(c, "root/hup", "ended");
    CHECK(c.request({{"cmd", "cancel"}})["ok"] == true);
    const auto r = finish(p);
    CHECK(r.err.find("got-hup") != std::string::npos);
    CHECK(entry(parse_report(r.out), "root/hup")["outcome"] == "completed");
}

TEST_CASE("control: wait answers when actors are ready or ended, or why not") {
    json fails = {{"name", "fails"}, {"cmd", {"sh", "-c", "sleep 0.3; exit 3"}}};
    Tree t(json{{"strategy", "one_for_one"}, {"actors", {daemon("web"), fails, sleeper("keep")}}});
    Process p(t.options());
    Client c(t.sock);
    CHECK(c.request({{"cmd", "wait"}, {"ready", true}, {"paths", {"root/web"}}})["reached"] ==
          true);
    const json w = c.request({{"cmd", "wait"}, {"paths", {"root/fails"}}});
    CHECK(w["ok"] == true);
    CHECK(w["reached"] == false);
    CHECK(w["why"] == "root/fails failed");
    // Waiting for the daemon to end: the tree ends first, when cancelled.
    Client waiter(t.sock);
    waiter.send(json{{"cmd", "wait"}, {"paths", {"root/web"}}, {"id", "w1"}}.dump() + "\n");
    CHECK(c.request({{"cmd", "cancel"}})["ok"] == true);
    const json end = waiter.reply();
    INFO(end.dump());
    // The daemon ended as the tree went down (reached), or the tree's end
    // came first: either way the answer came, with the request's id.
    CHECK(end["id"] == "w1");
    CHECK((end["reached"] == true || end["tree_ended"] == true));
    finish(p);
}

TEST_CASE("control: events streams what --report=jsonl writes, from the moment it asked") {
    json web = daemon("web");
    Tree t(json{{"actors", {web, sleeper("job")}}});
    Process p({.args = {"run", "--control=" + t.sock, "--report=jsonl", t.spec}});
    Client c(t.sock);
    await_state(c, "root/job", "ready");
    Client events(t.sock);
    CHECK(events.request({{"cmd", "events"}})["ok"] == true);
    CHECK(c.request({{"cmd", "restart"}, {"paths", {"root/web"}}})["ok"] == true);
    CHECK(c.request({{"cmd", "cancel"}})["ok"] == true);
    std::vector<std::string> seen;
    while (auto l = events.line())
        seen.push_back(*l);
    const auto r = finish(p);
    CHECK(r.exit_code == 143);
    const auto report = lines(r.out);
    INFO(r.out);
    REQUIRE(seen.size() >= 5); // exited, restarting, spawned, 2 reaped, summary
    REQUIRE(seen.size() <= report.size());
    // Exactly the report's last lines, in order.
    CHECK(std::equal(seen.begin(), seen.end(), report.end() - static_cast<long>(seen.size())));
    CHECK(json::parse(seen.front())["event"] == "exited");
    CHECK(json::parse(seen.back())["event"] == "summary");
}

TEST_CASE("control: the socket file is 0600, a live one refused, a stale one replaced, "
          "removed at exit") {
    Tree t(json{{"actors", {sleeper("job")}}});
    Process p(t.options());
    Client c(t.sock);
    struct stat st {};
    REQUIRE(::lstat(t.sock.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);
    // A second run on the same path: refused, nothing spawned.
    const auto second = run(t.options());
    CHECK(second.exit_code == 2);
    CHECK(second.err.find("in use") != std::string::npos);
    CHECK(second.out.empty());
    check_nothing_left(second.tag);
    CHECK(c.request({{"cmd", "cancel"}})["ok"] == true);
    finish(p);
    CHECK(::lstat(t.sock.c_str(), &st) < 0);

    // A socket file nobody listens on (left by a killed run) is replaced.
    {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        t.sock.copy(addr.sun_path, sizeof addr.sun_path - 1);
        REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
        ::close(fd);
    }
    Tree quick(json{{"actors", {sleeper("job", "0")}}});
    auto o = quick.options();
    o.args[1] = "--control=" + t.sock;
    const auto r = run(o);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(::lstat(t.sock.c_str(), &st) < 0);
    check_nothing_left(r.tag);
    // Not a socket: never replaced.
    std::ofstream(t.sock) << "precious";
    const auto refused = run(o);
    CHECK(refused.exit_code == 2);
    CHECK(refused.err.find("not a socket") != std::string::npos);
    CHECK(slurp_file(t.sock) == "precious");
}

TEST_CASE("control: bad requests get an error reply and change nothing") {
    Tree t(json{{"actors", {daemon("web"), sleeper("job")}}});
    Process p(t.options());
    Client c(t.sock);
    await_state(c, "root/job", "ready");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"not json", "not valid JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"cmd\": 7}", "\"cmd\" is missing"},
        {"{\"cmd\": \"explode\"}", "unknown cmd"},
        {"{\"cmd\": \"stop\"}", "needs \"paths\""},
        {"{\"cmd\": \"stop\", \"paths\": []}", "at least one"},
        {"{\"cmd\": \"stop\", \"paths\": [\"root/none\"]}", "no actor root/none"},
        {"{\"cmd\": \"status\", \"extra\": 1}", "unknown key"},
        {"{\"cmd\": \"wait\", \"ready\": \"yes\"}", "\"ready\" must be"},
        {"{\"cmd\": \"signal\", \"path\": \"root\", \"signal\": \"HUP\"}", "no actor root"},
        {std::string("\x00\xff\xfe{\x01", 5), "not valid JSON"},
    };
    for (const auto& [line, error] : cases) {
        CAPTURE(line);
        c.send(line + "\n");
        const json r = c.reply();
        CHECK(r["ok"] == false);
        CHECK(r["error"].get<std::string>().find(error) != std::string::npos);
    }
    // A client that shuts its side after asking (echo ... | socat) is
    // answered, then closed.
    {
        Client once(t.sock);
        once.send("{\"cmd\": \"status\"}\n{\"cmd\": \"wait\", \"ready\": true}\n{\"cmd\"");
        ::shutdown(once.fd(), SHUT_WR);
        CHECK(once.reply()["actors"].size() == 2);
        CHECK(once.reply()["reached"] == true);
        CHECK(once.closed());
    }
    // Answered in order, each with its id, an error too.
    c.send("{\"cmd\": \"status\", \"id\": \"s\"}\n{\"cmd\": \"stop\", \"id\": 9}\n");
    const json first = c.reply();
    CHECK(first["id"] == "s");
    CHECK(first["ok"] == true);
    const json second = c.reply();
    CHECK(second["id"] == 9);
    CHECK(second["ok"] == false);
    const json s = c.request({{"cmd", "status"}});
    CHECK(live(s, "root/job")["state"] == "ready");
    CHECK(live(s, "root/web")["attempt"] == 1);
    CHECK(c.request({{"cmd", "cancel"}})["ok"] == true);
    finish(p);
}

// Clients that misbehave every way the server bounds, all while an actor
// that ignores SIGTERM is being stopped: its SIGKILL still goes out on time.
TEST_CASE("control: hostile clients are answered or dropped, a SIGKILL deadline is still met") {
    json deaf = {{"name", "deaf"},
                 {"cmd", {"sh", "-c", "trap '' TERM; echo up; while :; do sleep 0.05; done"}},
                 {"stop", {"SIGTERM", "500ms", "SIGKILL"}}};
    Tree t(json{{"actors", {daemon("web"), deaf, sleeper("keep")}}});
    Process p(t.options());
    Client c(t.sock);
    await_state(c, "root/deaf", "ready");
    REQUIRE(p.wait_for_stderr("up", 20s));

    // A client that asks and never reads: dropped once 1 MiB waits for it.
    Client hog(t.sock);
    {
        int small = 4096;
        ::setsockopt(hog.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    // 61 more, and the stopper: 64 with `c` and the hog, so the next is one
    // too many.
    std::vector<std::unique_ptr<Client>> crowd;
    for (int k = 0; k < 61; ++k)
        crowd.push_back(std::make_unique<Client>(t.sock));
    // The stop begins now; what follows happens during its 500 ms.
    Client stopper(t.sock);
    stopper.send(json{{"cmd", "stop"}, {"paths", {"root/deaf"}}}.dump() + "\n");
    Client extra(t.sock); // the 65th
    const json too_many = extra.reply();
    CHECK(too_many["ok"] == false);
    CHECK(too_many["error"].get<std::string>().find("too many clients") != std::string::npos);
    CHECK(extra.closed());
    crowd.clear(); // room again, once forkspawn has seen them go
    for (const auto until = Clock::now() + 20s; Clock::now() < until;) {
        Client probe(t.sock);
        if (probe.request({{"cmd", "status"}})["ok"] == true) break;
    }

    // An oversized request: an error, and the connection closed.
    {
        Client big(t.sock);
        big.send(std::string(70 * 1024, 'x'));
        const json r = big.reply();
        CHECK(r["ok"] == false);
        CHECK(r["error"].get<std::string>().find("request too long") != std::string::npos);
        CHECK(big.closed());
    }
    // A long line that ends: the same.
    {
        Client big(t.sock);
        big.send("{\"cmd\": \"status\", \"pad\": \"" + std::string(70 * 1024, 'y') + "\"}\n");
        CHECK(big.reply()["error"].get<std::string>().find("request too long") !=
              std::string::npos);
        CHECK(big.closed());
    }
    // A client that goes away in the middle of a request.
    {
        Client half(t.sock);
        half.send("{\"cmd\": \"sta");
    }
    // Binary noise with newlines in it.
    {
        Client noise(t.sock);
        std::string junk;
        for (int k = 0; k < 4096; ++k)
            junk += static_cast<char>((k * 7919) & 0xff);
        noise.send(junk + "\n");
        for (int k = 0; k < 3; ++k) {
            const auto l = noise.line(5s);
            if (!l) break;
            CHECK(json::parse(*l)["ok"] == false);
        }
    }
    // The hog: status requests it never reads, far past 1 MiB.
    const std::string ask = json{{"cmd", "status"}}.dump() + "\n";
    std::string many;
    for (int k = 0; k < 4000; ++k)
        many += ask;
    ::send(hog.fd(), many.data(), many.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    // It was dropped: its socket reaches EOF or a reset once drained.
    bool dropped = false;
    const auto until = Clock::now() + 30s;
    // (Seen without reading a byte: reading would make it a reader.)
    while (!dropped && Clock::now() < until) {
        pollfd pf{hog.fd(), POLLRDHUP, 0};
        dropped = ::poll(&pf, 1, 1000) > 0 && (pf.revents & (POLLRDHUP | POLLHUP));
    }
    CHECK(dropped);

    // The stop's answer, and its SIGKILL on time (never early, and on a
    // loaded machine within a generous bound).
    const json stopped = stopper.reply();
    INFO(stopped.dump());
    CHECK(stopped["ok"] == true);
    CHECK(c.request({{"cmd", "cancel"}})["ok"] == true);
    const auto r = finish(p);
    const json e = entry(parse_report(r.out), "root/deaf");
    CHECK(e["outcome"] == "killed");
    CHECK(e["cancel_reason"] == "ctl_stop");
    REQUIRE(e["stop"]["sent"] == json({"SIGTERM", "SIGKILL"}));
    const double late =
        e["stop"]["sent_ms"][1].get<double>() - e["stop"]["sent_ms"][0].get<double>();
    CHECK(late >= 499.9); // never early; each sent_ms is rounded to 0.1 ms
    CHECK(late < 1500.0);
}

TEST_CASE("control: a peer with another uid is refused") {
    Tree t(json{{"actors", {daemon("web"), sleeper("job")}}});
    Process p(t.options());
    Client c(t.sock);
    await_state(c, "root/job", "ready");
    const auto as_nobody = [&](const std::string& args) {
        return shell("setpriv --reuid=65534 --regid=65534 --clear-groups " + ctl(t.sock, args));
    };
    // The directory must be searchable for nobody to reach the socket.
    ::chmod((t.dir / "").c_str(), 0755);
    // Mode 0600: nobody cannot even connect.
    auto [code, out] = as_nobody("status");
    INFO(out);
    CHECK(code == 69);
    // Made connectable by hand: forkspawn itself refuses the peer (SO_PEERCRED).
    ::chmod(t.sock.c_str(), 0666);
    std::tie(code, out) = as_nobody("stop root/job");
    CHECK(code == 1);
    CHECK(out.find("permission denied: uid 65534") != std::string::npos);
    const json s = c.request({{"cmd", "status"}});
    CHECK(live(s, "root/job")["state"] == "ready");
    CHECK(c.request({{"cmd", "cancel"}})["ok"] == true);
    finish(p);
}

TEST_CASE("control: a script waits with ctl wait --ready, then talks to the service") {
    const int port = 20000 + static_cast<int>(::getpid() % 20000);
    json svc = {{"name", "svc"},
                {"cmd",
                 {"python3", "-c",
                  "import socket,time\n"
                  "time.sleep(0.5)\n"
                  "s=socket.socket()\n"
                  "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                  "s.bind(('127.0.0.1'," +
                      std::to_string(port) +
                      "))\n"
                      "s.listen()\n"
                      "while True:\n"
                      "  c,_=s.accept(); c.sendall(b'hello\\n'); c.close()\n"}},
                {"daemon", true},
                {"ready", {{"tcp", "127.0.0.1:" + std::to_string(port)}, {"interval", "50ms"}}}};
    Tree t(json{{"actors", {svc, sleeper("keep")}}});
    Process p(t.options());
    // At once: ctl wait gives a run that is starting up time to bind its socket.
    const auto [code, out] =
        shell(ctl(t.sock, "wait --ready root/svc") +
              " && python3 -c \"import socket; s=socket.create_connection(('127.0.0.1'," +
              std::to_string(port) + ")); print(s.recv(16).decode().strip())\"");
    INFO(out);
    CHECK(code == 0);
    CHECK(out == "hello\n");
    Client c(t.sock);
    CHECK(live(c.request({{"cmd", "status"}}), "root/svc")["ready"] == true);
    CHECK(c.request({{"cmd", "cancel"}})["ok"] == true);
    finish(p);
}

TEST_CASE("control: ctl's commands and exit codes") {
    json fails = {{"name", "fails"}, {"cmd", {"sh", "-c", "sleep 0.2; exit 3"}}};
    Tree t(json{{"strategy", "one_for_one"},
                {"actors", {daemon("web"), fails, sleeper("job"), sleeper("keep")}}});
    Process p(t.options());
    Client c(t.sock);
    await_state(c, "root/job", "ready");
    await_state(c, "root/web", "ready");

    auto [code, out] = shell(ctl(t.sock, "status"));
    CHECK(code == 0);
    CHECK(out.find("PATH") != std::string::npos);
    CHECK(out.find("root/web") != std::string::npos);
    std::tie(code, out) = shell(ctl(t.sock, "status --json"));
    CHECK(code == 0);
    CHECK(json::parse(out)["actors"].size() == 4);

    std::tie(code, out) = shell(ctl(t.sock, "wait root/fails"));
    CHECK(code == 1);
    CHECK(out.find("root/fails failed") != std::string::npos);
    std::tie(code, out) = shell(ctl(t.sock, "wait --ready root/web root/job"));
    CHECK(code == 0);

    std::tie(code, out) = shell(ctl(t.sock, "stop root/nope"));
    CHECK(code == 1);
    CHECK(out.find("no actor root/nope") != std::string::npos);
    std::tie(code, out) = shell(ctl(t.sock, "stop root/job"));
    CHECK(code == 0);
    CHECK(out.find("root/job") != std::string::npos);
    std::tie(code, out) = shell(ctl(t.sock, "start root/job"));
    CHECK(code == 0);
    std::tie(code, out) = shell(ctl(t.sock, "restart root/job"));
    INFO(out);
    CHECK(code == 0);
    std::tie(code, out) = shell(ctl(t.sock, "signal root/job"));
    CHECK(code == 2); // no signal given
    std::tie(code, out) = shell(ctl(t.sock, "signal root/job USR1"));
    CHECK(code == 0); // and sleep dies of it: a failure under one_for_one
    std::tie(code, out) = shell(ctl(t.sock, "frobnicate"));
    CHECK(code == 2);
    CHECK(out.find("unknown command 'frobnicate'; valid: status") != std::string::npos);
    std::tie(code, out) = shell("'" + binary() + "' ctl status '" + t.sock + "'");
    CHECK(code == 2);
    CHECK(out.find("the SOCKET comes first") != std::string::npos);
    std::tie(code, out) = shell(ctl(t.sock, "stop job"));
    CHECK(code == 1);
    CHECK(out.find("did you mean root/job?") != std::string::npos);
    std::tie(code, out) = shell(ctl(t.dir / "nothing.sock", "status"));
    CHECK(code == 69);
    CHECK(out.find("nothing.sock") != std::string::npos);

    // A wait the tree's end overtakes: forkspawn killed outright.
    Process waiter({.args = {"ctl", t.sock, "wait", "root/keep"}});
    // Once it is connected: /proc/net/unix lists the listening socket and
    // each accepted connection under the path (c's and the waiter's).
    const auto connections = [&] {
        std::ifstream in("/proc/net/unix");
        int n = 0;
        for (std::string line; std::getline(in, line);)
            n += line.ends_with(" " + t.sock);
        return n;
    };
    for (const auto until = Clock::now() + 20s; connections() < 3 && Clock::now() < until;)
        std::this_thread::sleep_for(10ms); // polling with a deadline
    CHECK(connections() >= 3);
    ::kill(p.pid(), SIGKILL);
    const RunResult w = waiter.wait();
    INFO(w.err);
    CHECK(w.exit_code == 3);
    const RunResult r = p.wait();
    CHECK(wait_tagged_gone(r.tag, 20s));
}

TEST_CASE("control: the actors of a sub-supervisor that was killed are shown ended") {
    json inner = {{"name", "inner"}, {"actors", {sleeper("deep")}}};
    Tree t(json{{"strategy", "one_for_one"}, {"actors", {inner, sleeper("keep")}}});
    Process p(t.options());
    Client c(t.sock);
    const json s = await_state(c, "root/inner/deep", "ready");
    ::kill(static_cast<pid_t>(live(s, "root/inner")["pid"]), SIGKILL);
    const json after = await_state(c, "root/inner", "ended");
    const json& deep = live(after, "root/inner/deep");
    CHECK(deep["state"] == "ended");
    CHECK(deep["outcome"] == "killed");
    CHECK(deep["cancel_reason"] == "supervisor_killed");
    // A wait on it is answered (it ended), not left to the tree's end.
    CHECK(c.request({{"cmd", "wait"}, {"paths", {"root/inner/deep"}}})["reached"] == true);
    CHECK(c.request({{"cmd", "cancel"}})["ok"] == true);
    const auto r = finish(p);
    CHECK(entry(parse_report(r.out), "root/inner/deep")["outcome"] == "killed");
}

TEST_CASE("control: start waits for a free slot under max_running") {
    json job = sleeper("job", "0");
    Tree t(json{{"max_running", 1}, {"actors", {job, sleeper("keep")}}});
    Process p(t.options());
    Client c(t.sock);
    await_state(c, "root/job", "ended");
    await_state(c, "root/keep", "ready");
    Client starter(t.sock);
    starter.send(json{{"cmd", "start"}, {"paths", {"root/job"}}}.dump() + "\n");
    // keep holds the only slot: job waits (its reply with it).
    CHECK_FALSE(starter.line(300ms));
    CHECK(live(c.request({{"cmd", "status"}}), "root/job")["state"] == "waiting");
    c.send(json{{"cmd", "stop"}, {"paths", {"root/keep"}}}.dump() + "\n");
    const json started = starter.reply();
    INFO(started.dump());
    CHECK(started["ok"] == true);
    CHECK(started["actors"][0]["attempt"] == 2);
    const auto r = finish(p);
    CHECK(r.exit_code == 0);
    const json e = entry(parse_report(r.out), "root/job");
    CHECK(e["attempts"].size() == 2);
    // Never two at once: job's second attempt began after keep ended.
    const json keep = entry(parse_report(r.out), "root/keep");
    CHECK(e["attempts"][1]["started_ms"].get<double>() >= keep["ended_ms"].get<double>());
}
