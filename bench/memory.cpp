// SPDX-License-Identifier: MIT
// Supervisor memory: peak RSS (VmHWM) of the forkspawn process with 10, 100
// and 1000 live actors, per backend, reported per actor against a 1-actor
// run of the same backend in the same run:
//   per actor = (VmHWM(N) - VmHWM(1)) / (N - 1).
// Actors: forkspawn_bench_actor sleep (a fifo record, then sleep), default
// output handling (prefix: one pipe per actor). The bench reads VmHWM once
// every actor wrote its record and forkspawn's live tree (SIGUSR1, on its
// stderr) shows all of them running — so every spawn has been processed by
// the event loop — then cancels with SIGINT. Only the forkspawn process is
// counted (not its guardian, not the mp_forkserver server: each is a small
// process of its own whose size does not depend on the actor count).
//
//   forkspawn_bench_memory FORKSPAWN [--reps=3] [--quick]
#include "common.hpp"

#include <map>
#include <nlohmann/json.hpp>

using namespace bench;

namespace {

// Asks for the live tree until it lists `n` running actors (or `limit`).
bool all_running(pid_t pid, int err_fd, int n, std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    std::string text;
    while (Clock::now() < until) {
        ::kill(pid, SIGUSR1);
        // One dump ends with a line per actor; read until it is complete:
        // the header of the next dump never comes, so wait for `n` lines.
        text.clear();
        int running = 0, lines = 0;
        while (lines < n && Clock::now() < until) {
            pollfd p{err_fd, POLLIN, 0};
            if (::poll(&p, 1, 1000) <= 0) continue;
            char buf[65536];
            const ssize_t got = ::read(err_fd, buf, sizeof buf);
            if (got <= 0) return false;
            text.append(buf, static_cast<std::size_t>(got));
            lines = running = 0;
            for (std::size_t at = text.find("live tree"); at != std::string::npos;) {
                const auto nl = text.find('\n', at);
                if (nl == std::string::npos) break;
                const auto next = text.find('\n', nl + 1);
                if (next == std::string::npos) break;
                const std::string_view row(text.data() + nl + 1, next - nl - 1);
                ++lines;
                if (row.ends_with(" running")) ++running;
                at = next;
            }
        }
        if (running == n) return true;
    }
    return false;
}

// VmHWM (KiB) of forkspawn running `n` sleeping actors, or -1.
long peak_kib(const std::string& forkspawn, const std::string& helper, const std::string& backend,
              int n, const std::string& dir) {
    Fifo fifo;
    nlohmann::json list = nlohmann::json::array();
    for (int i = 0; i < n; ++i)
        list.push_back({{"name", fmt::format("s{}", i)}, {"cmd", {helper, "sleep", fifo.path()}}});
    const std::string spec = fmt::format("{}/memory-{}.json", dir, n);
    write_file(spec, nlohmann::json{{"name", "root"}, {"actors", list}}.dump());
    int err[2];
    if (::pipe2(err, O_CLOEXEC) < 0) return -1;
    const pid_t pid =
        start({forkspawn, "run", "--spawn-backend=" + backend, "--report=none", spec}, -1, err[1]);
    ::close(err[1]);
    if (pid < 0) {
        ::close(err[0]);
        return -1;
    }
    const auto ready = fifo.wait_for(static_cast<std::size_t>(n), 'R', std::chrono::seconds(30));
    const bool running = ready.size() == static_cast<std::size_t>(n) &&
                         all_running(pid, err[0], n, std::chrono::seconds(30));
    const Memory m = memory_of(pid);
    ::kill(pid, SIGINT);
    // Drain stderr so forkspawn never blocks on it while it stops.
    ::fcntl(err[0], F_SETFL, O_NONBLOCK);
    const auto until = Clock::now() + std::chrono::seconds(30);
    for (;;) {
        if (Clock::now() > until) ::kill(pid, SIGKILL); // hung: the run failed anyway
        pollfd p{err[0], POLLIN, 0};
        ::poll(&p, 1, 100);
        char buf[65536];
        while (::read(err[0], buf, sizeof buf) > 0) {
        }
        if (::waitpid(pid, nullptr, WNOHANG) != 0) break; // its status is not measured here
    }
    ::close(err[0]);
    ::unlink(spec.c_str());
    if (!running) {
        fmt::print(stderr, "bench: memory {} with {} actors: {} ready, not all running\n", backend,
                   n, ready.size());
        return -1;
    }
    return m.hwm_kib;
}

} // namespace

