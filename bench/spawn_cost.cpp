// SPDX-License-Identifier: MIT
// Spawn cost vs supervisor size, per backend: the time to spawn and reap N
// actors running /bin/true when the supervising process holds 0, 256 MiB or
// 1 GiB of touched memory. The supervisor runs inside this process (it links
// the core library), so the bench can grow it. Baselines, measured in the
// same run and the same process at the same size: bare loops of
// posix_spawn + waitpid and of fork + execve + waitpid (no supervision).
// fork() copies page tables, so its cost grows with the supervisor; a
// vfork-style spawn (posix_spawn, and every backend's commands) does not.
//
// Peer (--mp-peer=bench/mp_peer.py): Python's multiprocessing with the fork,
// forkserver and spawn start methods, per process, next to the in-process
// figures at 0 MiB.
//
//   forkspawn_bench_spawn_cost [--actors=200] [--reps=3] [--quick]
//                              [--svg=PATH] [--mp-peer=PATH] [--python=PYTHON]
#include "common.hpp"

#include "forkspawn/backend.hpp"
#include "forkspawn/guardian.hpp"
#include "forkspawn/sink.hpp"
#include "forkspawn/spec.hpp"
#include "forkspawn/supervisor.hpp"

#include <cctype>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <thread>

using namespace forkspawn;
using bench::Clock;
using bench::Stats;

namespace {

double forkspawn_run(const spec::Spec& s, const std::string& backend) {
    supervise::Options options;
    options.backend = backend;
    options.format = report::Format::none;
    options.verbosity = 0;
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    Sink report(null), log(null);
    const auto t0 = Clock::now();
    const auto result = supervise::run(s, options, report, log);
    const double ms = bench::ms_between(t0, Clock::now());
    ::close(null);
    return result.exit_code == 0 ? ms : -1;
}

struct Series {
    std::string name;
    std::string colour;
    std::map<std::size_t, Stats> by_mib; // ms per actor
};

std::string svg_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '<')
            out += "&lt;";
        else if (c == '>')
            out += "&gt;";
        else if (c == '&')
            out += "&amp;";
        else
            out += c;
    }
    return out;
}

// A plain SVG line chart: x = supervisor memory (MiB, linear), y = ms per
// actor (log scale), one line per series with min..max whiskers.
std::string chart(const std::vector<Series>& series, const std::vector<std::size_t>& sizes,
                  const std::string& subtitle) {
    const double W = 760, H = 460, left = 70, right = 210, top = 56, bottom = 56;
    const double pw = W - left - right, ph = H - top - bottom;
    double lo = 1e9, hi = 0;
    for (const auto& s : series)
        for (const auto& [mib, st] : s.by_mib)
            if (st.n > 0) {
                lo = std::min(lo, st.min);
                hi = std::max(hi, st.max);
            }
    if (hi <= 0) return "";
    const double ylo = std::pow(10, std::floor(std::log10(lo))),
                 yhi = std::pow(10, std::ceil(std::log10(hi)));
    const double xmax = static_cast<double>(sizes.back());
    auto X = [&](double mib) { return left + pw * mib / xmax; };
    auto Y = [&](double ms) {
        return top +
               ph * (1 - (std::log10(ms) - std::log10(ylo)) / (std::log10(yhi) - std::log10(ylo)));
    };
    std::string o = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
        "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n"
        "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
        "<text x=\"{2}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">forkspawn: spawn cost vs "
        "supervisor size, per backend</text>\n"
        "<text x=\"{2}\" y=\"40\" fill=\"#555\">{3}</text>\n",
        W, H, left, svg_escape(subtitle));
    // Grid and axes: decades and 2, 5 within them.
    for (double d = ylo; d <= yhi * 1.001; d *= 10)
        for (double m : {1.0, 2.0, 5.0}) {
            const double v = d * m;
            if (v > yhi * 1.001) break;
            o += fmt::format(
                "<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\"/>\n", left,
                left + pw, Y(v), Y(v), m == 1.0 ? "#bbb" : "#eee");
            o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n",
                             left - 6, Y(v) + 4, v);
        }
    for (std::size_t mib : sizes) {
        const double x = X(static_cast<double>(mib));
        o += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" "
                         "stroke=\"#eee\"/>\n<text x=\"{0:.1f}\" y=\"{3}\" "
                         "text-anchor=\"middle\">{4} MiB</text>\n",
                         x, top, top + ph, top + ph + 18, mib);
    }
    o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
                     "stroke=\"#333\"/>\n",
                     left, top, pw, ph);
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">memory held by the "
                     "supervising process (touched, anonymous)</text>\n",
                     left + pw / 2, H - 12);
    o += fmt::format("<text transform=\"translate(18 {}) rotate(-90)\" text-anchor=\"middle\">ms "
                     "per actor spawned and reaped (log scale)</text>\n",
                     top + ph / 2);
    double ly = top + 8;
    for (const auto& s : series) {
        std::string points;
        for (const auto& [mib, st] : s.by_mib) {
            if (st.n == 0) continue;
            const double x = X(static_cast<double>(mib));
            points += fmt::format("{:.1f},{:.1f} ", x, Y(st.median));
            o += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\" "
                             "stroke=\"{3}\" stroke-width=\"1.5\"/>\n",
                             x, Y(st.min), Y(st.max), s.colour);
            o += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"><title>{} "
                             "at {} MiB: median {:.3f} ms ({:.3f}..{:.3f})</title></circle>\n",
                             x, Y(st.median), s.colour, svg_escape(s.name), mib, st.median, st.min,
                             st.max);
        }
        o += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" "
                         "stroke-width=\"2\"/>\n",
                         points, s.colour);
        o += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" "
                         "stroke-width=\"3\"/>\n<text x=\"{4}\" y=\"{5:.1f}\">{6}</text>\n",
                         left + pw + 14, left + pw + 34, ly, s.colour, left + pw + 40, ly + 4,
                         svg_escape(s.name));
        ly += 20;
    }
    o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" fill=\"#555\">whiskers: min..max</text>\n",
                     left + pw + 14, ly + 6);
    o += "</svg>\n";
    return o;
}

