// Spawn cost vs supervisor size, per backend: the time to spawn and reap N
// actors running /bin/true when the supervising process holds 0, 256 MiB or
// 1 GiB of touched memory. Baseline, measured in the same run and the same
// process: a bare loop of posix_spawn + waitpid (no supervision at all).
// fork()-based spawning copies page tables, so its cost grows with the
// supervisor; a vfork-style spawn (posix_spawn, the trio backend) does not.
//
//   bench/forkspawn_bench_spawn_cost [actors] [repetitions]
#include "forkspawn/backend.hpp"
#include "forkspawn/sink.hpp"
#include "forkspawn/spec.hpp"
#include "forkspawn/supervisor.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

using Clock = std::chrono::steady_clock;
using namespace forkspawn;

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double bare_posix_spawn(int n) {
    const auto t0 = Clock::now();
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    for (int i = 0; i < n; ++i) {
        pid_t pid;
        if (::posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) == 0)
            ::waitpid(pid, nullptr, 0);
    }
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double forkspawn_run(const spec::Spec& s, const std::string& backend) {
    supervise::Options options;
    options.backend = backend;
    options.format = report::Format::none;
    options.verbosity = 0;
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    Sink report(null), log(null);
    const auto t0 = Clock::now();
    const auto result = supervise::run(s, options, report, log);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    ::close(null);
    return result.exit_code == 0 ? ms : -1;
}

} // namespace

int main(int argc, char** argv) {
    // The mp_forkserver backend re-executes /proc/self/exe: this program.
    if (argc == 2 && std::strcmp(argv[1], "__mp_forkserver") == 0) backend::mp_forkserver_main();
    const int n = argc > 1 ? std::atoi(argv[1]) : 200;
    const int reps = argc > 2 ? std::atoi(argv[2]) : 3;
    supervise::block_supervised_signals();
    nlohmann::json actors = nlohmann::json::array();
    for (int i = 0; i < n; ++i)
        actors.push_back({{"name", fmt::format("t{}", i)}, {"cmd", {"/bin/true"}}, {"output", "null"}});
    const auto parsed = spec::parse(nlohmann::json{{"actors", actors}}.dump());
    const spec::Spec& s = *parsed.spec;

    fmt::print("spawn + reap {} actors of /bin/true; median of {} runs; ms per actor "
               "(ratio to bare posix_spawn at the same size)\n",
               n, reps);
    fmt::print("{:>9}  {:>14}  {:>20}  {:>20}  {:>20}\n", "memory", "bare spawn", "subint_forkserver",
               "trio", "mp_forkserver");
    bare_posix_spawn(n); // warm-up: page cache, dynamic loader
    std::vector<char*> held;
    std::size_t held_mib = 0;
    for (std::size_t mib : {0, 256, 1024}) {
        // Grow the supervisor: touched anonymous memory, as a big process has.
        const std::size_t add = (mib - held_mib) << 20;
        if (add > 0) {
            void* p = ::mmap(nullptr, add, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) return 1;
            std::memset(p, 1, add);
            held.push_back(static_cast<char*>(p));
            held_mib = mib;
        }
        std::vector<double> bare;
        for (int r = 0; r < reps; ++r) bare.push_back(bare_posix_spawn(n) / n);
        const double base = median(bare);
        std::string row = fmt::format("{:>6} MiB  {:>10.3f}     ", mib, base);
        for (const char* backend : {"subint_forkserver", "trio", "mp_forkserver"}) {
            std::vector<double> t;
            for (int r = 0; r < reps; ++r) t.push_back(forkspawn_run(s, backend) / n);
            const double m = median(t);
            row += fmt::format("  {:>8.3f} ({:>5.2f}x)    ", m, m / base);
        }
        fmt::print("{}\n", row);
    }
    return 0;
}
