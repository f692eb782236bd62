// SPDX-License-Identifier: MIT
// Cancel cascade vs depth: time from SIGINT to forkspawn's exit for trees of
// nested nurseries 1, 2, 4 and 8 deep, each level with a sleeping actor, per
// backend. The baseline is depth 1 of the same backend measured in the same
// run; figures are medians over several repetitions with their spread
// (min..max). Target: grows by milliseconds per level (here: <= 10 ms per
// level from depth 1 to 8), not seconds.
//
//   bench/forkspawn_bench_cascade [path/to/forkspawn] [repetitions] [--quick]
#include "common.hpp"

#include <nlohmann/json.hpp>

using bench::Clock;
using nlohmann::json;

namespace {

std::string tree(int depth) {
    json level = {{"name", "leaf"}, {"cmd", {"sh", "-c", "echo ready; exec sleep 100"}}};
    for (int d = 1; d < depth; ++d)
        level = {{"name", fmt::format("n{}", d)},
                 {"actors", {{{"name", "s"}, {"cmd", {"sh", "-c", "exec sleep 100"}}}, level}}};
    return json{{"actors", {{{"name", "s"}, {"cmd", {"sh", "-c", "exec sleep 100"}}}, level}}}
        .dump();
}

// One run: start forkspawn on the spec, wait for the leaf to be ready, send
// SIGINT, return the milliseconds until forkspawn exited (negative: failed).
double one_run(const std::string& binary, const std::string& backend,
               const std::string& spec_path) {
    int err[2];
    if (::pipe2(err, O_CLOEXEC) < 0) return -1;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(err[1], 2);
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        const std::string b = "--spawn-backend=" + backend;
        ::execl(binary.c_str(), binary.c_str(), "run", b.c_str(), "--report=none",
                spec_path.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(err[1]);
    std::string seen;
    const auto until = Clock::now() + std::chrono::seconds(30);
    while (seen.find("leaf | ready") == std::string::npos && Clock::now() < until) {
        pollfd p{err[0], POLLIN, 0};
        if (::poll(&p, 1, 1000) <= 0) continue;
        char buf[4096];
        const ssize_t n = ::read(err[0], buf, sizeof buf);
        if (n <= 0) break;
        seen.append(buf, static_cast<std::size_t>(n));
    }
    const auto t0 = Clock::now();
    ::kill(pid, SIGINT);
    // Keep draining stderr so forkspawn never blocks on it.
    for (;;) {
        char buf[4096];
        const ssize_t n = ::read(err[0], buf, sizeof buf);
        if (n <= 0) break;
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    const double ms = bench::ms_between(t0, Clock::now());
    ::close(err[0]);
    return bench::exited_with(status, 130) ? ms : -1;
}

} // namespace

int main(int argc, char** argv) {
    const std::string binary = argc > 1 ? argv[1] : "./forkspawn";
    const bool quick = bench::quick(argc, argv);
    const int reps = argc > 2 && argv[2][0] != '-' ? std::atoi(argv[2]) : quick ? 3 : 7;
    const std::vector<int> depths{1, 2, 4, 8};
    const std::string section = "4 cascade vs depth";
    fmt::print("cancel cascade: SIGINT to exit, median of {} runs\n", reps);
    fmt::print("{:<18} {:>5}  {:>7}  {:>10}  {:>15}  {:>11}\n", "backend", "depth", "actors",
               "median ms", "spread ms", "vs depth 1");
    for (const auto& backend : bench::backends()) {
        std::vector<std::vector<double>> ms(depths.size());
        std::vector<std::string> paths;
        for (int depth : depths) {
            paths.push_back(
                fmt::format("/tmp/forkspawn-bench-cascade-{}-{}.json", ::getpid(), depth));
            bench::write_file(paths.back(), tree(depth));
        }
        for (int r = 0; r < reps; ++r) // interleaved: drift hits every depth alike
            for (std::size_t d = 0; d < depths.size(); ++d)
                if (const double t = one_run(binary, backend, paths[d]); t >= 0) ms[d].push_back(t);
        for (const auto& p : paths)
            ::unlink(p.c_str());
        const bench::Stats base = bench::stats(ms[0]);
        for (std::size_t d = 0; d < depths.size(); ++d) {
            const bench::Stats s = bench::stats(ms[d]);
            if (s.n == 0 || base.n == 0) {
                fmt::print("{:<18} {:>5}  every run failed\n", backend, depths[d]);
                continue;
            }
            const double ratio = s.median / base.median;
            fmt::print("{:<18} {:>5}  {:>7}  {:>10.1f}  {:>15}  {:>10.2f}x\n", backend, depths[d],
                       2 * depths[d], s.median, bench::spread(s, 1), ratio);
            if (depths[d] == 1) continue;
            const double per_level = (s.median - base.median) / (depths[d] - 1);
            const bool last = d + 1 == depths.size();
            bench::record({section, fmt::format("forkspawn {}, depth {}", backend, depths[d]), s,
                           "ms", "depth 1", ratio, last ? "<= 10 ms/level" : "",
                           last ? bench::verdict(per_level <= 10.0) : "",
                           fmt::format("{:.1f} ms/level", per_level)});
        }
    }
    return 0;
}
