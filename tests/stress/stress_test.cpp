// SPDX-License-Identifier: MIT
// Cancel and hard-kill stress: random trees torn down at random moments, on
// the real binary, once per backend.
//
// A case is one seed. The seed builds a tree (width, depth, daemons, timeouts
// and actors that exit 0, fail (some restarted under a one_for_one nursery
// until its intensity gives up), cannot be spawned, ignore SIGTERM or every
// signal, stop themselves with SIGSTOP, fork grandchildren, leave their
// group or session, leave a fork bomb of constant size running when they
// exit, run a forkspawn of their own, flood output with or without
// newlines, close their stdio, exit between stop signals) and a plan: let it
// end on its own, a --timeout, SIGINT/SIGTERM/SIGHUP, a second SIGINT
// during the escalation, SIGKILL of forkspawn itself, or SIGKILL of its
// guardian and then of forkspawn, at a moment taken from forkspawn's own log
// (right away, after the k-th spawn, once a teardown has begun). Timing
// varies from run to run; the checks do not depend on it.
//
// After each case: the report parses and lists every actor exactly once,
// depth-first in spec order; every outcome is one this actor's behaviour
// allows and agrees with its status, stop record and cancel reason; the
// exit code agrees with the report and the plan; actors that listed their
// fds saw only stdin, stdout and stderr; forkspawn, stopped in its final
// report write, holds no fd but its stdio; nothing tagged survives, no
// zombie is left, the test process leaks no fd.
//
// Replay: every failure names its seed; FORKSPAWN_STRESS_SEED=S runs that
// case again (FORKSPAWN_STRESS_CASES=N runs N cases from S on), e.g.
//   FORKSPAWN_STRESS_SEED=1234 build/tests/forkspawn_stress_tests
//       --spawn-backend=trio -tc='stress: random trees*'
// Races are timing-dependent, so a replay runs the same tree and plan but
// may need a few runs (FORKSPAWN_STRESS_CASES=1 in a shell loop) to hit
// the same interleaving.
#include "../integration/harness.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <doctest/doctest.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <poll.h>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <vector>

using namespace forkspawn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// ---- behaviours -----------------------------------------------------------

enum class Kind {
    ok,                // exit 0
    ok_slow,           // exit 0 after a few tens of ms
    fail,              // exit 3
    fail_slow,         // exit 3 after a few tens of ms
    spawn_fail,        // a program that does not exist
    sleeper,           // runs until stopped
    ignore_term,       // SIGTERM ignored
    ignore_all,        // every catchable signal ignored
    stopper,           // SIGSTOPs itself (exits 0 if ever continued without a signal)
    group_stopper,     // SIGSTOPs its whole group, a child included
    grandkids,         // two children in its group; waits for them
    grandkid_left,     // a child in its group outlives it; it exits 0
    escapee,           // a double-forked child in a session of its own; it exits 0
    pg_escapee,        // a child in a process group of its own; it exits 0
    flood_lines,       // 200 KB in lines, then exit 0
    flood_nonl,        // 200 KB without a newline, then exit 0
    flood_forever,     // lines until stopped
    closer_ok,         // closes stdout and stderr, exits 0 a bit later
    closer_forever,    // closes stdout and stderr, runs until stopped
    fd_probe,          // lists its open fds (ls -l /proc/self/fd), exit 0
    exit_on_term,      // exits 0 on SIGTERM
    slow_exit_on_term, // exits 5, 200 ms after SIGTERM
    runners,           // three chains in sessions of their own, each process
                       // forking its successor and exiting every 2 ms (a
                       // fork bomb of constant size); it exits 0
    nested,            // another forkspawn whose tree (a sleeper, a setsid
                       // daemon) runs until it is cancelled
    nursery,
};

constexpr Kind k_command_kinds[] = {Kind::ok,
                                    Kind::ok_slow,
                                    Kind::fail,
                                    Kind::fail_slow,
                                    Kind::spawn_fail,
                                    Kind::sleeper,
                                    Kind::ignore_term,
                                    Kind::ignore_all,
                                    Kind::stopper,
                                    Kind::group_stopper,
                                    Kind::grandkids,
                                    Kind::grandkid_left,
                                    Kind::escapee,
                                    Kind::pg_escapee,
                                    Kind::flood_lines,
                                    Kind::flood_nonl,
                                    Kind::flood_forever,
                                    Kind::closer_ok,
                                    Kind::closer_forever,
                                    Kind::fd_probe,
                                    Kind::exit_on_term,
                                    Kind::slow_exit_on_term,
                                    Kind::runners,
                                    Kind::nested};

// Weights: ordinary actors are common, each hostile one less so.
int weight(Kind k) {
    switch (k) {
    case Kind::ok:
    case Kind::ok_slow:
    case Kind::sleeper:
        return 6;
    case Kind::fail:
    case Kind::fail_slow:
    case Kind::fd_probe:
        return 3;
    case Kind::runners:
    case Kind::nested:
        return 1;
    default:
        return 2;
    }
}