std::string machine() {
    utsname u{};
    ::uname(&u);
    return fmt::format("{} cores, Linux {}", std::thread::hardware_concurrency(), u.release);
}

// Runs the Python multiprocessing peer; its stdout is one JSON object per
// start method: {"method", "n", "ms_per_process": [...]}.
std::vector<nlohmann::json> run_mp_peer(const std::string& python, const std::string& script,
                                        bool quick) {
    std::vector<nlohmann::json> out;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) return out;
    const pid_t pid = bench::start({python, script, quick ? "--quick" : "--full"}, fds[1], 2);
    ::close(fds[1]);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
        text.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    if (pid < 0 || !bench::exited_with(bench::wait_exit(pid, std::chrono::seconds(120)), 0))
        return out;
    std::size_t at = 0;
    while (at < text.size()) {
        const auto nl = text.find('\n', at);
        const auto j = nlohmann::json::parse(text.substr(at, nl - at), nullptr, false);
        if (j.is_object()) out.push_back(j);
        if (nl == std::string::npos) break;
        at = nl + 1;
    }
    return out;
}

} // namespace

int main(int argc, char** argv) {
    // The mp_forkserver backend re-executes /proc/self/exe: this program.
    if (argc == 2 && std::strcmp(argv[1], "__mp_forkserver") == 0) backend::mp_forkserver_main();
    // So does the guardian of each supervisor this program runs.
    if (argc == 3 && std::strcmp(argv[1], "__guardian") == 0)
        return supervise::guardian_main(argv[2]);
    const bool quick = bench::quick(argc, argv);
    // Also the older positional form: [actors] [repetitions].
    auto positional = [&](int i, const char* fallback) -> std::string {
        return argc > i && std::isdigit(static_cast<unsigned char>(argv[i][0])) ? argv[i]
                                                                                : fallback;
    };
    const int n =
        std::stoi(bench::option(argc, argv, "actors", positional(1, quick ? "100" : "200")));
    const int reps = std::stoi(bench::option(argc, argv, "reps", positional(2, quick ? "2" : "3")));
    const std::string svg = bench::option(argc, argv, "svg", "");
    const std::string mp_peer = bench::option(argc, argv, "mp-peer", "");
    const std::string python = bench::option(argc, argv, "python", "python3");
    supervise::block_supervised_signals();
    nlohmann::json actors = nlohmann::json::array();
    for (int i = 0; i < n; ++i)
        actors.push_back(
            {{"name", fmt::format("t{}", i)}, {"cmd", {"/bin/true"}}, {"output", "null"}});
    const auto parsed = spec::parse(nlohmann::json{{"actors", actors}}.dump());
    const spec::Spec& s = *parsed.spec;

    const std::vector<std::size_t> sizes{0, 256, 1024};
    std::vector<Series> series{{"bare posix_spawn", "#888888", {}},
                               {"bare fork+execve", "#444444", {}},
                               {"subint_forkserver", "#d62728", {}},
                               {"trio", "#1f77b4", {}},
                               {"mp_forkserver", "#2ca02c", {}}};
    fmt::print("spawn cost vs supervisor size: spawn + reap {} actors of /bin/true inside this "
               "process; ms per actor, median of {} runs (spread); ratio to bare posix_spawn at "
               "the same size\n",
               n, reps);
    fmt::print("{:>9}  {:<19} {:>9} {:>15} {:>8}\n", "memory", "subject", "ms/actor", "spread",
               "ratio");
    bench::bare_posix_spawn(n); // warm-up: page cache, dynamic loader
    std::size_t held_mib = 0;
    for (std::size_t mib : sizes) {
        // Grow the supervisor: touched anonymous memory, as a big process has.
        const std::size_t add = (mib - held_mib) << 20;
        if (add > 0) {
            void* p =
                ::mmap(nullptr, add, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) {
                fmt::print("{:>6} MiB  mmap failed: stopping here\n", mib);
                break;
            }
            std::memset(p, 1, add);
            held_mib = mib;
        }
        std::vector<std::vector<double>> per(series.size());
        for (int r = 0; r < reps; ++r) { // interleaved: drift hits every subject alike
            per[0].push_back(bench::bare_posix_spawn(n) / n);
            per[1].push_back(bench::bare_fork_exec(n) / n);
            for (std::size_t b = 2; b < series.size(); ++b)
                if (const double ms = forkspawn_run(s, series[b].name); ms >= 0)
                    per[b].push_back(ms / n);
        }
        const Stats base = bench::stats(per[0]);
        for (std::size_t b = 0; b < series.size(); ++b) {
            const Stats st = bench::stats(per[b]);
            series[b].by_mib[mib] = st;
            if (st.n == 0) {
                fmt::print("{:>6} MiB  {:<19} every run failed\n", mib, series[b].name);
                continue;
            }
            const double ratio = b == 0 ? 0 : st.median / base.median;
            fmt::print("{:>6} MiB  {:<19} {:>9.3f} {:>15} {:>8}\n", mib, series[b].name, st.median,
                       bench::spread(st, 3), b == 0 ? "-" : fmt::format("{:.2f}x", ratio));
            bench::record({"6 spawn cost vs size", fmt::format("{} @ {} MiB", series[b].name, mib),
                           st, "ms/actor",
                           b == 0 ? "" : fmt::format("bare posix_spawn @ {} MiB", mib), ratio, "",
                           "", ""});
        }
    }
    // The expected shape: the bare fork grows with the supervisor; every
    // backend starts commands with a vfork-style clone (or from a small
    // server) and stays flat.
    for (std::size_t b = 1; b < series.size(); ++b) {
        const auto& m = series[b].by_mib;
        if (!m.count(0) || !m.count(held_mib) || m.at(0).n == 0 || m.at(held_mib).n == 0) continue;
        const double growth = m.at(held_mib).median / m.at(0).median;
        const bool forks = series[b].name == "bare fork+execve";
        const bool as_expected = forks ? growth > 2 : growth <= 1.5;
        fmt::print("{:<19} {} MiB vs 0 MiB: {:.2f}x (expected to {}: {})\n", series[b].name,
                   held_mib, growth, forks ? "grow" : "stay flat", as_expected ? "yes" : "NO");
        bench::record({"6 spawn cost vs size",
                       fmt::format("{}: {} MiB vs 0 MiB", series[b].name, held_mib), m.at(held_mib),
                       "ms/actor", "same backend @ 0 MiB", growth,
                       forks ? "grows" : "flat (<= 1.5x)", bench::verdict(as_expected), ""});
    }
    if (!svg.empty()) {
        const std::string text =
            chart(series, sizes,
                  fmt::format("{} actors of /bin/true, median of {} runs; {}", n, reps, machine()));
        if (!text.empty() && bench::write_file(svg, text)) fmt::print("chart: {}\n", svg);
    }
    if (!mp_peer.empty()) {
        // At 0 MiB (the peer is a small Python process): per process spawned and joined.
        const auto peers = run_mp_peer(python, mp_peer, quick);
        if (peers.empty()) {
            fmt::print("note: Python multiprocessing peer unavailable ({} {}): skipped\n", python,
                       mp_peer);
            bench::record({"7 peer: spawn latency",
                           "note",
                           {},
                           "",
                           "",
                           0,
                           "",
                           "",
                           "python3 multiprocessing unavailable: skipped"});
        } else {
            fmt::print("peer: Python multiprocessing, start N processes (a no-op target), join "
                       "them; ms per process; forkspawn (in-process, 0 MiB) / peer\n");
            for (const auto& p : peers) {
                std::vector<double> v = p.value("ms_per_process", std::vector<double>{});
                const Stats st = bench::stats(v);
                const std::string method = p.value("method", "?");
                std::string ratios;
                for (std::size_t b = 2; b < series.size(); ++b) {
                    const Stats& f = series[b].by_mib[0];
                    if (f.n == 0 || st.n == 0) continue;
                    ratios += fmt::format("  {} {:.2f}x", series[b].name, f.median / st.median);
                    bench::record({"7 peer: spawn latency",
                                   fmt::format("forkspawn {} (in-process)", series[b].name), f,
                                   "ms/actor", fmt::format("python mp {}", method),
                                   f.median / st.median, "", "",
                                   fmt::format("python mp {} {:.3f} ms/process (n={})", method,
                                               st.median, p.value("n", 0))});
                }
                fmt::print("  {:<11} n={:<4} {:>8.3f} ms ({}) {}\n", method, p.value("n", 0),
                           st.median, bench::spread(st, 3), ratios);
            }
        }
    }
    return 0;
}
