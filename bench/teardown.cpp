// SPDX-License-Identifier: MIT
// Teardown: N running `sleep` actors; the time from cancel to all reaped.
// Each actor (forkspawn_bench_actor sleep FIFO) writes a record to a fifo
// and execs sleep, so the bench knows all N are running before it cancels —
// no sleeps. forkspawn figure: from the bench's SIGINT to forkspawn's exit
// (130), which comes after it reaped every actor (and cannot come before).
// Baseline, same run: the bench itself runs the same N actors and does a
// bare loop of kill(SIGTERM) for all, then waitpid for all.
//
// With and without cgroups (--cgroup=auto|off|both, default both): every
// backend runs as `forkspawn run --cgroup=off` (process groups only) and as
// `--cgroup=auto`. With cgroups, an actor's end costs more than a reap:
// forkspawn writes its cgroup.kill (what the main process left behind),
// reads cgroup.events until it says "populated 0", reads its cpu.stat and
// removes it; at the end it kills and removes the run's cgroup. The cgroup
// rows count only where cgroups are really used: a 1-actor probe per
// backend, before the timed runs, must report "containment": "cgroup" (else
// the rows say "skipped: no cgroups"), every 1-actor run's report is
// checked the same way, and in every N-actor run each actor is checked to
// sit in a forkspawn cgroup (/proc/PID/cgroup, read before the cancel, so
// outside the time). A second baseline does that by hand: the bench makes a
// cgroup per child (each child moves itself in before its exec, as
// forkspawn's do), then kill(SIGTERM) to all and, per child, waitpid,
// cgroup.kill, "populated 0", cpu.stat and rmdir. It shows what the kernel
// charges for the cgroups themselves; the target is against the plain loop.
//
//   forkspawn_bench_teardown FORKSPAWN [--actors=1000] [--cgroup=auto|off|both]
//                            [--reps=5] [--quick]
#include "common.hpp"

#include <map>
#include <nlohmann/json.hpp>

using namespace bench;

namespace {

constexpr auto k_ready_limit = std::chrono::seconds(30);

double bare(const std::string& helper, int n) {
    Fifo fifo;
    const auto pids = start_n(n, {helper, "sleep", fifo.path()});
    const auto ready = fifo.wait_for(pids.size(), 'R', k_ready_limit);
    const bool ok = ready.size() == pids.size() && pids.size() == static_cast<std::size_t>(n);
    const auto t0 = Clock::now();
    for (pid_t pid : pids)
        ::kill(pid, SIGTERM);
    for (pid_t pid : pids)
        ::waitpid(pid, nullptr, 0);
    const double ms = ms_between(t0, Clock::now());
    return ok ? ms : -1;
}

// The same with a cgroup per child, handled as forkspawn handles an
// actor's (containment.cpp): the per-child work after each reap is timed,
// and so is the removal of the bench's cgroup that holds them.
double bare_cgroups(const std::string& helper, int n) {
    Fifo fifo;
    BareCgroups cgroups(fmt::format("forkspawn-bench-teardown-{}", ::getpid()));
    if (!cgroups.ok()) {
        fmt::print(stderr, "bench: teardown, bare loop with cgroups: {}\n", cgroups.why());
        return -1;
    }
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i)
        if (const pid_t pid =
                cgroups.start_in(static_cast<std::size_t>(i), {helper, "sleep", fifo.path()});
            pid > 0)
            pids.push_back(pid);
    const auto ready = fifo.wait_for(pids.size(), 'R', k_ready_limit);
    // A child that could not start leaves a gap in the numbering: the run
    // only counts when all started (the destructor cleans up either way).
    const bool ok = ready.size() == pids.size() && pids.size() == static_cast<std::size_t>(n);
    const auto t0 = Clock::now();
    for (pid_t pid : pids)
        ::kill(pid, SIGTERM);
    bool clean = true;
    for (std::size_t i = 0; i < pids.size(); ++i) {
        ::waitpid(pids[i], nullptr, 0);
        cgroups.kill(i);
        clean &= cgroups.wait_empty(i, std::chrono::seconds(5));
        [[maybe_unused]] const std::string cpu = cgroups.read(i, "cpu.stat");
        clean &= cgroups.remove(i) == 0;
    }
    cgroups.close();
    const double ms = ms_between(t0, Clock::now());
    if (!clean) fmt::print(stderr, "bench: teardown, bare loop with cgroups: a cgroup stayed\n");
    return ok && clean ? ms : -1;
}

// How forkspawn contains its actors in a run: --cgroup=off or auto.
std::string cgroup_flag(bool cgroups) {
    return cgroups ? "--cgroup=auto" : "--cgroup=off";
}