const char* kind_name(Kind k) {
    switch (k) {
    case Kind::ok:
        return "ok";
    case Kind::ok_slow:
        return "okslow";
    case Kind::fail:
        return "fail";
    case Kind::fail_slow:
        return "failslow";
    case Kind::spawn_fail:
        return "nospawn";
    case Kind::sleeper:
        return "sleeper";
    case Kind::ignore_term:
        return "noterm";
    case Kind::ignore_all:
        return "deaf";
    case Kind::stopper:
        return "stopper";
    case Kind::group_stopper:
        return "gstopper";
    case Kind::grandkids:
        return "gkids";
    case Kind::grandkid_left:
        return "gkidleft";
    case Kind::escapee:
        return "escapee";
    case Kind::pg_escapee:
        return "pgescapee";
    case Kind::flood_lines:
        return "flood";
    case Kind::flood_nonl:
        return "floodnonl";
    case Kind::flood_forever:
        return "yes";
    case Kind::closer_ok:
        return "closer";
    case Kind::closer_forever:
        return "closerfor";
    case Kind::fd_probe:
        return "fdprobe";
    case Kind::exit_on_term:
        return "termexit";
    case Kind::slow_exit_on_term:
        return "termslow";
    case Kind::runners:
        return "runners";
    case Kind::nested:
        return "nested";
    case Kind::nursery:
        return "n";
    }
    return "?";
}

std::string ignore_everything() {
    std::string trap = "trap ''";
    for (int signo = 1; signo <= 64; ++signo)
        if (signo != SIGKILL && signo != SIGSTOP) trap += " " + std::to_string(signo);
    return trap + "; ";
}

// The spec a nested forkspawn runs: written once per test process.
std::string inner_spec_path() {
    static const std::string path = [] {
        const std::string p = (std::filesystem::temp_directory_path() /
                               fmt::format("forkspawn-stress-inner-{}.json", ::getpid()))
                                  .string();
        std::ofstream(p) << json{{"actors",
                                  {{{"name", "s"}, {"cmd", {"sleep", "100"}}},
                                   {{"name", "d"},
                                    {"cmd", {"sh", "-c", "setsid sleep 100 & wait"}}}}}}
                                .dump();
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove(inner_spec_path(), ec);
        });
        return p;
    }();
    return path;
}

std::vector<std::string> argv_of(Kind k, int ms) {
    const auto sh = [](const std::string& script) {
        return std::vector<std::string>{"sh", "-c", script};
    };
    const std::string pause = fmt::format("sleep 0.{:03d}; ", ms);
    switch (k) {
    case Kind::ok:
        return sh("exit 0");
    case Kind::ok_slow:
        return sh(pause + "exit 0");
    case Kind::fail:
        return sh("exit 3");
    case Kind::fail_slow:
        return sh(pause + "exit 3");
    case Kind::spawn_fail:
        return {"/nonexistent/forkspawn-stress-no-such-program"};
    case Kind::sleeper:
        return sh("exec sleep 100");
    case Kind::ignore_term:
        return sh("trap '' TERM; exec sleep 100");
    case Kind::ignore_all:
        return sh(ignore_everything() + "exec sleep 100");
    case Kind::stopper:
        return sh("kill -STOP $$; exit 0");
    case Kind::group_stopper:
        return sh("sleep 100 & kill -STOP 0; wait");
    case Kind::grandkids:
        return sh("sleep 100 & sleep 100 & wait");
    case Kind::grandkid_left:
        return sh("sleep 100 & exit 0");
    case Kind::escapee:
        return sh("( setsid sleep 100 & ); exit 0");
    case Kind::pg_escapee:
        return {"perl", "-e", "if (!fork) { setpgrp(0, 0); exec 'sleep', '100' } exit 0"};
    case Kind::flood_lines:
        return sh("head -c 200000 /dev/zero | tr '\\0' y | fold -w 100");
    case Kind::flood_nonl:
        return sh("head -c 200000 /dev/zero | tr '\\0' z");
    case Kind::flood_forever:
        return sh("exec yes flooding");
    case Kind::closer_ok:
        return sh("exec >&- 2>&-; " + pause + "exit 0");
    case Kind::closer_forever:
        return sh("exec >&- 2>&-; exec sleep 100");
    case Kind::fd_probe:
        return {"ls", "-l", "/proc/self/fd"};
    case Kind::exit_on_term:
        return sh("trap 'exit 0' TERM; while :; do sleep 0.05; done");
    case Kind::slow_exit_on_term:
        return sh("trap 'sleep 0.2; exit 5' TERM; while :; do sleep 0.05; done");
    case Kind::runners:
        return {"perl", "-e",
                "use POSIX; for (1 .. 3) { my $c = fork; next if !defined $c || $c; setsid(); "
                "while (1) { my $p = fork; exit 0 if $p; select(undef, undef, undef, 0.002) } } "
                "exit 0"};
    case Kind::nested:
        return {binary(), "run", "--report=none", inner_spec_path()};
    case Kind::nursery:
        break;
    }
    return {};
}

// Ends on its own (completed or failed), without being cancelled.
bool ends_on_its_own(Kind k) {
    switch (k) {
    case Kind::ok:
    case Kind::ok_slow:
    case Kind::fail:
    case Kind::fail_slow:
    case Kind::spawn_fail:
    case Kind::grandkid_left:
    case Kind::escapee:
    case Kind::pg_escapee:
    case Kind::flood_lines:
    case Kind::flood_nonl:
    case Kind::closer_ok:
    case Kind::fd_probe:
    case Kind::runners:
        return true;
    default:
        return false;
    }
}

bool can_complete(Kind k) {
    return ends_on_its_own(k) && k != Kind::fail && k != Kind::fail_slow && k != Kind::spawn_fail;
}

// ---- the tree ---------------------------------------------------------------

struct Node {
    Kind kind = Kind::nursery;
    std::string name;
    std::string path;
    bool daemon = false;
    std::optional<int> timeout_ms;
    std::optional<json> stop;
    int pause_ms = 0;
    std::vector<Node> children;
    // Restarts (nurseries): one_for_one, and children that fail are
    // restarted until the nursery's intensity gives up.
    bool one_for_one = false;
    bool restart = false; // a failing command restarted on failure (0s backoff)
    // Dependencies: earlier siblings' names and a condition ("started", or
    // "ended" on one that ends on its own).
    std::vector<std::pair<std::string, std::string>> after;

