// SPDX-License-Identifier: MIT
// Spawn throughput: N actors of /bin/true in a flat tree, spawned and
// reaped, per backend. A forkspawn figure is a whole run of the binary,
// from the bench's posix_spawn of forkspawn to its exit: forkspawn's own
// fork/exec, start-up, guardian and report (none) are included; the
// "1 actor" row shows that fixed part. Baselines, in the same run: the
// bench's bare loops (fork+execve+waitpid on the main thread, the same on a
// worker thread, posix_spawn+waitpid), one child at a time. Peers: xargs -P
// and GNU parallel on the same N commands (skipped with a note if absent).
// Repetitions are interleaved (every subject once per round) so drift on a
// noisy machine hits them all alike.
//
// The same N jobs as a one_for_one batch with -j CORES are compared with
// xargs -P CORES and GNU parallel -j CORES (target: faster than both).
//
//   forkspawn_bench_throughput FORKSPAWN [--actors=1000] [--reps=5] [--quick]
#include "common.hpp"

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

using namespace bench;

namespace {

double bare_fork_exec_thread(int n) {
    double ms = 0;
    std::thread worker([&] { ms = bare_fork_exec(n); });
    worker.join();
    return ms;
}

// A whole command run, stdin from `input` (a path, or "" for /dev/null);
// ms from start to exit, or -1 if it failed.
double timed_command(const std::vector<std::string>& args, const std::string& input = "",
                     int expect = 0) {
    const int in = input.empty() ? -1 : ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
    const auto t0 = Clock::now();
    const pid_t pid = start(args, -1, -1, in);
    if (in >= 0) ::close(in);
    if (pid < 0) return -1;
    const auto status = wait_exit(pid, std::chrono::seconds(30));
    const double ms = ms_between(t0, Clock::now());
    if (!exited_with(status, expect)) {
        fmt::print(stderr, "bench: {} ... : {}\n", args[0], status_text(status));
        return -1;
    }
    return ms;
}

std::string find_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    std::size_t start_at = 0;
    for (;;) {
        const auto colon = dirs.find(':', start_at);
        const std::string dir = dirs.substr(start_at, colon - start_at);
        const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        if (colon == std::string::npos) return "";
        start_at = colon + 1;
    }
}

struct Subject {
    std::string name;
    std::function<double()> run;
    std::vector<double> ms;
    bool broken = false; // failed once: not run again (a hang costs its deadline each time)
    int max_reps = 1 << 30;
};

} // namespace

