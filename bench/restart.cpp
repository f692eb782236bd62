// SPDX-License-Identifier: MIT
// Restart latency (issue 14): how fast forkspawn runs a crashed actor again.
// One actor, /bin/false, "restart": "on_failure" with a 0s backoff and
// unlimited intensity, so it crashes and is restarted over and over until
// --timeout ends the run. Two figures come from the run's own report (its
// last 20 attempts): the restart latency, from an attempt's reap to the fork
// of the next (ended_ms to started_ms), and the cycle, from one attempt's
// fork to the next's (the crash, its reap and the restart). The cycle is
// compared with the bench's bare fork+execve+waitpid loop of /bin/true in
// the same run, which does the same work with no supervisor (target: at most
// 1.5x).
//
//   forkspawn_bench_restart FORKSPAWN [--reps=5] [--quick]
#include "common.hpp"

#include <map>
#include <nlohmann/json.hpp>

using namespace bench;

namespace {

// One run: the per-attempt gaps (restart latencies) and cycles of its last
// attempts, in ms; empty when the run failed.
std::pair<std::vector<double>, std::vector<double>> one_run(const std::string& forkspawn,
                                                            const std::string& backend,
                                                            const std::string& spec,
                                                            const std::string& out_path) {
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) return {};
    const pid_t pid = start(
        {forkspawn, "run", "--spawn-backend=" + backend, "--report=json", "--timeout=1s", spec},
        out);
    ::close(out);
    if (pid < 0) return {};
    const auto status = wait_exit(pid, std::chrono::seconds(30));
    if (!exited_with(status, 124)) { // the --timeout ends it
        fmt::print(stderr, "bench: forkspawn {}: {}\n", backend, status_text(status));
        return {};
    }
    const auto report = nlohmann::json::parse(read_file(out_path), nullptr, false);
    if (!report.is_object() || report["actors"].empty()) return {};
    const auto& attempts = report["actors"][0]["attempts"];
    std::vector<double> gaps, cycles;
    for (std::size_t k = 1; k < attempts.size(); ++k) {
        const auto& a = attempts[k - 1];
        const auto& b = attempts[k];
        if (!a["ended_ms"].is_number() || !b["started_ms"].is_number()) continue;
        gaps.push_back(b["started_ms"].get<double>() - a["ended_ms"].get<double>());
        cycles.push_back(b["started_ms"].get<double>() - a["started_ms"].get<double>());
    }
    return {gaps, cycles};
}

} // namespace

int main(int argc, char** argv) {
    const auto args = command_line(argc, argv, {.actors = 0, .reps = 5, .quick_reps = 2});
    if (!args) return 2;
    const auto& forkspawn = args->forkspawn;
    const int reps = args->reps;
    const std::string dir = scratch_dir("restart");
    const std::string spec = dir + "/crash.json";
    const std::string out = dir + "/report.json";
    write_file(spec, nlohmann::json{{"strategy", "one_for_one"},
                                    {"intensity", "unlimited"},
                                    {"output", "null"},
                                    {"actors",
                                     {{{"name", "crash"},
                                       {"cmd", {"/bin/false"}},
                                       {"restart", "on_failure"},
                                       {"backoff", "0s"}}}}}
                         .dump());

    constexpr int k_bare = 200;
    std::vector<double> bare;
    std::map<std::string, std::vector<double>> gaps, cycles;
    bare_fork_exec(k_bare / 4); // warm-up
    for (int r = 0; r < reps; ++r) {
        bare.push_back(bare_fork_exec(k_bare) / k_bare);
        for (const auto& b : backends()) {
            auto [g, c] = one_run(forkspawn, b, spec, out);
            gaps[b].insert(gaps[b].end(), g.begin(), g.end());
            cycles[b].insert(cycles[b].end(), c.begin(), c.end());
        }
    }

    const std::string section = "11 restart latency";
    const Stats base = stats(bare);
    fmt::print("restart latency: /bin/false restarted with a 0s backoff, the last 20 attempts "
               "of {} 1-second runs per backend; ms per restart\n",
               reps);
    fmt::print("{:<52} {:>9} {:>17}  {:<28} {:>7}  {}\n", "subject", "median", "spread",
               "baseline (same run)", "ratio", "target");
    fmt::print("{:<52} {:>9.3f} {:>17}  {:<28} {:>7}\n", "bare fork+execve+waitpid, per child",
               base.median, spread(base, 3), "-", "-");
    record({section, "bare fork+execve+waitpid, per child", base, "ms", "", 0, "", "", ""});
    for (const auto& b : backends()) {
        const Stats g = stats(gaps[b]);
        const Stats c = stats(cycles[b]);
        if (c.n == 0) {
            fmt::print("{:<52} every run failed\n", "forkspawn " + b);
            record({section, "forkspawn " + b + ": cycle", c, "ms", "", 0, "<= 1.5x", "no data",
                    "every run failed"});
            continue;
        }
        const double ratio = c.median / base.median;
        fmt::print("{:<52} {:>9.3f} {:>17}  {:<28} {:>7}\n", "forkspawn " + b + ": reap to fork",
                   g.median, spread(g, 3), "-", "-");
        fmt::print("{:<52} {:>9.3f} {:>17}  {:<28} {:>6.2f}x  <= 1.5x {}\n",
                   "forkspawn " + b + ": cycle (crash, reap, restart)", c.median, spread(c, 3),
                   "bare fork+execve+waitpid", ratio, verdict(ratio <= 1.5));
        record({section, "forkspawn " + b + ": reap to fork", g, "ms", "", 0, "", "",
                fmt::format("{} restarts", g.n)});
        record({section, "forkspawn " + b + ": cycle", c, "ms", "bare fork+execve+waitpid", ratio,
                "<= 1.5x", verdict(ratio <= 1.5), fmt::format("{} restarts", c.n)});
    }
    ::unlink(spec.c_str());
    ::unlink(out.c_str());
    ::rmdir(dir.c_str());
    return 0;
}