    json spec() const {
        json j = {{"name", name}};
        if (kind == Kind::nursery) {
            j["actors"] = json::array();
            for (const auto& c : children)
                j["actors"].push_back(c.spec());
        } else {
            j["cmd"] = argv_of(kind, pause_ms);
        }
        if (daemon) j["daemon"] = true;
        if (timeout_ms) j["timeout"] = fmt::format("{}ms", *timeout_ms);
        if (stop) j["stop"] = *stop;
        if (one_for_one) {
            j["strategy"] = "one_for_one";
            j["intensity"] = "2/1m";
        }
        if (restart) {
            j["restart"] = "on_failure";
            j["backoff"] = "0s";
        }
        if (!after.empty()) {
            j["after"] = json::object();
            for (const auto& [sibling, condition] : after)
                j["after"][sibling] = condition;
        }
        return j;
    }

    bool restarts_children() const {
        return std::any_of(children.begin(), children.end(),
                           [](const Node& c) { return c.restart; });
    }

    // Ends without a cancel from outside (maybe by its own timeout).
    bool finishes() const {
        if (timeout_ms) return true;
        if (kind != Kind::nursery) return ends_on_its_own(kind);
        bool any_work = false;
        for (const auto& c : children) {
            if (c.daemon) continue;
            any_work = true;
            if (!c.finishes()) return false;
        }
        return any_work; // a nursery of daemons runs until cancelled
    }
};

void walk(const Node& n, const std::function<void(const Node&)>& f) {
    f(n);
    for (const auto& c : n.children)
        walk(c, f);
}

struct Gen {
    std::mt19937_64 rng;
    int budget = 0;

    int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
    bool chance(double p) { return std::bernoulli_distribution(p)(rng); }

    Kind command_kind() {
        int total = 0;
        for (Kind k : k_command_kinds)
            total += weight(k);
        int pick = uniform(0, total - 1);
        for (Kind k : k_command_kinds) {
            pick -= weight(k);
            if (pick < 0) return k;
        }
        return Kind::ok;
    }

    json random_stop() {
        switch (uniform(0, 3)) {
        case 0:
            return {"SIGTERM", "50ms", "SIGKILL"};
        case 1:
            return {"SIGTERM", "250ms", "SIGKILL"};
        case 2:
            return {"SIGUSR1", "50ms", "SIGTERM", "100ms", "SIGKILL"};
        default:
            return {"SIGINT", "100ms", "SIGKILL"};
        }
    }

    Node actor(int depth, int max_depth, std::size_t index) {
        Node n;
        --budget;
        const bool nest = depth < max_depth && budget > 3 && chance(0.25);
        n.kind = nest ? Kind::nursery : command_kind();
        n.pause_ms = uniform(5, 80);
        if (chance(0.15)) n.daemon = true;
        if (chance(0.08)) n.timeout_ms = uniform(100, 600);
        if (chance(0.1)) n.stop = random_stop();
        n.name = fmt::format("{}{}", kind_name(n.kind), index);
        if (nest) {
            const int width = uniform(1, 5);
            for (int i = 0; i < width && budget > 0; ++i)
                n.children.push_back(actor(depth + 1, max_depth, static_cast<std::size_t>(i)));
        }
        return n;
    }

    Node tree() {
        budget = uniform(4, 36);
        const int max_depth = uniform(0, 3);
        Node root;
        root.name = "root";
        const int width = uniform(1, 8);
        for (int i = 0; i < width && budget > 0; ++i)
            root.children.push_back(actor(1, max_depth, static_cast<std::size_t>(i)));
        return root;
    }
};

void set_paths(Node& n, const std::string& parent) {
    n.path = parent.empty() ? n.name : parent + "/" + n.name;
    for (auto& c : n.children)
        set_paths(c, n.path);
}

// The report must be longer than forkspawn's stdout pipe (4 KiB, see
// check_supervisor_fds): a small tree gets filler daemons (exit 0 at once,
// never a failure, never a block), and names are padded.
void pad_tree(Node& root) {
    std::size_t actors = 0;
    walk(root, [&](const Node&) { ++actors; });
    for (std::size_t i = actors; i < 13; ++i) {
        Node filler;
        filler.kind = Kind::ok;
        filler.daemon = true;
        filler.name = fmt::format("filler{}", i);
        root.children.push_back(filler);
    }
    const std::function<void(Node&)> pad = [&](Node& n) {
        for (auto& c : n.children) {
            c.name += "_" + std::string(std::max<std::size_t>(8, 80 - c.name.size()), 'p');
            pad(c);
        }
    };
    if (actors < 40) pad(root);
}

// ---- the plan -----------------------------------------------------------------

// guardian_kill: the guardian is SIGKILLed, then, once forkspawn has
// started a new one, forkspawn itself.
enum class Plan { none, tree_timeout, signal, second_sigint, hard_kill, guardian_kill };
enum class Moment { start, after_spawns, teardown };

struct Case {
    std::uint64_t seed = 0;
    Node root;
    json root_stop;
    Plan plan = Plan::none;
    Moment moment = Moment::start;
    int signo = 0;
    int spawns_before = 0; // Moment::after_spawns: act after this many spawns
    int tree_timeout_ms = 0;

