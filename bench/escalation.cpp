// Escalation precision: N actors that ignore SIGTERM (forkspawn_bench_actor
// stubborn: a handler that only notes when SIGTERM came), stop sequence
// SIGTERM,200ms,SIGKILL; how late the SIGKILL comes after the deadline.
//
// Two clocks, both CLOCK_MONOTONIC:
//  - forkspawn's own (its JSON report): stop.sent_ms, when the report has
//    it, says when SIGTERM and SIGKILL were sent: SIGKILL - SIGTERM - 200 ms
//    is exactly the lateness. stop.exit_after_ms is first stop signal ->
//    reaped; minus the 200 ms wait it is the lateness of SIGKILL plus the
//    actor's death and forkspawn's reap (an upper bound);
//  - outside: the actor writes when its SIGTERM arrived, the bench watches
//    each actor's pidfd and notes when it died; death - (SIGTERM arrival +
//    200 ms). Early is proven only against the bench's own send time: an
//    actor dead before (SIGINT sent + 200 ms) was killed before its deadline.
// Baseline, same run: the bench does the same itself (SIGTERM to all, an
// absolute clock_nanosleep to +200 ms, SIGKILL to all). Peer: coreutils
// `timeout -k 0.2s` around each actor, SIGTERM sent to every timeout.
//
//   forkspawn_bench_escalation FORKSPAWN [--actors=100] [--reps=5] [--quick]
#include "common.hpp"

#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <sched.h>
#include <sys/epoll.h>

using namespace bench;
using std::chrono::milliseconds;

namespace {

constexpr auto k_wait = milliseconds(200);

struct Sample {
    std::vector<double> late_outside; // ms, per actor
    std::vector<double> late_reaped;  // ms, per actor (forkspawn only): exit_after_ms - 200
    std::vector<double> late_sent;    // ms, per actor, from stop.sent_ms when the report has it
    std::size_t early = 0;            // proven early by the bench's send time
    std::size_t early_report = 0;     // forkspawn's own timestamps say: before the deadline
    bool ok = false;
};

// Watches the pidfds of `pids` (opened now, before anything is signalled)
// and notes when each process died, as the bench saw it.
class DeathWatch {
  public:
    explicit DeathWatch(const std::vector<pid_t>& pids) : m_ep(::epoll_create1(EPOLL_CLOEXEC)) {
        for (pid_t pid : pids) {
            const int fd = pidfd_open(pid);
            if (fd < 0) continue; // gone already: never counted
            m_fd_of[pid] = fd;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = static_cast<std::uint64_t>(pid);
            ::epoll_ctl(m_ep, EPOLL_CTL_ADD, fd, &ev);
        }
    }
    ~DeathWatch() {
        for (const auto& [pid, fd] : m_fd_of)
            ::close(fd);
        ::close(m_ep);
    }
    DeathWatch(const DeathWatch&) = delete;
    DeathWatch& operator=(const DeathWatch&) = delete;

    // Until all died or `limit` passed.
    std::map<pid_t, Clock::time_point> wait(std::chrono::milliseconds limit) {
        std::map<pid_t, Clock::time_point> died;
        const auto until = Clock::now() + limit;
        epoll_event events[256];
        while (died.size() < m_fd_of.size() && Clock::now() < until) {
            const int n = ::epoll_wait(m_ep, events, 256, 100);
            const auto now = Clock::now();
            for (int i = 0; i < n; ++i) {
                const auto pid = static_cast<pid_t>(events[i].data.u64);
                died.emplace(pid, now);
                // Readable for good once dead: stop watching it.
                ::epoll_ctl(m_ep, EPOLL_CTL_DEL, m_fd_of[pid], nullptr);
            }
        }
        return died;
    }

    // Kills whatever is still alive (a peer that failed to): nothing of a
    // bench run may survive it.
    void kill_rest(const std::map<pid_t, Clock::time_point>& died) {
        for (const auto& [pid, fd] : m_fd_of)
            if (!died.count(pid)) ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
    }