int main(int argc, char** argv) {
    const auto args = command_line(argc, argv, {.reps = 3, .quick_reps = 1});
    if (!args) return 2;
    const std::string& forkspawn = args->forkspawn;
    const int reps = args->reps;
    const std::string helper = helper_path(argv[0]);
    const std::string dir = scratch_dir("memory");
    const std::vector<int> sizes{1, 10, 100, 1000};

    std::map<std::pair<std::string, int>, std::vector<double>> kib;
    std::map<std::pair<std::string, int>, bool> broken; // failed once: not run again
    for (int r = 0; r < reps; ++r)
        for (const auto& b : backends())
            for (int n : sizes) {
                if (broken[{b, n}]) continue;
                if (const long k = peak_kib(forkspawn, helper, b, n, dir); k > 0)
                    kib[{b, n}].push_back(static_cast<double>(k));
                else
                    broken[{b, n}] = true;
            }
    ::rmdir(dir.c_str());

    const std::string section = "5 memory";
    fmt::print("supervisor memory: VmHWM of the forkspawn process with N live actors; per actor "
               "= (N-actor peak - 1-actor peak) / (N - 1); median of {} runs\n",
               reps);
    fmt::print("{:<20} {:>6} {:>10} {:>17} {:>13} {:>17}  {}\n", "backend", "actors", "peak KiB",
               "spread KiB", "KiB/actor", "vs 1 actor", "target");
    for (const auto& b : backends()) {
        const Stats one = stats(kib[{b, 1}]);
        for (int n : sizes) {
            const Stats s = stats(kib[{b, n}]);
            if (s.n == 0 || one.n == 0) {
                fmt::print("{:<20} {:>6} every run failed\n", b, n);
                if (n > 1)
                    record({section, fmt::format("forkspawn {}, {} actors", b, n), s, "KiB/actor",
                            "", 0, "<= 8 KiB/actor", "no data", "every run failed"});
                continue;
            }
            if (n == 1) {
                fmt::print("{:<20} {:>6} {:>10.0f} {:>17} {:>13} {:>17}\n", b, n, s.median,
                           spread(s, 0), "-", "baseline");
                continue;
            }
            // Per actor, with the spread of the N-actor runs over the baseline median.
            const double dn = n - 1;
            const Stats per{(s.median - one.median) / dn, (s.min - one.median) / dn,
                            (s.max - one.median) / dn, s.n};
            // VmHWM moves in pages and the heap grows in steps of about 132 KiB
            // (glibc's M_TOP_PAD): over 9 actors one step reads as 14.7 KiB per
            // actor. The target is judged where such steps are amortised.
            const bool judged = n >= 100;
            const bool met = per.median <= 8.0;
            fmt::print("{:<20} {:>6} {:>10.0f} {:>17} {:>13.2f} {:>16.2f}x  {}\n", b, n, s.median,
                       spread(s, 0), per.median, s.median / one.median,
                       judged ? "<= 8 " + verdict(met) : "(one heap step = 14.7/actor)");
            record({section, fmt::format("forkspawn {}, {} actors", b, n), per, "KiB/actor",
                    fmt::format("1 actor ({:.0f} KiB)", one.median), s.median / one.median,
                    judged ? "<= 8 KiB/actor" : "", judged ? verdict(met) : "",
                    judged ? fmt::format("peak {:.0f} KiB", s.median)
                           : fmt::format("peak {:.0f} KiB; resolution: one 132 KiB heap step = "
                                         "14.7 KiB/actor",
                                         s.median)});
        }
    }
    return 0;
}