    std::string describe() const {
        const char* plans[] = {"none",    "--timeout",
                               "signal",  "second SIGINT",
                               "kill -9", "kill -9 of the guardian, then of forkspawn"};
        const char* moments[] = {"at once", "after spawns", "in a teardown"};
        return fmt::format("plan {} {} (signal {}, after {} spawns, timeout {}ms), root stop {}",
                           plans[static_cast<int>(plan)], moments[static_cast<int>(moment)], signo,
                           spawns_before, tree_timeout_ms, root_stop.dump());
    }
};

// Some nurseries become one_for_one, and some of their failing children are
// restarted. From a generator of its own, so that a seed still builds the
// tree it built before restarts existed.
void add_restarts(Node& root, std::uint64_t seed) {
    Gen g{std::mt19937_64(seed ^ 0x5e57a27ULL)};
    const std::function<void(Node&)> visit = [&](Node& n) {
        if (n.kind != Kind::nursery) return;
        if (g.chance(0.5)) {
            n.one_for_one = true;
            for (auto& c : n.children)
                if ((c.kind == Kind::fail || c.kind == Kind::fail_slow) && g.chance(0.9))
                    c.restart = true;
        }
        for (auto& c : n.children)
            visit(c);
    };
    visit(root);
}

// Some children wait for earlier siblings: to be started, or to have
// ended when they end on their own (a daemon that only a cancel ends would
// hold its dependent, and the nursery, for ever). From a generator of its
// own, like add_restarts. Stops then go in reverse dependency order.
void add_dependencies(Node& root, std::uint64_t seed) {
    Gen g{std::mt19937_64(seed ^ 0xa4f7e2ULL)};
    const std::function<void(Node&)> visit = [&](Node& n) {
        if (n.kind != Kind::nursery) return;
        for (std::size_t i = 1; i < n.children.size(); ++i) {
            if (!g.chance(0.3)) continue;
            const Node& d =
                n.children[static_cast<std::size_t>(g.uniform(0, static_cast<int>(i) - 1))];
            const bool ends = !d.daemon && d.finishes();
            n.children[i].after.emplace_back(d.name, ends && g.chance(0.5) ? "ended" : "started");
        }
        for (auto& c : n.children)
            visit(c);
    };
    visit(root);
}

Case make_case(std::uint64_t seed) {
    Case c;
    c.seed = seed;
    Gen g{std::mt19937_64(seed)};
    c.root = g.tree();
    add_restarts(c.root, seed);
    pad_tree(c.root);
    add_dependencies(c.root, seed);
    set_paths(c.root, "");
    std::size_t actors = 0;
    bool root_failure = false; // a root child that will fail if it starts
    for (const auto& a : c.root.children) {
        if (a.kind == Kind::fail || a.kind == Kind::fail_slow || a.kind == Kind::spawn_fail ||
            (a.timeout_ms && a.kind != Kind::nursery && !ends_on_its_own(a.kind)))
            root_failure = true;
    }
    walk(c.root, [&](const Node&) { ++actors; });
    c.root_stop = g.random_stop();
    // The plan and moment follow the seed, so any six consecutive seeds
    // cover every plan (and eighteen every plan at every moment).
    const Plan plans[] = {Plan::none,          Plan::tree_timeout, Plan::signal,
                          Plan::second_sigint, Plan::hard_kill,    Plan::guardian_kill};
    c.plan = plans[seed % 6];
    // FORKSPAWN_STRESS_PLAN=none|timeout|signal|second_sigint|kill|guardian:
    // every case with this plan (to hunt one kind of failure).
    if (const char* only = std::getenv("FORKSPAWN_STRESS_PLAN")) {
        const std::map<std::string, Plan> plans = {
            {"none", Plan::none},      {"timeout", Plan::tree_timeout},
            {"signal", Plan::signal},  {"second_sigint", Plan::second_sigint},
            {"kill", Plan::hard_kill}, {"guardian", Plan::guardian_kill}};
        if (plans.count(only)) c.plan = plans.at(only);
    }
    if (c.plan == Plan::none && !c.root.finishes()) c.plan = Plan::tree_timeout;
    if (c.plan == Plan::tree_timeout) c.tree_timeout_ms = g.uniform(50, 800);
    if (c.plan == Plan::signal) {
        const int signals[] = {SIGINT, SIGTERM, SIGHUP};
        c.signo = signals[g.uniform(0, 2)];
    }
    if (c.plan == Plan::second_sigint) {
        c.signo = SIGINT;
        // A long grace: the second SIGINT must cut it short.
        c.root_stop = {"SIGTERM", "30s", "SIGKILL"};
    }
    const Moment moments[] = {Moment::start, Moment::after_spawns, Moment::teardown};
    c.moment = moments[seed / 6 % 3];
    if (c.moment == Moment::teardown && !root_failure) c.moment = Moment::after_spawns;
    c.spawns_before = g.uniform(1, static_cast<int>(actors - 1));
    return c;
}

// ---- checking -------------------------------------------------------------------

std::size_t count(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t pos = 0; (pos = haystack.find(needle, pos)) != std::string::npos;
         pos += needle.size())
        ++n;
    return n;
}

std::string signal_name_of(int signo) {
    switch (signo) {
    case SIGINT:
        return "SIGINT";
    case SIGTERM:
        return "SIGTERM";
    case SIGHUP:
        return "SIGHUP";
    default:
        return "SIG" + std::to_string(signo);
    }
}

bool in(const std::string& value, std::initializer_list<const char*> set) {
    for (const char* s : set)
        if (value == s) return true;
    return false;
}

// The fds forkspawn holds while it writes its report: its supervisor and
// every actor are gone, so only its stdio may be left.
void check_supervisor_fds(const Process& p) {
    const std::string leaked = fds_beyond_stdio(p.pid(), p.inherited_fds());
    INFO("fds forkspawn still holds after its teardown:", leaked);
    CHECK(leaked.empty());
}

