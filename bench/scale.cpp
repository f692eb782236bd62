// SPDX-License-Identifier: MIT
// Scale: a flat tree of N actors of /bin/true (10,000, 20,000 and 40,000 by
// default), per backend, one whole run of the binary each. The figure is
// the time per actor; the baseline is the same backend's time per actor at
// the smallest size in the same run, so the ratio says how the cost of one
// actor grows with the tree: 1.00 is linear. Target: at most 1.5x at the
// largest size. Sizes run in an interleaved order per repetition, so drift
// on a noisy machine hits them all alike.
//
//   forkspawn_bench_scale FORKSPAWN [--sizes=10000,20000,40000] [--reps=1] [--quick]
//
// --quick: 5,000, 10,000 and 20,000. Each run raises its own soft fd limit
// (forkspawn does: it needs about two fds per running actor).
#include "common.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace bench;

namespace {

std::vector<int> parse_sizes(const std::string& text) {
    std::vector<int> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty()) out.push_back(std::stoi(item));
    return out;
}

// One run; ms from start to exit, or -1 if it failed.
double run_tree(const std::string& forkspawn, const std::string& backend,
                const std::string& spec) {
    const auto t0 = Clock::now();
    const pid_t pid = start({forkspawn, "--report=none", "--spawn-backend=" + backend, spec});
    if (pid < 0) return -1;
    const auto status = wait_exit(pid, std::chrono::minutes(20));
    const double ms = ms_between(t0, Clock::now());
    if (!exited_with(status, 0)) {
        fmt::print(stderr, "bench: {} on {}: {}\n", spec, backend, status_text(status));
        return -1;
    }
    return ms;
}

} // namespace

int main(int argc, char** argv) {
    const auto args = command_line(argc, argv, {.actors = 0, .reps = 1, .quick_reps = 1});
    if (!args) return 2;
    const std::string& forkspawn = args->forkspawn;
    const std::vector<int> sizes = parse_sizes(
        option(argc, argv, "sizes", quick(argc, argv) ? "5000,10000,20000" : "10000,20000,40000"));
    if (sizes.size() < 2) {
        fmt::print(stderr, "bench: --sizes needs at least two sizes\n");
        return 2;
    }
    const std::string dir = scratch_dir("scale");
    std::map<int, std::string> specs;
    for (int n : sizes) {
        nlohmann::json actors = nlohmann::json::array();
        for (int i = 0; i < n; ++i)
            actors.push_back({{"name", fmt::format("a{}", i)}, {"cmd", {"/bin/true"}}});
        specs[n] = fmt::format("{}/flat{}.json", dir, n);
        write_file(specs[n], nlohmann::json{{"name", "root"}, {"actors", actors}}.dump());
    }

    const std::string section = "10 scale";
    fmt::print("10. scale: a flat tree of N /bin/true actors, ms per actor, per backend;\n"
               "    ratio: against the same backend at {} actors, same run (1.00 = linear)\n\n",
               sizes.front());
    fmt::print("{:<20} {:>8} {:>12} {:>14} {:>8}\n", "backend", "actors", "run (s)",
               "per actor (ms)", "ratio");
    for (const auto& backend : backends()) {
        std::map<int, std::vector<double>> per_actor;
        for (int rep = 0; rep < args->reps; ++rep) {
            // Interleaved: smallest, largest, then the rest.
            std::vector<int> order = sizes;
            if (rep % 2 == 1) std::reverse(order.begin(), order.end());
            for (int n : order) {
                const double ms = run_tree(forkspawn, backend, specs[n]);
                if (ms >= 0) per_actor[n].push_back(ms / n);
            }
        }
        const auto& base_values = per_actor[sizes.front()];
        const double base = base_values.empty() ? 0 : stats(base_values).median;
        for (int n : sizes) {
            const std::string subject = fmt::format("forkspawn {} {} actors", backend, n);
            const std::string baseline = fmt::format("same, {} actors", sizes.front());
            if (per_actor[n].empty()) {
                fmt::print("{:<20} {:>8} {:>12} {:>14} {:>8}\n", backend, n, "-", "failed", "-");
                record({section, subject, {}, "ms/actor", baseline, 0, "", "no data",
                        "every run failed"});
                continue;
            }
            const Stats s = stats(per_actor[n]);
            const double ratio = base > 0 ? s.median / base : 0;
            const bool largest = n == sizes.back();
            fmt::print("{:<20} {:>8} {:>12.1f} {:>14.3f} {:>8.2f}\n", backend, n,
                       s.median * n / 1000, s.median, ratio);
            record({section, subject, s, "ms/actor", baseline, ratio, largest ? "<= 1.50x" : "",
                    largest && ratio > 0 ? verdict(ratio <= 1.5) : std::string(), ""});
        }
    }
    for (const auto& [n, path] : specs)
        ::unlink(path.c_str());
    ::rmdir(dir.c_str());
    return 0;
}
