// SPDX-License-Identifier: MIT
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
// absolute clock_nanosleep to +200 ms, SIGKILL to all); its own "SIGKILL
// sent" clock is the time read before each kill(SIGKILL) minus that
// deadline. Peer: coreutils `timeout -k 0.2s` around each actor, SIGTERM
// sent to every timeout.
//
// With and without cgroups (--cgroup=auto|off|both, default both): every
// backend runs as `forkspawn run --cgroup=off`, where a hard kill is
// SIGKILL to the actor's process group and to the actor, and as
// `--cgroup=auto`, where it also writes the actor's cgroup.kill (first:
// nothing forks away from it). A cgroup run counts only when its report
// says "containment": "cgroup"; when it does not, the backend's cgroup rows
// say "skipped: no cgroups". Second baseline, same run: the bare loop with a
// cgroup per child (each child moves itself in before its exec, as
// forkspawn's do), whose SIGKILL step is cgroup.kill then kill(SIGKILL).
//
//   forkspawn_bench_escalation FORKSPAWN [--actors=100] [--cgroup=auto|off|both]
//                              [--reps=5] [--quick]
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
    std::string containment;          // the report's (forkspawn only)
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

// The bare loop; with `cgroups` each child runs in a cgroup of its own
// (nullptr: without), and its SIGKILL step writes that cgroup's
// cgroup.kill before the kill(SIGKILL), as forkspawn's hard kill does.
Sample bare(const std::string& helper, int n, BareCgroups* cgroups = nullptr) {
    Sample s;
    Fifo fifo;
    std::vector<pid_t> children;
    if (cgroups) {
        for (int i = 0; i < n; ++i)
            if (const pid_t pid = cgroups->start_in(static_cast<std::size_t>(i),
                                                    {helper, "stubborn", fifo.path()});
                pid > 0)
                children.push_back(pid);
    } else {
        children = start_n(n, {helper, "stubborn", fifo.path()});
    }
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
    // Each time is read before its send, as forkspawn reads stop.sent_ms;
    // kept aside, so that the clock reads do not slow the burst down.
    std::vector<Clock::time_point> sent(children.size());
    for (std::size_t i = 0; i < children.size(); ++i) {
        sent[i] = Clock::now();
        if (cgroups) cgroups->kill(i);
        ::kill(children[i], SIGKILL);
    }
    for (const auto& t : sent)
        s.late_sent.push_back(ms_between(deadline, t));
    const auto died = watch.wait(std::chrono::seconds(10));
    for (pid_t pid : children)
        ::waitpid(pid, nullptr, 0);
    outside(s, fifo.drain(), died, t0);
    s.ok = children.size() == static_cast<std::size_t>(n) &&
           pids.size() == static_cast<std::size_t>(n) && s.late_outside.size() == pids.size();
    return s;
}

