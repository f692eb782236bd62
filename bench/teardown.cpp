// Teardown: N running `sleep` actors; the time from cancel to all reaped.
// Each actor (forkspawn_bench_actor sleep FIFO) writes a record to a fifo
// and execs sleep, so the bench knows all N are running before it cancels —
// no sleeps. forkspawn figure: from the bench's SIGINT to forkspawn's exit
// (130), which comes after it reaped every actor (and cannot come before).
// Baseline, same run: the bench itself runs the same N actors and does a
// bare loop of kill(SIGTERM) for all, then waitpid for all.
//
//   forkspawn_bench_teardown FORKSPAWN [--actors=1000] [--reps=5] [--quick]
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

double with_forkspawn(const std::string& forkspawn, const std::string& helper,
                      const std::string& backend, int n, const std::string& dir) {
    Fifo fifo;
    nlohmann::json list = nlohmann::json::array();
    for (int i = 0; i < n; ++i)
        list.push_back({{"name", fmt::format("s{}", i)}, {"cmd", {helper, "sleep", fifo.path()}}});
    const std::string spec = fmt::format("{}/teardown-{}.json", dir, n);
    write_file(spec, nlohmann::json{{"name", "root"}, {"output", "null"}, {"actors", list}}.dump());
    const pid_t pid =
        start({forkspawn, "run", "--spawn-backend=" + backend, "--report=none", spec});
    if (pid < 0) return -1;
    const auto ready = fifo.wait_for(static_cast<std::size_t>(n), 'R', k_ready_limit);
    const auto t0 = Clock::now();
    ::kill(pid, SIGINT);
    const auto status = wait_exit(pid, std::chrono::seconds(30));
    const double ms = ms_between(t0, Clock::now());
    ::unlink(spec.c_str());
    if (ready.size() != static_cast<std::size_t>(n) || !exited_with(status, 130)) {
        fmt::print(stderr, "bench: teardown {} with {} actors: {} ready, {}\n", backend, n,
                   ready.size(), status_text(status));
        return -1;
    }
    return ms;
}

} // namespace

int main(int argc, char** argv) {
    const auto args = command_line(argc, argv, {.actors = 1000, .reps = 5, .quick_reps = 3});
    if (!args) return 2;
    const auto& [forkspawn, n, reps] = *args;
    const std::string helper = helper_path(argv[0]);
    const std::string dir = scratch_dir("teardown");

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
    for (int r = 0; r < reps; ++r) {
        run(base, [&] { return bare(helper, n); });
        for (const auto& b : backends()) {
            run("forkspawn " + b, [&] { return with_forkspawn(forkspawn, helper, b, n, dir); });
            run("forkspawn " + b + ", 1 actor",
                [&] { return with_forkspawn(forkspawn, helper, b, 1, dir); });
        }
    }
    ::rmdir(dir.c_str());

    const std::string section = "2 teardown";
    fmt::print("teardown: {} running sleep actors; cancel (SIGINT) to all reaped (forkspawn's "
               "exit); median of {} runs\n",
               n, reps);
    fmt::print("{:<36} {:>10} {:>17} {:>10}  {:<24} {:>7}  {}\n", "subject", "median ms",
               "spread ms", "us/actor", "baseline (same run)", "ratio", "target");
    const Stats b = stats(ms[base]);
    auto line = [&](const std::string& name, bool targeted) {
        const Stats s = stats(ms[name]);
        if (s.n == 0) {
            fmt::print("{:<36} every run failed\n", name);
            record({section, name, s, "ms", base, 0, targeted ? "<= 2x" : "", "no data",
                    "every run failed"});
            return;
        }
        const int actors = name.ends_with(", 1 actor") ? 1 : n;
        const bool is_base = name == base || actors == 1; // 1 actor: the fixed part, no ratio
        const double ratio = is_base || b.n == 0 ? 0 : s.median / b.median;
        const std::string v = targeted && ratio > 0 ? verdict(ratio <= 2.0) : "";
        fmt::print("{:<36} {:>10.1f} {:>17} {:>10}  {:<24} {:>7}  {}\n", name, s.median,
                   spread(s, 1),
                   actors == 1 ? "-" : fmt::format("{:.1f}", 1000 * s.median / actors),
                   is_base ? "-" : base, ratio > 0 ? fmt::format("{:.2f}x", ratio) : "-",
                   targeted ? fmt::format("<= 2x {}", v) : "");
        record({section, name, s, "ms", is_base ? "" : base, ratio, targeted ? "<= 2x" : "", v,
                actors == 1 ? "the fixed part of a run"
                            : fmt::format("{:.1f} us/actor", 1000 * s.median / actors)});
    };
    line(base, false);
    for (const auto& backend : backends()) {
        line("forkspawn " + backend, true);
        line("forkspawn " + backend + ", 1 actor", false);
    }
    return 0;
}