  private:
    int m_ep;
    std::map<pid_t, int> m_fd_of;
};

// The outside clock's lateness for every actor that got its SIGTERM (the
// first one: timeout(1) sends it to the child and to its group).
void outside(Sample& s, const std::vector<ActorEvent>& events,
             const std::map<pid_t, Clock::time_point>& died, Clock::time_point sent) {
    std::map<pid_t, Clock::time_point> term;
    for (const auto& e : events)
        if (e.kind == 'T') term.emplace(e.pid, from_ns(e.t_ns));
    for (const auto& [pid, at] : term) {
        const auto it = died.find(pid);
        if (it == died.end()) continue;
        s.late_outside.push_back(ms_between(at + k_wait, it->second));
        if (it->second < sent + k_wait) ++s.early;
    }
}

std::vector<pid_t> ready_pids(Fifo& fifo, std::size_t n) {
    std::vector<pid_t> pids;
    for (const auto& e : fifo.wait_for(n, 'R', std::chrono::seconds(30)))
        if (e.kind == 'R') pids.push_back(e.pid);
    return pids;
}

Sample bare(const std::string& helper, int n) {
    Sample s;
    Fifo fifo;
    const auto children = start_n(n, {helper, "stubborn", fifo.path()});
    const auto pids = ready_pids(fifo, children.size());
    DeathWatch watch(pids);
    const auto t0 = Clock::now();
    for (pid_t pid : children)
        ::kill(pid, SIGTERM);
    const auto deadline = t0 + k_wait;
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    const timespec at{static_cast<time_t>(ns / 1'000'000'000),
                      static_cast<long>(ns % 1'000'000'000)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
    }
    for (pid_t pid : children)
        ::kill(pid, SIGKILL);
    const auto died = watch.wait(std::chrono::seconds(10));
    for (pid_t pid : children)
        ::waitpid(pid, nullptr, 0);
    outside(s, fifo.drain(), died, t0);
    s.ok = pids.size() == static_cast<std::size_t>(n) && s.late_outside.size() == pids.size();
    return s;
}

Sample with_timeout(const std::string& helper, int n) {
    Sample s;
    Fifo fifo;
    const auto timeouts =
        start_n(n, {"timeout", "-k", "0.2s", "1000s", helper, "stubborn", fifo.path()});
    const auto pids = ready_pids(fifo, timeouts.size());
    // timeout(1) exits at once, leaving its child running, when a signal
    // comes before its fork() returned in the parent; a loaded machine can
    // run the child to its 'R' first. Wait until every timeout sits in its
    // rt_sigsuspend (syscall 130 on x86-64), as a user's would.
    const auto until = Clock::now() + std::chrono::seconds(10);
    for (pid_t pid : timeouts)
        while (!read_file(fmt::format("/proc/{}/syscall", pid)).starts_with("130 ") &&
               Clock::now() < until)
            ::sched_yield();
    DeathWatch watch(pids);
    const auto t0 = Clock::now();
    for (pid_t pid : timeouts)
        ::kill(pid, SIGTERM);
    const auto died = watch.wait(std::chrono::seconds(10));
    watch.kill_rest(died);
    for (pid_t pid : timeouts)
        wait_exit(pid, std::chrono::seconds(10));
    outside(s, fifo.drain(), died, t0);
    s.ok = pids.size() == static_cast<std::size_t>(n) && s.late_outside.size() == pids.size();
    if (!s.ok)
        fmt::print(stderr, "bench: escalation timeout -k: {} ready, {} died, {} measured\n",
                   pids.size(), died.size(), s.late_outside.size());
    return s;
}

Sample with_forkspawn(const std::string& forkspawn, const std::string& helper,
                      const std::string& backend, int n, const std::string& dir) {
    Sample s;
    Fifo fifo;
    nlohmann::json list = nlohmann::json::array();
    for (int i = 0; i < n; ++i)
        list.push_back(
            {{"name", fmt::format("s{}", i)}, {"cmd", {helper, "stubborn", fifo.path()}}});
    const std::string spec = dir + "/escalation.json", report = dir + "/report.json";
    write_file(spec, nlohmann::json{{"name", "root"},
                                    {"output", "null"},
                                    {"stop", {"SIGTERM", "200ms", "SIGKILL"}},
                                    {"actors", list}}
                         .dump());
    ::unlink(report.c_str());
    const pid_t pid = start({forkspawn, "run", "--spawn-backend=" + backend, "--report=json",
                             "--report-file=" + report, spec});
    if (pid < 0) return s;
    const auto pids = ready_pids(fifo, static_cast<std::size_t>(n));
    DeathWatch watch(pids);
    const auto t0 = Clock::now();
    ::kill(pid, SIGINT);
    const auto died = watch.wait(std::chrono::seconds(10));
    watch.kill_rest(died);
    const auto status = wait_exit(pid, std::chrono::seconds(30));
    outside(s, fifo.drain(), died, t0);
    const auto j = nlohmann::json::parse(read_file(report), nullptr, false);
    if (j.is_object() && j.contains("actors"))
        for (const auto& a : j["actors"]) {
            if (!a.contains("stop") || !a["stop"].is_object()) continue;
            const auto& stop = a["stop"];
            const double after = stop.value("exit_after_ms", -1.0);
            s.late_reaped.push_back(after - 200.0);
            if (after < 200.0) ++s.early_report;
            // When each signal was sent (a field the report may not have yet):
            // SIGKILL's time minus SIGTERM's is the wait as forkspawn kept it.
            if (const auto ms = stop.find("sent_ms"); ms != stop.end() && ms->is_array() &&
                                                      ms->size() == 2 && (*ms)[0].is_number() &&
                                                      (*ms)[1].is_number()) {
                const double late = (*ms)[1].get<double>() - (*ms)[0].get<double>() - 200.0;
                s.late_sent.push_back(late);
                if (late < 0) ++s.early_report;
            }
        }
    s.ok = exited_with(status, 130) && pids.size() == static_cast<std::size_t>(n) &&
           s.late_reaped.size() == pids.size();
    if (!s.ok)
        fmt::print(stderr, "bench: escalation {}: {} ready, {} reported, {}\n", backend,
                   pids.size(), s.late_reaped.size(), status_text(status));
    return s;
}

// One clock's figures, all actors of all runs pooled, and the p99 of each run.
struct Clocked {
    std::vector<double> all, p99_per_rep;
    void add(const std::vector<double>& v) {
        if (v.empty()) return;
        all.insert(all.end(), v.begin(), v.end());
        p99_per_rep.push_back(quantile(v, 0.99));
    }
};

struct Pool {
    Clocked outside, reaped, sent;
    std::size_t early = 0, early_report = 0, runs = 0;
    void add(const Sample& s) {
        if (!s.ok) return;
        ++runs;
        outside.add(s.late_outside);
        reaped.add(s.late_reaped);
        sent.add(s.late_sent);
        early += s.early;
        early_report += s.early_report;
    }
};

} // namespace

int main(int argc, char** argv) {
    const auto args = command_line(argc, argv, {.actors = 100, .reps = 5, .quick_reps = 3});
    if (!args) return 2;
    const auto& [forkspawn, n, reps] = *args;
    const std::string helper = helper_path(argv[0]);
    const std::string dir = scratch_dir("escalation");
    const bool have_timeout = ::access("/usr/bin/timeout", X_OK) == 0;

    std::map<std::string, Pool> pools;
    const std::string base = "bare (bench: kill, sleep to deadline, kill)";
    const std::string peer = "timeout -k 0.2s (coreutils)";
    for (int r = 0; r < reps; ++r) {
        pools[base].add(bare(helper, n));
        if (have_timeout) pools[peer].add(with_timeout(helper, n));
        for (const auto& b : backends())
            pools["forkspawn " + b].add(with_forkspawn(forkspawn, helper, b, n, dir));
    }
    ::unlink((dir + "/escalation.json").c_str());
    ::unlink((dir + "/report.json").c_str());
    ::rmdir(dir.c_str());

    fmt::print("escalation precision: {} actors ignoring SIGTERM, stop SIGTERM,200ms,SIGKILL; "
               "ms late after the deadline, all actors of {} runs pooled\n",
               n, reps);
    fmt::print("{:<44} {:>6} {:>6} {:>6} {:>6}  {:>14}  {:>6}  {}\n", "subject (clock)", "p50",
               "p99", "max", "min", "p99/run spread", "early", "vs baseline p99");
    const double base_p99 = quantile(pools[base].outside.all, 0.99);
    const double peer_p99 = quantile(pools[peer].outside.all, 0.99);
    auto line = [&](const std::string& name, const Clocked& c, std::size_t early,
                    const std::string& clock, const std::string& ratios) {
        if (c.all.empty()) {
            fmt::print("{:<44} no data\n", name + " (" + clock + ")");
            return;
        }
        const auto& v = c.all;
        fmt::print("{:<44} {:>6.2f} {:>6.2f} {:>6.2f} {:>6.2f}  {:>14}  {:>6}  {}\n",
                   name + " (" + clock + ")", quantile(v, 0.5), quantile(v, 0.99),
                   *std::max_element(v.begin(), v.end()), *std::min_element(v.begin(), v.end()),
                   spread(stats(c.p99_per_rep)), early, ratios);
    };
    auto summary = [](const Clocked& c) {
        return fmt::format("{:.2f}/{:.2f}/{:.2f}", quantile(c.all, 0.5), quantile(c.all, 0.99),
                           *std::max_element(c.all.begin(), c.all.end()));
    };
    const std::string section = "3 escalation";
    const Pool& bp = pools[base];
    line(base, bp.outside, bp.early, "died", "-");
    if (!bp.outside.all.empty())
        record({section, "bare loop: p99 late, died", stats(bp.outside.p99_per_rep), "ms", "", 0,
                "", "", fmt::format("p50/p99/max {}", summary(bp.outside))});
    if (have_timeout) {
        const Pool& tp = pools[peer];
        line(peer, tp.outside, tp.early, "died",
             base_p99 > 0 ? fmt::format("{:.2f}x bare", peer_p99 / base_p99) : "-");
        if (!tp.outside.all.empty())
            record({section, "timeout -k: p99 late, died", stats(tp.outside.p99_per_rep), "ms",
                    "bare loop, died", base_p99 > 0 ? peer_p99 / base_p99 : 0, "", "",
                    fmt::format("p50/p99/max {}; early {}", summary(tp.outside), tp.early)});
    } else {
        fmt::print("note: coreutils timeout not found: peer skipped\n");
        record({section, "note", {}, "", "", 0, "", "", "timeout not found: peer skipped"});
    }
    const std::string target = "p99 <= 5 ms, never early";
    bool any_sent = false;
    for (const auto& b : backends()) {
        const Pool& p = pools["forkspawn " + b];
        const std::string name = "forkspawn " + b;
        if (p.runs == 0) {
            fmt::print("{:<44} every run failed\n", name);
            record({section, name, {}, "ms", "", 0, target, "no data", "every run failed"});
            continue;
        }
        const double p99_out = quantile(p.outside.all, 0.99);
        std::string ratios = base_p99 > 0 ? fmt::format("{:.2f}x bare", p99_out / base_p99) : "-";
        if (have_timeout && peer_p99 > 0)
            ratios += fmt::format(", {:.2f}x timeout", p99_out / peer_p99);
        line(name, p.sent, p.early_report, "SIGKILL sent", "");
        line(name, p.reaped, p.early_report, "reaped", "");
        line(name, p.outside, p.early, "died", ratios);
        // The verdict on forkspawn's own clock: when SIGKILL was sent if the
        // report says, else when the actor was reaped (later: an upper bound).
        const bool exact = !p.sent.all.empty();
        any_sent |= exact;
        const Clocked& own = exact ? p.sent : p.reaped;
        const double p99_own = quantile(own.all, 0.99);
        const bool met = p99_own <= 5.0 && p.early == 0 && p.early_report == 0;
        record(
            {section,
             fmt::format("forkspawn {}: p99 late, {}", b, exact ? "SIGKILL sent" : "reaped"),
             stats(own.p99_per_rep), "ms", "bare loop, died", base_p99 > 0 ? p99_own / base_p99 : 0,
             target, verdict(met),
             fmt::format("p50/p99/max {} ms {}; died {}; early {}", summary(own),
                         exact ? "sent" : "reaped", summary(p.outside), p.early + p.early_report)});
        if (have_timeout && peer_p99 > 0)
            record({"7 peer: escalation", "forkspawn " + b + ": p99 late, died",
                    stats(p.outside.p99_per_rep), "ms", peer, p99_out / peer_p99, "", "",
                    fmt::format("timeout -k p99 {:.2f} ms", peer_p99)});
    }
    if (!any_sent)
        fmt::print("note: the report has no stop.sent_ms (when each signal was sent), so "
                   "forkspawn's own clock is the reap: SIGKILL's lateness plus the actor's death "
                   "and forkspawn's reap\n");
    return 0;
}