// One run of forkspawn: its time from SIGINT to exit, -1 on failure. With
// one actor the run writes a JSON report and `containment` is its
// top-level field ("" when unread); with more, no report is written (its
// time would be in the figure) and every actor's cgroup is checked instead.
struct Run {
    double ms = -1;
    std::string containment;
};

Run with_forkspawn(const std::string& forkspawn, const std::string& helper,
                   const std::string& backend, bool cgroups, int n, const std::string& dir) {
    Run run;
    Fifo fifo;
    nlohmann::json list = nlohmann::json::array();
    for (int i = 0; i < n; ++i)
        list.push_back({{"name", fmt::format("s{}", i)}, {"cmd", {helper, "sleep", fifo.path()}}});
    const std::string spec = fmt::format("{}/teardown-{}.json", dir, n);
    const std::string report = dir + "/report.json";
    write_file(spec, nlohmann::json{{"name", "root"}, {"output", "null"}, {"actors", list}}.dump());
    ::unlink(report.c_str());
    std::vector<std::string> cmd{forkspawn, "run", "--spawn-backend=" + backend,
                                 cgroup_flag(cgroups)};
    if (n == 1) {
        cmd.push_back("--report=json");
        cmd.push_back("--report-file=" + report);
    } else {
        cmd.push_back("--report=none");
    }
    cmd.push_back(spec);
    const pid_t pid = start(cmd);
    if (pid < 0) return run;
    const auto ready = fifo.wait_for(static_cast<std::size_t>(n), 'R', k_ready_limit);
    std::size_t misplaced = 0;
    if (n > 1)
        for (const auto& e : ready)
            if (e.kind == 'R' && in_forkspawn_cgroup(e.pid) != cgroups) ++misplaced;
    const auto t0 = Clock::now();
    ::kill(pid, SIGINT);
    const auto status = wait_exit(pid, std::chrono::seconds(30));
    const double ms = ms_between(t0, Clock::now());
    ::unlink(spec.c_str());
    if (n == 1) {
        const auto j = nlohmann::json::parse(read_file(report), nullptr, false);
        if (j.is_object() && j.contains("containment") && j["containment"].is_string())
            run.containment = j["containment"].get<std::string>();
        ::unlink(report.c_str());
    }
    if (ready.size() != static_cast<std::size_t>(n) || !exited_with(status, 130)) {
        fmt::print(stderr, "bench: teardown {} {} with {} actors: {} ready, {}\n", backend,
                   cgroup_flag(cgroups), n, ready.size(), status_text(status));
        return run;
    }
    if (misplaced > 0) {
        fmt::print(stderr, "bench: teardown {} {}: {} of {} actors {} a forkspawn cgroup\n",
                   backend, cgroup_flag(cgroups), misplaced, n, cgroups ? "not in" : "in");
        return run;
    }
    if (n == 1 && run.containment != (cgroups ? "cgroup" : "process_group")) {
        fmt::print(stderr, "bench: teardown {} {}: the report's containment is '{}'\n", backend,
                   cgroup_flag(cgroups), run.containment);
        return run;
    }
    run.ms = ms;
    return run;
}

} // namespace