int main(int argc, char** argv) {
    const auto args = command_line(argc, argv, {.actors = 1000, .reps = 5, .quick_reps = 3});
    if (!args) return 2;
    const auto& [forkspawn, n, reps] = *args;
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());

    const std::string dir = scratch_dir("throughput");
    auto spec_of = [&](int actors) {
        nlohmann::json list = nlohmann::json::array();
        for (int i = 0; i < actors; ++i)
            list.push_back({{"name", fmt::format("t{}", i)}, {"cmd", {"/bin/true"}}});
        const std::string path = fmt::format("{}/flat-{}.json", dir, actors);
        write_file(path,
                   nlohmann::json{{"name", "root"}, {"output", "null"}, {"actors", list}}.dump());
        return path;
    };
    const std::string spec_n = spec_of(n), spec_1 = spec_of(1);
    // The same jobs as a batch that keeps going past failures, at most
    // `cores` at a time: what xargs -P and GNU parallel -j do (issue 14).
    const std::string spec_batch = dir + "/batch.json";
    {
        auto batch = nlohmann::json::parse(read_file(spec_n));
        batch["strategy"] = "one_for_one";
        write_file(spec_batch, batch.dump());
    }
    const std::string jobs = fmt::format("{}", cores);
    std::string lines;
    for (int i = 0; i < n; ++i)
        lines += fmt::format("{}\n", i);
    const std::string input = dir + "/input";
    write_file(input, lines);

    std::vector<Subject> subjects;
    subjects.push_back({"bare fork+execve+waitpid", [&] { return bare_fork_exec(n); }, {}});
    subjects.push_back({"bare same, worker thread", [&] { return bare_fork_exec_thread(n); }, {}});
    subjects.push_back({"bare posix_spawn+waitpid", [&] { return bare_posix_spawn(n); }, {}});
    for (const auto& b : backends()) {
        subjects.push_back({"forkspawn " + b,
                            [&, b] {
                                return timed_command({forkspawn, "run", "--spawn-backend=" + b,
                                                      "--report=none", spec_n});
                            },
                            {}});
        subjects.push_back({"forkspawn " + b + ", one_for_one -j " + jobs,
                            [&, b] {
                                return timed_command({forkspawn, "run", "--spawn-backend=" + b,
                                                      "--report=none", "-j", jobs, spec_batch});
                            },
                            {}});
        subjects.push_back({"forkspawn " + b + ", 1 actor",
                            [&, b] {
                                return timed_command({forkspawn, "run", "--spawn-backend=" + b,
                                                      "--report=none", spec_1});
                            },
                            {}});
    }
    std::vector<std::string> notes;
    const std::string xargs = find_program("xargs");
    const std::string parallel = find_program("parallel");
    const std::string xargs_name = fmt::format("xargs -P {}", cores);
    const std::string parallel_name = fmt::format("GNU parallel -j {}", cores);
    if (!xargs.empty())
        subjects.push_back({xargs_name,
                            [&] {
                                return timed_command(
                                    {xargs, "-P", fmt::format("{}", cores), "-n", "1", "/bin/true"},
                                    input);
                            },
                            {}});
    else
        notes.push_back("xargs not found: peer skipped");
    if (!parallel.empty())
        subjects.push_back({parallel_name,
                            [&] {
                                return timed_command({parallel, "--will-cite", "-j",
                                                      fmt::format("{}", cores), "/bin/true"},
                                                     input);
                            },
                            {}});
    else
        notes.push_back("GNU parallel not found (Debian package `parallel`): peer skipped");
    // GNU parallel (perl) takes seconds for 1000 jobs: at most 3 repetitions of it.
    if (!parallel.empty()) subjects.back().max_reps = 3;

    bare_posix_spawn(n / 4); // warm-up: page cache, dynamic loader
    for (int r = 0; r < reps; ++r)
        for (auto& s : subjects) {
            if (s.broken || static_cast<int>(s.ms.size()) >= s.max_reps) continue;
            if (const double ms = s.run(); ms >= 0)
                s.ms.push_back(ms);
            else
                s.broken = true;
        }

    std::map<std::string, Stats> st;
    for (const auto& s : subjects)
        st[s.name] = stats(s.ms);
    // Which bare loop each backend does the same work as.
    const std::map<std::string, std::string> matching{
        {"subint_forkserver", "bare same, worker thread"},
        {"trio", "bare posix_spawn+waitpid"},
        {"mp_forkserver", "bare fork+execve+waitpid"}};

    const std::string section = "1 spawn throughput";
    fmt::print("spawn throughput: {} actors of /bin/true, flat tree, spawned and reaped; "
               "forkspawn = whole run of the binary (its own fork/exec and start-up included); "
               "median of {} runs\n",
               n, reps);
    fmt::print("{:<44} {:>10} {:>19} {:>10}  {:<26} {:>7}  {}\n", "subject", "total ms",
               "spread ms", "ms/actor", "baseline (same run)", "ratio", "target");
    auto line = [&](const std::string& name, const std::string& base, const std::string& target,
                    std::optional<bool> met) {
        const Stats& s = st[name];
        if (s.n == 0) {
            fmt::print("{:<44} every run failed\n", name);
            record({section, name, s, "ms", base, 0, target, "no data", "every run failed"});
            return;
        }
        const double ratio = base.empty() || st[base].n == 0 ? 0 : s.median / st[base].median;
        fmt::print("{:<44} {:>10.1f} {:>19} {:>10}  {:<26} {:>7}  {}\n", name, s.median,
                   spread(s, 1),
                   name.ends_with(", 1 actor") ? "-" : fmt::format("{:.3f}", s.median / n),
                   base.empty() ? "-" : base, ratio > 0 ? fmt::format("{:.2f}x", ratio) : "-",
                   target.empty() ? "" : fmt::format("{} {}", target, met ? verdict(*met) : ""));
        const bool one = name.ends_with(", 1 actor");
        record({section, name, s, "ms", base, ratio, target, met ? verdict(*met) : std::string(),
                one ? "the fixed part of a run" : fmt::format("{:.3f} ms/actor", s.median / n)});
    };
    for (const char* bare :
         {"bare fork+execve+waitpid", "bare same, worker thread", "bare posix_spawn+waitpid"})
        line(bare,
             bare == std::string("bare fork+execve+waitpid") ? "" : "bare fork+execve+waitpid", "",
             std::nullopt);
    for (const auto& b : backends()) {
        const std::string name = "forkspawn " + b;
        const std::string& base = matching.at(b);
        const bool have = st[name].n > 0 && st[base].n > 0;
        line(name, base, "<= 1.10x",
             have ? std::optional<bool>(st[name].median <= 1.10 * st[base].median) : std::nullopt);
        line(name + ", 1 actor", "", "", std::nullopt);
        line(name + ", one_for_one -j " + jobs, base, "", std::nullopt);
    }
    for (const auto& peer : {xargs_name, parallel_name}) {
        if (st.count(peer) == 0) continue;
        line(peer, "bare posix_spawn+waitpid", "", std::nullopt);
        for (const auto& b : backends()) {
            const std::string name = "forkspawn " + b;
            if (st[name].n == 0 || st[peer].n == 0) continue;
            const double ratio = st[name].median / st[peer].median;
            fmt::print("{:<44} {:>10} {:>19} {:>10}  {:<26} {:>6.2f}x\n", "  " + name, "", "", "",
                       "vs " + peer, ratio);
            record({"7 peer: throughput", name, st[name], "ms", peer, ratio, "", "",
                    fmt::format("{} {:.1f} ms", peer, st[peer].median)});
            // The batch with the same parallelism: faster than the peer.
            const std::string batch = name + ", one_for_one -j " + jobs;
            if (st[batch].n == 0) continue;
            const double batch_ratio = st[batch].median / st[peer].median;
            fmt::print("{:<44} {:>10} {:>19} {:>10}  {:<26} {:>6.2f}x  < 1x {}\n", "  " + batch, "",
                       "", "", "vs " + peer, batch_ratio, verdict(batch_ratio < 1.0));
            record({"7 peer: batch -j", batch, st[batch], "ms", peer, batch_ratio, "< 1x",
                    verdict(batch_ratio < 1.0),
                    fmt::format("{} {:.1f} ms", peer, st[peer].median)});
        }
    }
    for (const auto& note : notes) {
        fmt::print("note: {}\n", note);
        record({"7 peer: throughput", "note", {}, "", "", 0, "", "", note});
    }
    ::unlink(spec_n.c_str());
    ::unlink(spec_1.c_str());
    ::unlink(spec_batch.c_str());
    ::unlink(input.c_str());
    ::rmdir(dir.c_str());
    return 0;
}