// fd_probe actors list their fds with ls -l /proc/self/fd: 0, 1, 2, and the
// directory ls itself opened, nothing else.
void check_probe_output(const std::string& err, const std::string& path) {
    const std::string prefix = path + " | ";
    const std::regex fd_line(R"(.* (\d+) -> (.*)$)");
    int listed = 0;
    for (const auto& line : lines(err)) {
        if (line.rfind(prefix, 0) != 0) continue;
        std::smatch m;
        const std::string rest = line.substr(prefix.size());
        if (!std::regex_match(rest, m, fd_line)) continue;
        const int fd = std::stoi(m[1]);
        const std::string target = m[2];
        INFO(path, " holds fd ", fd, " -> ", target);
        CHECK((fd <= 2 || std::regex_match(target, std::regex(R"(/proc/\d+/fd)"))));
        ++listed;
    }
    INFO(path);
    CHECK(listed >= 3);
}

// What the cases covered, printed at the end: a pass that never reached
// some outcome or exit code shows it.
struct Checked {
    int fd_probes = 0;
    int guardians_replaced = 0; // guardian_kill: forkspawn started a new one
    int restarts = 0;           // restarts reported, all actors
    int waited = 0;             // actors with `after` that started
    int dependency_failed = 0;  // actors left not_started by a dependency
    std::map<std::string, int> outcomes;
    std::map<std::string, int> exits; // "rc=N" or "signal=N"
    double longest_ms = 0;
    std::size_t status_answers = 0; // live trees read from the control socket

    std::string summary() const {
        std::string out =
            fmt::format("{} fd probe(s); {} guardian(s) killed and replaced; {} restart(s); "
                        "{} started after a dependency, {} dependency_failed; {} status answer(s); "
                        "longest case {:.0f}ms; exits:",
                        fd_probes, guardians_replaced, restarts, waited, dependency_failed,
                        status_answers, longest_ms);
        for (const auto& [e, n] : exits)
            out += fmt::format(" {} x{}", e, n);
        out += "; outcomes:";
        for (const auto& [o, n] : outcomes)
            out += fmt::format(" {} x{}", o, n);
        return out;
    }
};

// What an actor inherits from its ancestors: cancel reasons travel down
// the tree with the cancel message.
struct Line {
    bool daemon = false;   // it or an ancestor is a daemon
    bool timeout = false;  // it or an ancestor has a timeout
    bool restarts = false; // its nursery or an ancestor's restarts children (intensity)
    bool after = false;    // it or an ancestor waits for siblings
};

// Checks one actor's entry against its behaviour and the plan.
void check_actor(const json& a, const Node& n, const Line& line, const Case& c,
                 const json& parent_entry) {
    INFO("actor: ", a.dump());
    const std::string outcome = a["outcome"];
    const bool nursery = n.kind == Kind::nursery;
    CHECK(a["kind"] == (nursery ? "nursery" : "cmd"));
    CHECK(a["name"] == n.name);
    CHECK(a["backend"] == backend());
    // Below a sub-supervisor that was SIGKILLed (second SIGINT), or whose
    // own end is unknown for that reason, actors are reported from what the
    // root saw of them.
    const bool parent_lost =
        parent_entry.is_object() &&
        (parent_entry["status"] == "signal=SIGKILL" ||
         parent_entry["cancel_reason"] == "supervisor_killed" ||
         (parent_entry["error"].is_string() && parent_entry["ended_ms"].is_null()));
    if (a["cancel_reason"] == "supervisor_killed" ||
        (a["error"].is_string() && a["error"].get<std::string>().starts_with("unknown:"))) {
        CHECK(c.plan == Plan::second_sigint);
        CHECK(parent_lost);
        CHECK(in(outcome, {"killed", "not_started", "failed", "cancelled", "completed"}));
        return;
    }

    if (outcome == "completed") {
        CHECK((nursery || can_complete(n.kind)));
        CHECK(a["status"] == "rc=0");
        CHECK(a["stop"].is_null());
        CHECK(a["cancel_reason"].is_null());
    } else if (outcome == "failed") {
        if (nursery) {
            CHECK(a["status"] == "rc=1");
        } else {
            CHECK((n.kind == Kind::fail || n.kind == Kind::fail_slow));
            CHECK(a["status"] == "rc=3");
        }
        CHECK(a["stop"].is_null());
    } else if (outcome == "spawn_failed") {
        CHECK(n.kind == Kind::spawn_fail);
        REQUIRE(a["error"].is_string());
        CHECK(a["error"].get<std::string>().find("ENOENT") != std::string::npos);
        CHECK(a["status"].is_null());
    } else if ((outcome == "cancelled" || outcome == "killed") && a["stop"].is_null()) {
        // Cancelled while it waited for a restart: nothing ran to be stopped.
        CHECK(outcome == "cancelled");
        CHECK(n.restart);
        CHECK(a["cancel_reason"].is_string());
        CHECK(a["attempts"].size() == a["restarts"].get<std::size_t>());
    } else if (outcome == "cancelled" || outcome == "killed") {
        CHECK(a["pid"].is_number_integer());
        CHECK(a["cancel_reason"].is_string());
        REQUIRE(a["stop"].is_object());
        CHECK(a["stop"]["sent"].size() >= 1);
        // A nursery is cancelled by message first; only a second SIGINT can
        // kill one outright, when its stop was still held back for its
        // dependents to be reaped first (the stop order).
        if (nursery)
            CHECK((a["stop"]["sent"][0] == "cancel" ||
                   (c.plan == Plan::second_sigint && a["stop"]["sent"][0] == "SIGKILL")));
        if (outcome == "killed") {
            CHECK(a["status"] == "signal=SIGKILL");
            CHECK(a["stop"]["escalated"] == true);
        } else {
            CHECK(a["status"] != "signal=SIGKILL");
        }
    } else if (outcome == "not_started") {
        CHECK(a["pid"].is_null());
        CHECK(a["status"].is_null());
        CHECK(a["cancel_reason"].is_string());
    } else {
        FAIL("unknown outcome");
    }
    // Why it was cancelled must be something that happened in this case.
    if (a["cancel_reason"].is_string()) {
        const std::string reason = a["cancel_reason"];
        if (reason == "timeout")
            CHECK(line.timeout);
        else if (reason == "nursery_done")
            CHECK(line.daemon);
        else if (reason == "tree_timeout")
            CHECK(c.plan == Plan::tree_timeout);
        else if (reason.starts_with("signal:"))
            CHECK((c.plan == Plan::signal || c.plan == Plan::second_sigint));
        else if (reason == "restart_intensity")
            CHECK(line.restarts);
        else if (reason == "dependency_failed")
            CHECK((line.after && outcome == "not_started"));
        else
            CHECK(reason == "sibling_failed");
    }
    // Restarts only of an actor that asks for them; each attempt that ran
    // is listed (the last one too, unless a cancel came while it waited).
    const auto restarts = a["restarts"].get<std::size_t>();
    const auto attempts = a["attempts"].size();
    if (!n.restart) CHECK(restarts == 0);
    CHECK((attempts == restarts || attempts == restarts + 1));
    CHECK(restarts <= 2); // the nursery's intensity: 2/1m
    for (const auto& t : a["attempts"]) {
        if (&t == &a["attempts"].back()) break;
        CHECK(t["outcome"] == "failed"); // only failures are restarted
        CHECK(t["status"] == "rc=3");
    }
}