Sample bare_cgroups(const std::string& helper, int n) {
    BareCgroups cgroups(fmt::format("forkspawn-bench-escalation-{}", ::getpid()));
    if (!cgroups.ok()) {
        fmt::print(stderr, "bench: escalation, bare loop with cgroups: {}\n", cgroups.why());
        return {};
    }
    return bare(helper, n, &cgroups); // cgroups removed on return
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

// How forkspawn contains its actors in a run: --cgroup=off or auto.
std::string cgroup_flag(bool cgroups) {
    return cgroups ? "--cgroup=auto" : "--cgroup=off";
}

Sample with_forkspawn(const std::string& forkspawn, const std::string& helper,
                      const std::string& backend, bool cgroups, int n, const std::string& dir) {
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
    const pid_t pid = start({forkspawn, "run", "--spawn-backend=" + backend, cgroup_flag(cgroups),
                             "--report=json", "--report-file=" + report, spec});
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
    if (j.is_object() && j.contains("containment") && j["containment"].is_string())
        s.containment = j["containment"].get<std::string>();
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
        fmt::print(stderr, "bench: escalation {} {}: {} ready, {} reported, {}\n", backend,
                   cgroup_flag(cgroups), pids.size(), s.late_reaped.size(), status_text(status));
    // A run that was to use cgroups and did not measured something else.
    if (s.containment != (cgroups ? "cgroup" : "process_group")) s.ok = false;
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
    const auto args = command_line(
        argc, argv,
        {.actors = 100, .reps = 5, .quick_reps = 3, .more = "[--cgroup=auto|off|both] "});
    if (!args) return 2;
    const auto modes = cgroup_modes(argc, argv);
    if (!modes) return 2;
    const auto& [forkspawn, n, reps] = *args;
    const std::string helper = helper_path(argv[0]);
    const std::string dir = scratch_dir("escalation");
    const bool have_timeout = ::access("/usr/bin/timeout", X_OK) == 0;

    // The subjects of a backend: its name with each containment.
    auto subject = [](const std::string& backend, bool cgroups) {
        return "forkspawn " + backend + (cgroups ? ", cgroups" : ", --cgroup=off");
    };
    std::vector<bool> containments;
    if (modes->off) containments.push_back(false);
    if (modes->with) containments.push_back(true);

    std::map<std::string, Pool> pools;
    // backend -> the containment its report gave when cgroups were asked
    // for ("process_group": forkspawn could not make them, auto fell back).
    std::map<std::string, std::string> no_cgroups;
    const std::string base = "bare (bench: kill, sleep to deadline, kill)";
    const std::string base_cg = "bare, cgroup per child (cgroup.kill, kill)";
    const std::string no_bare_cg = modes->with ? bare_cgroups_unusable("escalation") : "";
    const bool with_bare_cg = modes->with && no_bare_cg.empty();
    const std::string peer = "timeout -k 0.2s (coreutils)";
    for (int r = 0; r < reps; ++r) {
        pools[base].add(bare(helper, n));
        if (with_bare_cg) pools[base_cg].add(bare_cgroups(helper, n));
        if (have_timeout) pools[peer].add(with_timeout(helper, n));
        for (const auto& b : backends())
            for (const bool cg : containments) {
                if (cg && no_cgroups.count(b)) continue;
                const Sample s = with_forkspawn(forkspawn, helper, b, cg, n, dir);
                if (cg && !s.containment.empty() && s.containment != "cgroup")
                    no_cgroups[b] = s.containment;
                pools[subject(b, cg)].add(s);
            }
    }
    ::unlink((dir + "/escalation.json").c_str());
    ::unlink((dir + "/report.json").c_str());
    ::rmdir(dir.c_str());

    fmt::print("escalation precision: {} actors ignoring SIGTERM, stop SIGTERM,200ms,SIGKILL; "
               "ms late after the deadline, all actors of {} runs pooled\n",
               n, reps);
    fmt::print("{:<60} {:>6} {:>6} {:>6} {:>6}  {:>14}  {:>6}  {}\n", "subject (clock)", "p50",
               "p99", "max", "min", "p99/run spread", "early", "vs baseline p99 (same clock)");
    auto p99 = [](const Clocked& c) { return c.all.empty() ? 0.0 : quantile(c.all, 0.99); };
    const double base_p99 = p99(pools[base].outside);
    const double base_sent_p99 = p99(pools[base].sent);
    const double cg_p99 = p99(pools[base_cg].outside);
    const double cg_sent_p99 = p99(pools[base_cg].sent);
    const double peer_p99 = p99(pools[peer].outside);
    auto line = [&](const std::string& name, const Clocked& c, std::size_t early,
                    const std::string& clock, const std::string& ratios) {
        if (c.all.empty()) {
            fmt::print("{:<60} no data\n", name + " (" + clock + ")");
            return;
        }
        const auto& v = c.all;
        fmt::print("{:<60} {:>6.2f} {:>6.2f} {:>6.2f} {:>6.2f}  {:>14}  {:>6}  {}\n",
                   name + " (" + clock + ")", quantile(v, 0.5), quantile(v, 0.99),
                   *std::max_element(v.begin(), v.end()), *std::min_element(v.begin(), v.end()),
                   spread(stats(c.p99_per_rep)), early, ratios);
    };
    auto summary = [](const Clocked& c) {
        return fmt::format("{:.2f}/{:.2f}/{:.2f}", quantile(c.all, 0.5), quantile(c.all, 0.99),
                           *std::max_element(c.all.begin(), c.all.end()));
    };
    // "1.23x bare" when both figures exist, else "".
    auto versus = [](double value, double baseline, const std::string& what) {
        return value > 0 && baseline > 0 ? fmt::format("{:.2f}x {}", value / baseline, what)
                                         : std::string();
    };
    auto join = [](std::vector<std::string> parts) {
        std::string out;
        for (const auto& p : parts)
            if (!p.empty()) out += (out.empty() ? "" : ", ") + p;
        return out.empty() ? std::string("-") : out;
    };
    const std::string section = "3 escalation";
    const Pool& bp = pools[base];
    line(base, bp.sent, 0, "SIGKILL sent", "-");
    line(base, bp.outside, bp.early, "died", "-");
    if (!bp.sent.all.empty())
        record({section, "bare loop: p99 late, SIGKILL sent", stats(bp.sent.p99_per_rep), "ms", "",
                0, "", "", fmt::format("p50/p99/max {}", summary(bp.sent))});
    if (!bp.outside.all.empty())
        record({section, "bare loop: p99 late, died", stats(bp.outside.p99_per_rep), "ms", "", 0,
                "", "", fmt::format("p50/p99/max {}", summary(bp.outside))});
    if (modes->with && !with_bare_cg) {
        fmt::print("{:<60} skipped: {}\n", base_cg, no_bare_cg);
        record({section,
                "bare loop, cgroup per child",
                {},
                "ms",
                "",
                0,
                "",
                "",
                "skipped: " + no_bare_cg});
    } else if (modes->with) {
        const Pool& cp = pools[base_cg];
        line(base_cg, cp.sent, 0, "SIGKILL sent",
             join({versus(cg_sent_p99, base_sent_p99, "bare")}));
        line(base_cg, cp.outside, cp.early, "died", join({versus(cg_p99, base_p99, "bare")}));
        if (!cp.sent.all.empty())
            record({section, "bare loop, cgroup per child: p99 late, SIGKILL sent",
                    stats(cp.sent.p99_per_rep), "ms", "bare loop, SIGKILL sent",
                    base_sent_p99 > 0 ? cg_sent_p99 / base_sent_p99 : 0, "", "",
                    fmt::format("p50/p99/max {}; died {}", summary(cp.sent),
                                cp.outside.all.empty() ? "-" : summary(cp.outside))});
        else
            record({section,
                    "bare loop, cgroup per child",
                    {},
                    "ms",
                    "",
                    0,
                    "",
                    "",
                    "every run failed or no cgroups"});
    }
    if (have_timeout) {
        const Pool& tp = pools[peer];
        line(peer, tp.outside, tp.early, "died", join({versus(peer_p99, base_p99, "bare")}));
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
    for (const auto& b : backends())
        for (const bool cg : containments) {
            const std::string name = subject(b, cg);
            if (cg && no_cgroups.count(b)) {
                const std::string why = fmt::format(
                    "skipped: no cgroups (the report's containment: {})", no_cgroups[b]);
                fmt::print("{:<60} {}\n", name, why);
                record({section, name, {}, "ms", "", 0, "", "", why});
                continue;
            }
            const Pool& p = pools[name];
            if (p.runs == 0) {
                fmt::print("{:<60} every run failed\n", name);
                record({section, name, {}, "ms", "", 0, target, "no data", "every run failed"});
                continue;
            }
            const double p99_out = p99(p.outside), p99_sent = p99(p.sent);
            line(name, p.sent, p.early_report, "SIGKILL sent",
                 join({versus(p99_sent, base_sent_p99, "bare"),
                       cg ? versus(p99_sent, cg_sent_p99, "bare cgroups") : ""}));
            line(name, p.reaped, p.early_report, "reaped", "");
            line(name, p.outside, p.early, "died",
                 join({versus(p99_out, base_p99, "bare"),
                       cg ? versus(p99_out, cg_p99, "bare cgroups") : "",
                       have_timeout ? versus(p99_out, peer_p99, "timeout") : ""}));
            // The verdict on forkspawn's own clock: when SIGKILL was sent if
            // the report says, else when the actor was reaped (later: an upper
            // bound); compared with the bare loop on the same clock if it can.
            const bool exact = !p.sent.all.empty();
            any_sent |= exact;
            const Clocked& own = exact ? p.sent : p.reaped;
            const double p99_own = p99(own);
            const double against = exact && base_sent_p99 > 0 ? base_sent_p99 : base_p99;
            const bool met = p99_own <= 5.0 && p.early == 0 && p.early_report == 0;
            record({section,
                    fmt::format("{}: p99 late, {}", name, exact ? "SIGKILL sent" : "reaped"),
                    stats(own.p99_per_rep), "ms",
                    exact && base_sent_p99 > 0 ? "bare loop, SIGKILL sent" : "bare loop, died",
                    against > 0 ? p99_own / against : 0, target, verdict(met),
                    fmt::format("p50/p99/max {} ms {}; died {}; early {}", summary(own),
                                exact ? "sent" : "reaped", summary(p.outside),
                                p.early + p.early_report)});
            if (have_timeout && peer_p99 > 0)
                record({"7 peer: escalation", name + ": p99 late, died",
                        stats(p.outside.p99_per_rep), "ms", peer, p99_out / peer_p99, "", "",
                        fmt::format("timeout -k p99 {:.2f} ms", peer_p99)});
        }
    // The question of the cgroup work: what cgroup.kill adds to a burst.
    if (modes->off && modes->with)
        for (const auto& b : backends()) {
            const Pool& off = pools[subject(b, false)];
            const Pool& with = pools[subject(b, true)];
            if (no_cgroups.count(b) || off.sent.all.empty() || with.sent.all.empty()) continue;
            const double r = p99(with.sent) / p99(off.sent);
            // The pooled p99 is about the worst run's tail; the median of
            // the runs' p99 is steadier on a shared machine.
            const Stats w = stats(with.sent.p99_per_rep), o = stats(off.sent.p99_per_rep);
            fmt::print("{}: p99 SIGKILL sent with cgroups {:.2f} ms, --cgroup=off {:.2f} ms: "
                       "{:.2f}x; median of the runs' p99 {:.2f} vs {:.2f} ms: {:.2f}x\n",
                       b, p99(with.sent), p99(off.sent), r, w.median, o.median,
                       w.median / o.median);
            record({section, fmt::format("forkspawn {}: cgroups vs --cgroup=off, p99 sent", b), w,
                    "ms", subject(b, false) + ", sent", r, "", "",
                    fmt::format("pooled {:.2f} vs {:.2f} ms; median of runs' p99 {:.2f} vs {:.2f}",
                                p99(with.sent), p99(off.sent), w.median, o.median)});
        }
    if (!any_sent)
        fmt::print("note: the report has no stop.sent_ms (when each signal was sent), so "
                   "forkspawn's own clock is the reap: SIGKILL's lateness plus the actor's death "
                   "and forkspawn's reap\n");
    return 0;
}
