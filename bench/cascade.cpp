// Cancel cascade vs depth: time from SIGINT to forkspawn's exit for trees of
// nested nurseries 1, 2, 4 and 8 deep, each level with a sleeping actor.
// The baseline is depth 1 measured in the same run; figures are medians
// over several repetitions with their spread (min..max).
//
//   bench/forkspawn_bench_cascade [path/to/forkspawn] [repetitions]
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using Clock = std::chrono::steady_clock;
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
double one_run(const std::string& binary, const std::string& spec_path) {
    int err[2];
    if (::pipe2(err, O_CLOEXEC) < 0) return -1;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(err[1], 2);
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::execl(binary.c_str(), binary.c_str(), "run", "--report=none", spec_path.c_str(),
                static_cast<char*>(nullptr));
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
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    ::close(err[0]);
    return WIFEXITED(status) && WEXITSTATUS(status) == 130 ? ms : -1;
}

} // namespace

int main(int argc, char** argv) {
    const std::string binary = argc > 1 ? argv[1] : "./forkspawn";
    const int reps = argc > 2 ? std::atoi(argv[2]) : 7;
    std::vector<int> depths{1, 2, 4, 8};
    double baseline = 0;
    fmt::print("cancel cascade: SIGINT to exit, median of {} runs\n", reps);
    fmt::print("{:>5}  {:>7}  {:>10}  {:>15}  {:>11}\n", "depth", "actors", "median ms",
               "spread ms", "vs depth 1");
    for (int depth : depths) {
        const std::string path = fmt::format("/tmp/forkspawn-bench-cascade-{}.json", ::getpid());
        FILE* f = std::fopen(path.c_str(), "w");
        const std::string spec = tree(depth);
        std::fwrite(spec.data(), 1, spec.size(), f);
        std::fclose(f);
        std::vector<double> ms;
        for (int r = 0; r < reps; ++r) {
            const double t = one_run(binary, path);
            if (t >= 0) ms.push_back(t);
        }
        ::unlink(path.c_str());
        if (ms.empty()) {
            fmt::print("{:>5}  every run failed\n", depth);
            continue;
        }
        std::sort(ms.begin(), ms.end());
        const double median = ms[ms.size() / 2];
        if (depth == 1) baseline = median;
        fmt::print("{:>5}  {:>7}  {:>10.1f}  {:>7.1f}..{:<7.1f}  {:>10.2f}x\n", depth,
                   2 * depth, median, ms.front(), ms.back(), median / baseline);
    }
    return 0;
}