int main(int argc, char** argv) {
    const auto args = command_line(
        argc, argv,
        {.actors = 1000, .reps = 5, .quick_reps = 3, .more = "[--cgroup=auto|off|both] "});
    if (!args) return 2;
    const auto modes = cgroup_modes(argc, argv);
    if (!modes) return 2;
    const auto& [forkspawn, n, reps] = *args;
    const std::string helper = helper_path(argv[0]);
    const std::string dir = scratch_dir("teardown");

    // The subjects of a backend: its name with each containment.
    auto subject = [](const std::string& backend, bool cgroups) {
        return "forkspawn " + backend + (cgroups ? ", cgroups" : ", --cgroup=off");
    };
    std::vector<bool> containments;
    if (modes->off) containments.push_back(false);
    if (modes->with) containments.push_back(true);

    // Whether a backend's runs use cgroups where they are asked for: a
    // 1-actor run's report says (auto falls back to process groups where
    // forkspawn cannot make cgroups; then there is nothing to measure).
    std::map<std::string, std::string> no_cgroups; // backend -> what its report said
    if (modes->with)
        for (const auto& b : backends()) {
            const Run probe = with_forkspawn(forkspawn, helper, b, true, 1, dir);
            if (probe.containment != "cgroup")
                no_cgroups[b] = probe.containment.empty() ? "no report" : probe.containment;
        }

    std::map<std::string, std::vector<double>> ms;
    std::map<std::string, bool> broken; // failed once: not run again (a hang costs its deadline)
    auto run = [&](const std::string& name, auto&& f) {
        if (broken[name]) return;
        if (const double t = f(); t >= 0)
            ms[name].push_back(t);
        else
            broken[name] = true;
    };
    const std::string base = "bare kill+waitpid loop";
    const std::string base_cg = "bare same, cgroup per child";
    const std::string no_bare_cg = modes->with ? bare_cgroups_unusable("teardown") : "";
    const bool with_bare_cg = modes->with && no_bare_cg.empty();
    for (int r = 0; r < reps; ++r) {
        run(base, [&] { return bare(helper, n); });
        if (with_bare_cg) run(base_cg, [&] { return bare_cgroups(helper, n); });
        for (const auto& b : backends())
            for (const bool cg : containments) {
                if (cg && no_cgroups.count(b)) continue;
                run(subject(b, cg),
                    [&] { return with_forkspawn(forkspawn, helper, b, cg, n, dir).ms; });
                run(subject(b, cg) + ", 1 actor",
                    [&] { return with_forkspawn(forkspawn, helper, b, cg, 1, dir).ms; });
            }
    }
    ::rmdir(dir.c_str());

    const std::string section = "2 teardown";
    fmt::print("teardown: {} running sleep actors; cancel (SIGINT) to all reaped (forkspawn's "
               "exit); median of {} runs\n",
               n, reps);
    fmt::print("{:<52} {:>10} {:>17} {:>10}  {:<24} {:>7}  {:<16} {}\n", "subject", "median ms",
               "spread ms", "us/actor", "baseline (same run)", "ratio", "target",
               "vs bare cgroups");
    const Stats b = stats(ms[base]);
    const Stats b_cg = stats(ms[base_cg]);
    // Issue 6 asks for <= 2x; the cgroup work asks for <= 1.25x with cgroups.
    // A cgroup row is also set against the bare loop with cgroups: what
    // forkspawn adds to what the kernel charges for the cgroups.
    auto line = [&](const std::string& name, double target, bool cgroups) {
        const std::string target_text = target > 0 ? fmt::format("<= {}x", target) : "";
        const Stats s = stats(ms[name]);
        if (s.n == 0) {
            fmt::print("{:<52} every run failed\n", name);
            record({section, name, s, "ms", base, 0, target_text, target > 0 ? "no data" : "",
                    "every run failed"});
            return;
        }
        const int actors = name.ends_with(", 1 actor") ? 1 : n;
        const bool is_base = name == base || actors == 1; // 1 actor: the fixed part, no ratio
        const double ratio = is_base || b.n == 0 ? 0 : s.median / b.median;
        const std::string v = target > 0 && ratio > 0 ? verdict(ratio <= target) : "";
        const std::string vs_cg = cgroups && actors > 1 && b_cg.n > 0
                                      ? fmt::format("{:.2f}x", s.median / b_cg.median)
                                      : "";
        fmt::print("{:<52} {:>10.1f} {:>17} {:>10}  {:<24} {:>7}  {:<16} {}\n", name, s.median,
                   spread(s, 1),
                   actors == 1 ? "-" : fmt::format("{:.1f}", 1000 * s.median / actors),
                   is_base ? "-" : base, ratio > 0 ? fmt::format("{:.2f}x", ratio) : "-",
                   target > 0 ? target_text + " " + v : "", vs_cg);
        std::string note = actors == 1 ? "the fixed part of a run"
                                       : fmt::format("{:.1f} us/actor", 1000 * s.median / actors);
        if (!vs_cg.empty()) note += "; " + vs_cg + " the bare loop with cgroups";
        record({section, name, s, "ms", is_base ? "" : base, ratio, target_text, v, note});
    };
    line(base, 0, false);
    if (with_bare_cg) {
        line(base_cg, 0, false);
    } else if (modes->with) {
        fmt::print("{:<52} skipped: {}\n", base_cg, no_bare_cg);
        record({section, base_cg, {}, "ms", "", 0, "", "", "skipped: " + no_bare_cg});
    }
    for (const auto& backend : backends())
        for (const bool cg : containments) {
            if (cg && no_cgroups.count(backend)) {
                const std::string why = fmt::format("skipped: no cgroups (the report's "
                                                    "containment: {})",
                                                    no_cgroups[backend]);
                fmt::print("{:<52} {}\n", subject(backend, true), why);
                record({section, subject(backend, true), {}, "ms", base, 0, "", "", why});
                continue;
            }
            line(subject(backend, cg), cg ? 1.25 : 2.0, cg);
            line(subject(backend, cg) + ", 1 actor", 0, cg);
        }
    return 0;
}