void check_report(const json& rep, const Case& c, const RunResult& r, Checked& checked) {
    // Every actor exactly once, depth-first in spec order.
    std::vector<std::string> expected, got;
    std::map<std::string, const Node*> nodes;
    std::map<std::string, const Node*> parents;
    std::map<std::string, Line> line_of;
    const std::function<void(const Node&, Line)> collect = [&](const Node& n, Line line) {
        for (const auto& child : n.children) {
            expected.push_back(child.path);
            nodes[child.path] = &child;
            parents[child.path] = &n;
            const Line below{line.daemon || child.daemon, line.timeout || child.timeout_ms,
                             line.restarts || n.restarts_children(),
                             line.after || !child.after.empty()};
            line_of[child.path] = below;
            collect(child, below);
        }
    };
    collect(c.root, Line{});
    std::map<std::string, json> entries;
    for (const auto& a : rep["actors"]) {
        got.push_back(a["path"]);
        entries[a["path"]] = a;
    }
    REQUIRE(got == expected);

    for (const auto& path : expected) {
        const Node* parent = parents[path];
        const json parent_entry = parent == &c.root ? json() : entries[parent->path];
        check_actor(entries[path], *nodes[path], line_of[path], c, parent_entry);
        if (!nodes[path]->after.empty() && entries[path]["pid"].is_number()) ++checked.waited;
        if (entries[path]["cancel_reason"] == "dependency_failed") ++checked.dependency_failed;
        // (Its output is lost if its sub-supervisor was killed first.)
        if (nodes[path]->kind == Kind::fd_probe && entries[path]["outcome"] == "completed" &&
            entries[path]["cancel_reason"].is_null()) {
            check_probe_output(r.err, path);
            ++checked.fd_probes;
        }
    }

    // The exit code: the report's, and one the plan allows, for the reason
    // the report gives.
    const int code = r.exit_code;
    CHECK(rep["exit_code"] == code);
    CHECK(rep["backend"] == backend());
    const std::map<int, std::string> results = {
        {0, "completed"}, {1, "failed"}, {124, "timeout"}, {128 + c.signo, "cancelled"}};
    REQUIRE(results.count(code) == 1);
    CHECK(rep["result"] == results.at(code));
    bool any_failure = false, root_failure = false;
    std::set<std::string> root_reasons;
    for (const auto& path : expected) {
        const json& a = entries[path];
        const bool failure =
            in(a["outcome"], {"failed", "spawn_failed"}) || a["cancel_reason"] == "timeout";
        any_failure |= failure;
        if (parents[path] == &c.root) {
            root_failure |= failure;
            if (a["cancel_reason"].is_string()) root_reasons.insert(a["cancel_reason"]);
        }
    }
    if (code == 0) {
        for (const auto& child : c.root.children) {
            INFO(child.path);
            if (!child.daemon) CHECK(entries[child.path]["outcome"] == "completed");
        }
    }
    if (code == 1) CHECK(any_failure);
    if (c.plan == Plan::none) CHECK(code == (root_failure ? 1 : 0));
    if (code == 124) {
        CHECK(c.plan == Plan::tree_timeout);
        CHECK(root_reasons.count("tree_timeout") == 1);
    }
    if (code == 128 + c.signo && c.signo != 0) {
        CHECK((c.plan == Plan::signal || c.plan == Plan::second_sigint));
        CHECK(root_reasons.count("signal:" + signal_name_of(c.signo)) == 1);
    }
}

// ---- running ---------------------------------------------------------------------

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

// forkspawn's own lines of its stderr (its -v log), without the actors'
// output, which can be megabytes.
std::string log_of(const std::string& err) {
    std::string out;
    for (const auto& line : lines(err))
        if (line.rfind("forkspawn", 0) == 0) out += line + "\n";
    return out;
}

