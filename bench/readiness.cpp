// SPDX-License-Identifier: MIT
// Readiness latency (issue 15): from an actor saying it is ready (a newline
// on its notification fd, or READY=1 over sd_notify) to its dependent's
// process running. 200 pairs run one after another in a one_for_one
// nursery: A_k (the helper actor in ready-fd or notify mode) and B_k, after
// A_k is ready (the helper in mark mode); A_k waits for B_(k-1) to complete,
// so pairs never overlap. Each writes its CLOCK_MONOTONIC time to the
// bench's fifo, A_k just before it says it is ready, B_k first thing in its
// main(): the latency is the difference. Compared with the bench's bare
// fork+execve+waitpid of /bin/true in the same run (target: median at most
// 1.2x).
//
//   forkspawn_bench_readiness FORKSPAWN [--reps=3] [--quick]
#include "common.hpp"

#include <map>
#include <nlohmann/json.hpp>

using namespace bench;

namespace {

constexpr int k_pairs = 200;

std::string spec(const std::string& helper, const std::string& fifo, const std::string& source) {
    nlohmann::json actors = nlohmann::json::array();
    for (int k = 0; k < k_pairs; ++k) {
        nlohmann::json a = {{"name", fmt::format("a{}", k)},
                            {"daemon", true},
                            {"cmd", {helper, source == "fd" ? "ready-fd" : "notify", fifo}}};
        a["ready"] = source == "fd" ? nlohmann::json{{"fd", 3}} : nlohmann::json{{"notify", true}};
        if (k > 0) a["after"] = {{fmt::format("b{}", k - 1), "completed"}};
        actors.push_back(a);
        actors.push_back({{"name", fmt::format("b{}", k)},
                          {"cmd", {helper, "mark", fifo}},
                          {"after", {fmt::format("a{}", k)}}});
    }
    return nlohmann::json{{"strategy", "one_for_one"}, {"output", "null"}, {"actors", actors}}
        .dump();
}

// One run: the latencies of its pairs in ms; empty when the run failed.
std::vector<double> one_run(const std::string& forkspawn, const std::string& backend,
                            const std::string& spec_path, Fifo& fifo) {
    fifo.drain();
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    const pid_t pid =
        start({forkspawn, "run", "--spawn-backend=" + backend, "--report=none", spec_path}, null);
    ::close(null);
    if (pid < 0) return {};
    std::vector<ActorEvent> events = fifo.wait_for(k_pairs, 'R', std::chrono::seconds(120));
    const auto status = wait_exit(pid, std::chrono::seconds(60));
    if (!exited_with(status, 0)) {
        fmt::print(stderr, "bench: forkspawn {}: {}\n", backend, status_text(status));
        return {};
    }
    for (auto& e : fifo.drain())
        events.push_back(e);
    std::vector<double> latencies;
    std::int64_t said = -1; // the last 'Y' not yet answered
    for (const auto& e : events) {
        if (e.kind == 'Y') said = e.t_ns;
        if (e.kind == 'R' && said >= 0) {
            latencies.push_back(static_cast<double>(e.t_ns - said) / 1e6);
            said = -1;
        }
    }
    return latencies;
}

} // namespace

int main(int argc, char** argv) {
    const auto args = command_line(argc, argv, {.actors = 0, .reps = 3, .quick_reps = 1});
    if (!args) return 2;
    const std::string helper = helper_path(argv[0]);
    const std::string dir = scratch_dir("readiness");
    Fifo fifo;
    if (!fifo.ok()) {
        fmt::print(stderr, "bench: cannot make a fifo\n");
        return 1;
    }
    const std::vector<std::string> sources{"fd", "notify"};
    for (const auto& source : sources)
        write_file(dir + "/" + source + ".json", spec(helper, fifo.path(), source));

    constexpr int k_bare = 200;
    std::vector<double> bare;
    std::map<std::string, std::vector<double>> latency;
    bare_fork_exec(k_bare / 4); // warm-up
    for (int r = 0; r < args->reps; ++r) {
        bare.push_back(bare_fork_exec(k_bare) / k_bare);
        for (const auto& b : backends())
            for (const auto& source : sources) {
                auto l = one_run(args->forkspawn, b, dir + "/" + source + ".json", fifo);
                auto& all = latency[b + " " + source];
                all.insert(all.end(), l.begin(), l.end());
            }
    }

    const std::string section = "12 readiness latency";
    const Stats base = stats(bare);
    fmt::print("readiness latency: from an actor saying it is ready to its dependent's main() "
               "running, {} pairs per run, {} runs; ms\n",
               k_pairs, args->reps);
    fmt::print("{:<52} {:>9} {:>9} {:>17}  {:<28} {:>7}  {}\n", "subject", "median", "p99",
               "spread", "baseline (same run)", "ratio", "target");
    fmt::print("{:<52} {:>9.3f} {:>9} {:>17}  {:<28} {:>7}\n",
               "bare fork+execve+waitpid, per child", base.median, "-", spread(base, 3), "-", "-");
    record({section, "bare fork+execve+waitpid, per child", base, "ms", "", 0, "", "", ""});
    for (const auto& b : backends())
        for (const auto& source : sources) {
            const auto& all = latency[b + " " + source];
            const Stats s = stats(all);
            const std::string subject = fmt::format("forkspawn {}: ready ({}) to dependent", b,
                                                    source == "fd" ? "fd" : "notify");
            if (s.n == 0) {
                fmt::print("{:<52} every run failed\n", subject);
                record(
                    {section, subject, s, "ms", "", 0, "<= 1.2x", "no data", "every run failed"});
                continue;
            }
            const double ratio = s.median / base.median;
            const double p99 = quantile(all, 0.99);
            fmt::print("{:<52} {:>9.3f} {:>9.3f} {:>17}  {:<28} {:>6.2f}x  <= 1.2x {}\n", subject,
                       s.median, p99, spread(s, 3), "bare fork+execve+waitpid", ratio,
                       verdict(ratio <= 1.2));
            record({section, subject, s, "ms", "bare fork+execve+waitpid", ratio, "<= 1.2x",
                    verdict(ratio <= 1.2), fmt::format("{} pairs, p99 {:.3f} ms", s.n, p99)});
        }
    for (const auto& source : sources)
        ::unlink((dir + "/" + source + ".json").c_str());
    ::rmdir(dir.c_str());
    return 0;
}