// forkspawn runs (exec'd) and has blocked the signals it handles: from now
// on a signal cancels the tree, before anything was spawned.
bool wait_signals_blocked(pid_t pid) {
    const std::string exe = std::filesystem::canonical(binary()).string();
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until) {
        std::error_code ec;
        const auto running = std::filesystem::read_symlink(fmt::format("/proc/{}/exe", pid), ec);
        std::ifstream status(fmt::format("/proc/{}/status", pid));
        std::uint64_t blocked = 0;
        for (std::string line; std::getline(status, line);)
            if (line.rfind("SigBlk:", 0) == 0) blocked = std::stoull(line.substr(7), nullptr, 16);
        if (!ec && running.string() == exe && (blocked & (1u << (SIGINT - 1))) &&
            (blocked & (1u << (SIGTERM - 1))))
            return true;
        std::this_thread::sleep_for(1ms); // polling a state with a deadline
    }
    return false;
}

// forkspawn's guardian: its child named forkspawn-guard (0: none).
pid_t guardian_of(pid_t forkspawn) {
    std::error_code ec;
    for (const auto& task :
         std::filesystem::directory_iterator(fmt::format("/proc/{}/task", forkspawn), ec)) {
        std::ifstream children(task.path() / "children");
        for (pid_t pid = 0; children >> pid;) {
            std::ifstream comm(fmt::format("/proc/{}/comm", pid));
            std::string name;
            if (std::getline(comm, name) && name == "forkspawn-guard") return pid;
        }
    }
    return 0;
}

// Waits for the plan's moment in forkspawn's stderr (its -v log), never
// reading stdout: false if forkspawn got to its report first.
bool reach_moment(Process& p, const Case& c) {
    switch (c.moment) {
    case Moment::start:
        return wait_signals_blocked(p.pid());
    case Moment::after_spawns:
        return p.read_stderr_until(
            [&](const std::string& err) {
                return count(err, " spawned, pid ") >= static_cast<std::size_t>(c.spawns_before);
            },
            20s);
    case Moment::teardown:
        return p.read_stderr_until(
            [](const std::string& err) { return err.find("; cancelling") != std::string::npos; },
            20s);
    }
    return false;
}

std::size_t spec_actor_count(const json& nursery) {
    std::size_t n = 0;
    if (nursery.contains("actors"))
        for (const auto& a : nursery["actors"])
            n += 1 + spec_actor_count(a);
    return n;
}

// Asks the control socket for the live tree in a loop, on a thread of its
// own, from the moment it is there until forkspawn closes it: every answer
// must be one whole JSON line listing every actor.
class StatusPoller {
  public:
    StatusPoller(std::string path, std::size_t actors)
        : m_path(std::move(path)), m_actors(actors), m_thread([this] { loop(); }) {}
    ~StatusPoller() {
        m_stop = true;
        if (m_thread.joinable()) m_thread.join();
    }
    // After forkspawn exited.
    void check(Checked& checked) {
        m_stop = true;
        if (m_thread.joinable()) m_thread.join();
        INFO("control socket: ", m_problem);
        CHECK(m_problem.empty());
        checked.status_answers += m_answers;
    }

  private:
    std::string m_path;
    std::size_t m_actors;
    std::atomic<bool> m_stop{false};
    std::string m_problem; // the first, written by the thread only
    std::size_t m_answers = 0;
    std::thread m_thread;

    void loop() {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        m_path.copy(addr.sun_path, sizeof addr.sun_path - 1);
        int fd = -1;
        while (!m_stop && fd < 0) { // until forkspawn has bound it
            fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
                ::close(fd);
                fd = -1;
                std::this_thread::sleep_for(5ms); // polling until it exists
            }
        }
        std::string buf;
        const std::string ask = "{\"cmd\": \"status\"}\n";
        while (!m_stop && fd >= 0 && m_problem.empty()) {
            if (::send(fd, ask.data(), ask.size(), MSG_NOSIGNAL) < 0) break; // it closed
            std::size_t nl;
            bool eof = false;
            while ((nl = buf.find('\n')) == std::string::npos) {
                pollfd pf{fd, POLLIN, 0};
                if (m_stop) break;
                if (::poll(&pf, 1, 100) <= 0) continue;
                char chunk[65536];
                const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
                if (n <= 0) {
                    eof = true;
                    break;
                }
                buf.append(chunk, static_cast<std::size_t>(n));
            }
            if (eof || nl == std::string::npos) break;
            const json reply = json::parse(buf.substr(0, nl), nullptr, false);
            buf.erase(0, nl + 1);
            if (!reply.is_object() || reply.value("ok", false) != true ||
                !reply["actors"].is_array() || reply["actors"].size() != m_actors)
                m_problem = "a bad status answer: " + reply.dump().substr(0, 500);
            ++m_answers;
        }
        if (fd >= 0) ::close(fd);
    }
};

void run_case(const Case& c, Checked& checked) {
    json spec = c.root.spec();
    spec.erase("name");
    spec["stop"] = c.root_stop;
    INFO("stress case seed ", c.seed, " (", backend(),
         "): replay with FORKSPAWN_STRESS_SEED=", c.seed,
         " forkspawn_stress_tests --spawn-backend=", backend(), " -tc='stress: random trees*'");
    INFO(c.describe());
    INFO("spec: ", spec.dump());
    const auto fds = open_fds();
    // The control socket is served all along, and asked for the live tree
    // without a pause (below): the answers must be whole, and the run's
    // outcome and deadlines must not notice.
    TempDir control_dir("stress-ctl");
    const std::string control = control_dir / "ctl.sock";
    std::vector<std::string> args = {"run", "--report=json", "-v", "--control=" + control};
    if (c.plan == Plan::tree_timeout)
        args.push_back(fmt::format("--timeout={}ms", c.tree_timeout_ms));
    args.push_back("-");
    const auto started = std::chrono::steady_clock::now();
    Process p({.args = args, .stdin_data = spec.dump(), .deadline = 90s, .stdout_pipe_size = 4096});
    const auto record = [&](const RunResult& r) {
        ++checked.exits[r.term_signal ? fmt::format("signal={}", r.term_signal)
                                      : fmt::format("rc={}", r.exit_code)];
        checked.longest_ms = std::max(
            checked.longest_ms,
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                .count());
    };

    StatusPoller poller(control, spec_actor_count(spec));

    std::optional<std::chrono::steady_clock::time_point> last_signal;
    if (c.plan == Plan::guardian_kill) {
        reach_moment(p, c);
        // At the first moment it may not be started yet (forkspawn may be
        // reading its spec, which is fed while this reads its stderr).
        pid_t guardian = 0;
        p.read_stderr_until(
            [&](const std::string&) { return (guardian = guardian_of(p.pid())) > 0; }, 20s);
        // Until forkspawn noticed (or it ended first, say at once).
        if (guardian > 0 && ::kill(guardian, SIGKILL) == 0 &&
            p.read_stderr_until(
                [](const std::string& err) {
                    return err.find("the guardian process died") != std::string::npos;
                },
                20s))
            ++checked.guardians_replaced;
        p.signal(SIGKILL);
    }
    if (c.plan == Plan::signal || c.plan == Plan::second_sigint || c.plan == Plan::hard_kill) {
        reach_moment(p, c);
        p.signal(c.plan == Plan::hard_kill ? SIGKILL : c.signo);
        if (c.plan == Plan::second_sigint) {
            // Two pending SIGINTs would merge: the second goes once the
            // first was taken, while the long grace is running.
            p.read_stderr_until(
                [](const std::string& err) { return err.find("got SIGINT") != std::string::npos; },
                20s);
            p.signal(SIGINT);
            last_signal = std::chrono::steady_clock::now();
        }
    }

    if (c.plan == Plan::hard_kill || c.plan == Plan::guardian_kill) {
        const auto r = p.wait();
        record(r);
        INFO(log_of(r.err));
        CHECK_FALSE(r.timed_out);
        CHECK(r.term_signal == SIGKILL);
        poller.check(checked);
        // Every actor dies with forkspawn (PR_SET_PDEATHSIG, the guardian),
        // their children in their groups, and what left its group on
        // purpose (the guardian finds it by FORKSPAWN_TREE).
        std::string survivors;
        const bool gone = wait_tagged_gone(r.tag, 15s, [&](pid_t pid) {
            std::ifstream cmdline(fmt::format("/proc/{}/cmdline", pid));
            std::string cmd((std::istreambuf_iterator<char>(cmdline)), {});
            std::replace(cmd.begin(), cmd.end(), '\0', ' ');
            std::ifstream stat(fmt::format("/proc/{}/stat", pid));
            std::string st;
            std::getline(stat, st);
            survivors += fmt::format("\n  {} [{}] {}", pid, cmd, st);
            return false;
        });
        INFO("survivors (last scan):",
             survivors.substr(survivors.size() > 3000 ? survivors.size() - 3000 : 0));
        CHECK(gone);
        CHECK(open_fds() == fds);
        return;
    }

    const bool reporting = p.wait_stdout_pending(60s);
    if (reporting) check_supervisor_fds(p);
    const auto r = p.wait();
    record(r);
    INFO(log_of(r.err));
    CHECK_FALSE(r.timed_out);
    poller.check(checked);
    if (last_signal) // the kill now: not the 30 s grace
        CHECK(std::chrono::steady_clock::now() - *last_signal < 15s);
    if (!reporting) {
        // Only a signal that came before forkspawn blocked it (before it
        // could spawn anything) may end it without a report.
        CHECK(c.moment == Moment::start);
        CHECK(r.term_signal == c.signo);
        CHECK(r.out.empty());
    } else {
        INFO("report: ", r.out);
        const json rep = json::parse(r.out, nullptr, false);
        REQUIRE_FALSE(rep.is_discarded());
        REQUIRE(rep.is_object());
        REQUIRE(rep["actors"].is_array());
        check_report(rep, c, r, checked);
        for (const auto& a : rep["actors"]) {
            ++checked.outcomes[a["outcome"].get<std::string>()];
            checked.restarts += a.value("restarts", 0);
        }
    }
    check_nothing_left(r.tag);
    CHECK(open_fds() == fds);
}

void run_cases(std::uint64_t default_cases) {
    const bool replay = std::getenv("FORKSPAWN_STRESS_SEED") != nullptr;
    const std::uint64_t first = env_number("FORKSPAWN_STRESS_SEED", std::random_device{}());
    const std::uint64_t cases =
        env_number("FORKSPAWN_STRESS_CASES",
                   replay ? 1 : env_number("FORKSPAWN_STRESS_DEFAULT_CASES", default_cases));
    MESSAGE("stress: ", cases, " case(s) on ", backend(), ", seeds ", first, "..",
            first + cases - 1);
    Checked checked;
    for (std::uint64_t k = 0; k < cases; ++k)
        run_case(make_case(first + k), checked);
    MESSAGE("stress: ", checked.summary());
}

} // namespace

TEST_CASE("stress: random trees cancelled and killed at random moments") {
    run_cases(4);
}
