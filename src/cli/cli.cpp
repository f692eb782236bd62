// SPDX-License-Identifier: MIT
#include "forkspawn/cli.hpp"

#include "forkspawn/backend.hpp"
#include "forkspawn/cgroup.hpp"
#include "forkspawn/command.hpp"
#include "forkspawn/control.hpp"
#include "forkspawn/error.hpp"
#include "forkspawn/guardian.hpp"
#include "forkspawn/plot.hpp"
#include "forkspawn/report.hpp"
#include "forkspawn/schema.hpp"
#include "forkspawn/sink.hpp"
#include "forkspawn/spec.hpp"
#include "forkspawn/supervisor.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <sys/ioctl.h>
#include <unistd.h>
#include <vector>

namespace forkspawn::cli {

namespace {

struct SpecText {
    std::string source; // "spec.json" or "<stdin>", for messages
    std::string text;
};

// Reads at most `cap + 1` bytes so an endless or huge input is refused
// without reading it all; the parser reports the size limit. `what` names
// the input in errors.
SpecText read_spec(const std::string& path, std::size_t cap, std::string_view what = "spec") {
    SpecText out{path == "-" ? "<stdin>" : path, {}};
    int fd = STDIN_FILENO;
    if (path != "-") {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            throw Error(fmt::format("cannot open {} {}: {}", what, path, errno_text(errno)));
    }
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            if (fd != STDIN_FILENO) ::close(fd);
            throw Error(fmt::format("cannot read {} {}: {}", what, out.source, errno_text(err)));
        }
        if (n == 0) break;
        out.text.append(buf, static_cast<std::size_t>(n));
        if (out.text.size() > cap) break;
    }
    if (fd != STDIN_FILENO) ::close(fd);
    return out;
}

std::optional<std::string> getenv_lookup(std::string_view name) {
    const char* value = std::getenv(std::string(name).c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
}

// Where relative paths in the spec start: its file's directory, or the
// current one for a spec on stdin (as docker compose reads its file).
std::string spec_dir(const std::string& path) {
    std::error_code ec;
    const auto dir = path == "-" ? std::filesystem::current_path(ec)
                                 : std::filesystem::absolute(path, ec).parent_path();
    if (ec)
        throw Error(fmt::format("cannot tell the directory of spec {}: {}", path, ec.message()));
    return dir.string();
}

// Parses, validates and resolves (spec::resolve); prints every error and
// throws when there is any.
spec::Spec load_spec(const std::string& path, const spec::Defaults& defaults) {
    const spec::Limits limits;
    const SpecText in = read_spec(path, limits.max_bytes);
    auto result = spec::parse(in.text, defaults, limits);
    if (result.errors.empty()) {
        for (const auto& w : result.warnings)
            fmt::print(stderr, "{}\n", format_diagnostic(in.source, w));
        spec::resolve(*result.spec, spec_dir(path), getenv_lookup);
        return std::move(*result.spec);
    }
    for (const auto& d : result.errors)
        fmt::print(stderr, "{}\n", format_diagnostic(in.source, d));
    throw Error(fmt::format("{}: {} error{}; nothing was run", in.source, result.errors.size(),
                            result.errors.size() == 1 ? "" : "s"));
}

struct RunArgs {
    std::string spec_path;
    std::string backend = std::string(backend::k_default_backend);
    std::string report = "table";
    std::string report_file;
    std::string stop;
    std::string timeout;
    std::string output = "prefix";
    std::string cgroup = "auto";
    std::string control; // --control=PATH
    // Given on the command line (else from FORKSPAWN_CGROUP or
    // FORKSPAWN_SPAWN_BACKEND, or the default): what an error names.
    bool cgroup_given = false;
    bool backend_given = false;
    std::size_t max_running = 0; // 0: not given
    int verbose = 0;
    int quiet = 0;
};

std::string backend_keys() {
    std::string keys;
    for (const auto& b : backend::list_backends())
        keys += (keys.empty() ? "" : ", ") + b.key;
    return keys;
}

bool colour_allowed() {
    const char* no_colour = std::getenv("NO_COLOR");
    return !(no_colour && *no_colour);
}

// The columns the table may use: $COLUMNS when set (as ls(1) reads it),
// else the terminal's width when the report goes to one; 0: no limit.
std::size_t table_width(int fd) {
    if (const char* columns = std::getenv("COLUMNS"); columns && *columns) {
        char* end = nullptr;
        const long n = std::strtol(columns, &end, 10);
        if (*end == '\0' && n > 0 && n < 100000) return static_cast<std::size_t>(n);
    }
    winsize ws{};
    if (::isatty(fd) && ::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 0;
}

// fds 0, 1 and 2 must be open before anything else is, or a pipe could be
// given one of those numbers and be clobbered when a child's stdio is set up.
void ensure_standard_fds() {
    for (int fd = 0; fd < 3; ++fd) {
        if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
        const int opened = ::open("/dev/null", O_RDWR); // lands on the lowest free number: fd
        if (opened >= 0 && opened != fd) ::close(opened);
    }
}

int cmd_run(const RunArgs& args) {
    spec::Defaults defaults;
    const std::string backend_key = backend::canonical_key(args.backend);
    const bool backend_from_env = !args.backend_given && std::getenv("FORKSPAWN_SPAWN_BACKEND");
    if (backend_key.empty())
        throw Error(fmt::format("{}unknown spawn backend '{}'; valid: {}",
                                backend_from_env ? "FORKSPAWN_SPAWN_BACKEND: " : "", args.backend,
                                backend_keys()));
    for (const auto& b : backend::list_backends())
        if (b.key == backend_key && !b.available)
            throw Error(fmt::format("{}spawn backend {} is unavailable here: {}",
                                    backend_from_env ? "FORKSPAWN_SPAWN_BACKEND: " : "",
                                    backend_key, b.unavailable_reason));
    if (!args.stop.empty()) {
        std::string why;
        auto seq = parse_stop_sequence(args.stop, &why);
        if (!seq) throw Error(fmt::format("--stop: {}", why));
        defaults.stop = *seq;
    }
    if (args.output == "inherit")
        defaults.output.mode = spec::Output::Mode::inherit;
    else if (args.output == "null")
        defaults.output.mode = spec::Output::Mode::null;
    if (args.max_running > 0) defaults.max_running = args.max_running;
    supervise::Options options;
    options.backend = backend_key;
    if (!args.timeout.empty()) {
        std::string why;
        auto d = parse_duration(args.timeout, &why);
        if (!d) throw Error(fmt::format("--timeout: {}", why));
        if (d->count() == 0) throw Error("--timeout: must be longer than 0s");
        options.tree_timeout = d;
    }
    options.format = args.report == "json"    ? report::Format::json
                     : args.report == "jsonl" ? report::Format::jsonl
                     : args.report == "none"  ? report::Format::none
                                              : report::Format::table;
    options.verbosity = std::clamp(1 + args.verbose - args.quiet, 0, 3);

    const auto cgroup_mode = cgroup::parse_mode(args.cgroup);
    if (!cgroup_mode)
        throw Error(fmt::format("{}: unknown mode '{}'; valid: auto, on, off",
                                args.cgroup_given ? "--cgroup" : "FORKSPAWN_CGROUP", args.cgroup));

    const spec::Spec s = load_spec(args.spec_path, defaults);
    // Containment: a cgroup v2 of forkspawn's own where it stands, or
    // process groups (DESIGN "Containment"). Decided before anything runs.
    if (*cgroup_mode != cgroup::Mode::off) {
        const cgroup::Where where = cgroup::locate();
        std::optional<std::string> why;
        if (where.dir.empty())
            why = where.why;
        else
            why = cgroup::unusable(where.dir);
        options.cgroup_required = *cgroup_mode == cgroup::Mode::on;
        if (!why)
            options.cgroup = where.dir;
        else if (*cgroup_mode == cgroup::Mode::on)
            throw Error(fmt::format("--cgroup=on: cannot use cgroups: {}", *why));
        else
            options.cgroup_fallback = *why;
    }
    // The root's own timeout is the tree's deadline, like --timeout (which wins).
    if (!options.tree_timeout && s.root.timeout) options.tree_timeout = s.root.timeout;

    // The control socket: bound before anything runs (a live socket at the
    // path is an error), removed when this returns.
    std::optional<control::Listener> control_socket;
    if (!args.control.empty()) {
        control_socket.emplace(control::Listener::open(args.control));
        options.control_fd = control_socket->fd();
        options.control = true;
    }

    UniqueFd report_file;
    if (!args.report_file.empty()) {
        report_file = UniqueFd(::open(args.report_file.c_str(),
                                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644));
        if (!report_file)
            throw Error(fmt::format("cannot open --report-file {}: {}", args.report_file,
                                    errno_text(errno)));
    }
    Sink report_sink(report_file ? report_file.get() : STDOUT_FILENO,
                     report_file ? args.report_file : "stdout");
    Sink log_sink(STDERR_FILENO);
    options.colour = log_sink.is_terminal() && colour_allowed();
    // On a terminal, actors' lines start in one column; a pipe gets the
    // plain `path | line` that scripts split on.
    if (log_sink.is_terminal()) options.prefix_width = supervise::prefix_width(s.root);

    backend::raise_fd_limit();
    const auto result = supervise::run(s, options, report_sink, log_sink);
    control_socket.reset(); // the tree is gone: nothing to control while the report is written

    switch (options.format) {
    case report::Format::table:
        report_sink.write(report::render_table(result.summary, result.actors,
                                               report_sink.is_terminal() && colour_allowed(),
                                               table_width(report_sink.fd())));
        break;
    case report::Format::json:
        report_sink.write(report::render_json(result.summary, result.actors));
        break;
    case report::Format::jsonl:
        report_sink.write(report::jsonl_summary(result.summary));
        break;
    case report::Format::none:
        break;
    }
    // Nothing is left to supervise: waiting for a slow reader is fine now.
    report_sink.drain(std::chrono::hours(24));
    // A slow reader of stderr gets up to 10 s; one that takes nothing for a
    // second does not hold the exit up: its output is dropped, and said.
    std::size_t dropped = result.output_dropped;
    if (!log_sink.drain(std::chrono::seconds(10), std::chrono::seconds(1)))
        dropped += log_sink.discard();
    if (dropped > 0 && !log_sink.broken()) {
        log_sink.write(fmt::format("forkspawn: {} bytes of actors' output were dropped: stderr "
                                   "was not being read\n",
                                   dropped));
        log_sink.flush_some();
    }
    // A reader that went away is the shell pipeline's SIGPIPE, silently;
    // any other write error lost the report, and is said (exit 74). A file
    // system may report a failed write only at close(2) (NFS, quotas).
    if (report_file && ::close(report_file.release()) < 0 && errno != EINTR)
        report_sink.mark_broken(errno); // keeps an earlier write error
    if (report_sink.broken() && options.format != report::Format::none) {
        if (report_sink.reader_gone()) return 128 + SIGPIPE;
        throw Error(fmt::format("cannot write the report to {}: {}", report_sink.name(),
                                errno_text(report_sink.error())),
                    k_exit_io);
    }
    return result.exit_code;
}

int cmd_backends(bool json) {
    const auto list = backend::list_backends();
    if (json) {
        nlohmann::ordered_json out = nlohmann::ordered_json::array();
        for (const auto& b : list) {
            nlohmann::ordered_json item;
            item["key"] = b.key;
            item["description"] = b.description;
            item["alias_of"] =
                b.alias_of.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(b.alias_of);
            item["default"] = b.key == backend::k_default_backend;
            item["available"] = b.available;
            item["unavailable_reason"] = b.available ? nlohmann::ordered_json()
                                                     : nlohmann::ordered_json(b.unavailable_reason);
            out.push_back(item);
        }
        fmt::print("{}\n", out.dump());
        return k_exit_ok;
    }
    std::size_t width = 0;
    for (const auto& b : list)
        width = std::max(width, b.key.size());
    for (const auto& b : list) {
        std::string line = fmt::format("{:<{}}  {}", b.key, width, b.description);
        if (b.key == backend::k_default_backend) line += " (default)";
        if (!b.available) line += fmt::format(" [unavailable: {}]", b.unavailable_reason);
        fmt::print("{}\n", line);
    }
    return k_exit_ok;
}

constexpr std::string_view k_commands[] = {"run", "check", "backends", "ctl", "schema", "plot"};

bool is_command(std::string_view word) {
    return std::find(std::begin(k_commands), std::end(k_commands), word) != std::end(k_commands);
}

// Levenshtein distance, for "did you mean" (short words only).
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// The command `word` was meant to be: a bare word (no path, no option), not
// an existing file, within two edits of a command (one for short words).
std::optional<std::string_view> mistyped_command(const std::string& word) {
    if (word.empty() || word.size() > 32 || word.starts_with("-") ||
        word.find_first_of("/.") != std::string::npos || ::access(word.c_str(), F_OK) == 0)
        return std::nullopt;
    std::optional<std::string_view> best;
    std::size_t best_distance = 0;
    for (const std::string_view command : k_commands) {
        const std::size_t d = edit_distance(word, command);
        const std::size_t allowed = command.size() <= 4 ? 1 : 2;
        if (d <= allowed && (!best || d < best_distance)) {
            best = command;
            best_distance = d;
        }
    }
    return best;
}

// A fatal error, said the one way: `forkspawn: error: ...`; returns `exit_code`.
int fatal_error(std::string_view what, int exit_code) {
    fmt::print(stderr, "forkspawn: error: {}\n", what);
    return exit_code;
}

// What may differ at run time, said by `check` (exit still 0): a program
// not found in the actor's PATH, a cwd that is not a directory, a user or
// group name unknown here (each would make the actor spawn_failed unless
// it is there when it starts), and a nested nursery of daemons only
// (nothing ends it).
struct CheckWarnings {
    const std::string& source;
    std::size_t count = 0;

    void warn(const spec::Actor& a, const std::string& ptr, const std::string& what) {
        fmt::print(stderr, "{}\n", format_diagnostic(source, {a.pos, ptr, "warning: " + what}));
        ++count;
    }

    // The actor's own PATH, as the spawn will see it (backend/command.cpp).
    static std::string path_of(const spec::Actor& a) {
        std::optional<std::string> path;
        for (const auto& [key, value] : a.env)
            if (key == "PATH") path = value;
        if (!path && !a.env_clear) path = getenv_lookup("PATH");
        return path.value_or(backend::k_default_path);
    }

    void command(const spec::Actor& a, const std::string& ptr) {
        const std::string& program = a.argv.front();
        if (program.find('/') == std::string::npos) {
            if (!backend::resolve_program(program, path_of(a)))
                warn(a, ptr + "/cmd/0",
                     fmt::format("'{}' is not found in the actor's PATH ({}); the actor is "
                                 "spawn_failed unless it is there when it starts",
                                 program, path_of(a)));
        } else if (::access(program.c_str(), X_OK) != 0) {
            warn(a, ptr + "/cmd/0",
                 fmt::format("{}: {}; the actor is spawn_failed unless it is there when it "
                             "starts",
                             program, errno_text(errno)));
        }
        std::error_code ec;
        if (a.cwd && !std::filesystem::is_directory(*a.cwd, ec))
            warn(a, ptr + "/cwd",
                 fmt::format("cwd {} is not a directory here; the actor is spawn_failed unless "
                             "it is one when it starts",
                             *a.cwd));
        for (const auto& [field, principal] :
             {std::pair{"user", a.execution.user}, std::pair{"group", a.execution.group}}) {
            if (!principal || principal->id) continue;
            spec::Execution only;
            (field == std::string_view("user") ? only.user : only.group) = principal;
            backend::IdentityError why;
            if (backend::resolve_identity(only, &why)) continue;
            warn(a, ptr + "/" + field,
                 fmt::format("{}: {} here; the actor is spawn_failed unless it exists when it "
                             "starts",
                             why.what, why.reason));
        }
    }

    void nursery(const spec::Actor& n, const std::string& pointer, bool root) {
        const bool daemons_only =
            !n.actors.empty() && std::all_of(n.actors.begin(), n.actors.end(),
                                             [](const spec::Actor& c) { return c.daemon; });
        if (!root && !n.daemon && daemons_only)
            warn(n, pointer,
                 "every actor of this nursery is a daemon, so nothing ends it and its parent "
                 "waits for it until the tree is cancelled; mark it \"daemon\": true, or give "
                 "it an actor that ends");
        for (std::size_t k = 0; k < n.actors.size(); ++k) {
            const spec::Actor& a = n.actors[k];
            const std::string ptr = fmt::format("{}/actors/{}", pointer, k);
            if (a.kind == spec::Kind::command)
                command(a, ptr);
            else
                nursery(a, ptr, false);
        }
    }
};

int cmd_check(const std::string& path) {
    const spec::Spec s = load_spec(path, {});
    const std::string source = path == "-" ? "<stdin>" : path;
    CheckWarnings{source}.nursery(s.root, "", true);
    fmt::print("{}", spec::format_tree(s, false));
    std::fflush(stdout);
    return k_exit_ok;
}

int cmd_plot(const std::string& path) {
    const SpecText in = read_spec(path, report::k_plot_max_bytes, "report");
    const report::PlotInput parsed = report::parse_plot_input(in.text);
    if (!parsed.run) throw Error("plot: " + report::format_plot_error(in.source, *parsed.error));
    const std::string svg = report::render_svg(*parsed.run);
    if (std::fwrite(svg.data(), 1, svg.size(), stdout) != svg.size() || std::fflush(stdout) != 0)
        throw Error(fmt::format("plot: cannot write the SVG to stdout: {}", errno_text(errno)),
                    k_exit_io);
    return k_exit_ok;
}

} // namespace

int run(int argc, char** argv) {
    // Hidden: the mp_forkserver server (see backend/mp_forkserver.cpp).
    if (argc == 2 && std::string_view(argv[1]) == "__mp_forkserver") backend::mp_forkserver_main();
    // Hidden: the guardian (see supervise/guardian.hpp).
    if (argc == 3 && std::string_view(argv[1]) == "__guardian")
        return supervise::guardian_main(argv[2]);
    if (argc == 4 && std::string_view(argv[1]) == "__guardian")
        return supervise::guardian_main(argv[2], argv[3]);
    // Hidden: a re-executed sub-supervisor (see supervise::run_reexec_nursery).
    if (argc == 3 && std::string_view(argv[1]) == "__nursery") {
        ensure_standard_fds();
        try {
            return supervise::run_reexec_nursery(argv[2]);
        } catch (const Error& e) {
            return fatal_error(e.what(), e.exit_code());
        } catch (const std::exception& e) {
            // Not a mistake of the input (its parent wrote it): internal.
            return fatal_error(fmt::format("__nursery: internal error: {}", e.what()),
                               k_exit_internal);
        }
    }

    CLI::App app{"forkspawn: run a tree of processes with structured supervision, tear it "
                 "down in order (graceful cancel, grace period, SIGKILL) and report how every "
                 "process was reaped.",
                 "forkspawn"};
    app.set_version_flag("--version", "forkspawn " FORKSPAWN_VERSION);
    app.require_subcommand(1);
    app.fallthrough(); // inherited by every command: the global flags follow it too
    app.footer("`forkspawn SPEC` is short for `forkspawn run SPEC`.\n"
               "Exit status: 0 every non-daemon actor completed, 1 an actor failed, 2 usage "
               "error or invalid spec, 70 internal error, 74 the report could not be "
               "written, 124 --timeout ran out, 128+N cancelled by signal N (141 the report's "
               "reader went away).\n"
               "See forkspawn(1) for the spec format.");

    // An empty value (`--timeout ''`) is a mistake, never "not given".
    const CLI::Validator non_empty(
        [](const std::string& v) { return v.empty() ? std::string("must not be empty") : ""; }, "",
        "non-empty");
    RunArgs run_args;
    CLI::App* run = app.add_subcommand("run", "Run the tree in SPEC (the default command)");
    run->add_option("SPEC", run_args.spec_path, "spec file, or - for stdin")->required();
    run->add_option("--spawn-backend", run_args.backend,
                    "how actors' processes are created: " + backend_keys())
        ->envname("FORKSPAWN_SPAWN_BACKEND")
        ->check(non_empty)
        ->type_name("KEY");
    run->add_option("--report", run_args.report, "report format: table, json, jsonl or none")
        ->check(CLI::IsMember({"table", "json", "jsonl", "none"}))
        ->type_name("FORMAT");
    run->add_option("--report-file", run_args.report_file,
                    "write the report to PATH instead of stdout")
        ->check(non_empty)
        ->type_name("PATH");
    run->add_option("--stop", run_args.stop, "default stop sequence (default SIGTERM,1.6s,SIGKILL)")
        ->check(non_empty)
        ->type_name("SEQ");
    run->add_option("--timeout", run_args.timeout,
                    "cancel the whole tree after DUR (exit 124), e.g. 30s")
        ->check(non_empty)
        ->type_name("DUR");
    run->add_option("--output", run_args.output,
                    "default handling of actors' stdout/stderr: prefix, inherit or null")
        ->check(CLI::IsMember({"prefix", "inherit", "null"}))
        ->type_name("MODE");
    run->add_option("-j,--max-running", run_args.max_running,
                    "at most N children of the root running at once (the root's max_running, "
                    "unless the spec sets it)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
        ->type_name("N");
    // Checked when it is used (cmd_run), so that a bad FORKSPAWN_CGROUP
    // breaks nothing but `run`, and the error names where it came from.
    run->add_option("--cgroup", run_args.cgroup,
                    "contain each actor in a cgroup v2: auto (when forkspawn can), on (or fail), "
                    "off")
        ->envname("FORKSPAWN_CGROUP")
        ->type_name("MODE");
    run->add_option("--control", run_args.control,
                    "serve the control socket at PATH (`forkspawn ctl PATH ...`)")
        ->check(non_empty)
        ->type_name("PATH");
    // Global: before or after the command (each command falls through to them).
    app.add_flag("-v,--verbose", run_args.verbose,
                 "more lifecycle log on stderr: -v every spawn and exit, -vv also each "
                 "spawn's argv, cwd and fds");
    app.add_flag("-q,--quiet", run_args.quiet,
                 "less lifecycle log on stderr: failures and errors only");

    bool backends_json = false;
    CLI::App* backends = app.add_subcommand("backends", "List the spawn backends");
    backends->add_flag("--json", backends_json, "print JSON");

    std::string plot_path;
    CLI::App* plot = app.add_subcommand(
        "plot", "Draw a run's report (--report=json or jsonl) as an SVG timeline on stdout");
    plot->add_option("REPORT", plot_path, "report file, or - for stdin")->required();

    CLI::App* schema =
        app.add_subcommand("schema", "Print the JSON Schema (draft 2020-12) of the spec format");

    std::string check_path;
    CLI::App* check =
        app.add_subcommand("check", "Validate SPEC, print the normalized tree, run nothing");
    check->add_option("SPEC", check_path, "spec file, or - for stdin")->required();

    control::CtlArgs ctl_args;
    CLI::App* ctl = app.add_subcommand(
        "ctl", "Talk to a running forkspawn through its control socket (run --control=SOCKET)");
    ctl->add_option("SOCKET", ctl_args.socket, "the path given to run --control")->required();
    ctl->require_subcommand(1);
    ctl->footer("Exit status: 0 done, 1 refused (wait: an actor failed or ended first), 2 usage "
                "error, 3 (wait) the tree ended first, 69 SOCKET cannot be reached.");
    CLI::App* ctl_status = ctl->add_subcommand("status", "The live tree: state of every actor");
    ctl_status->add_flag("--json", ctl_args.json, "print the reply as JSON");
    for (const auto& [name, help] :
         {std::pair{"stop", "Stop actors with their stop sequence (ends cancelled, ctl_stop; "
                            "not restarted, not a failure); returns once they ended"},
          std::pair{"start", "Start ended or stopped actors again, as a new attempt; returns "
                             "once they run"},
          std::pair{"restart", "Stop actors and start them again at once; returns once they run "
                               "again"}}) {
        CLI::App* sub = ctl->add_subcommand(name, help);
        sub->add_option("PATH", ctl_args.paths, "actor paths, e.g. root/web")->required();
    }
    CLI::App* ctl_signal =
        ctl->add_subcommand("signal", "Send a signal to an actor (its kill mode decides where)");
    std::string signal_path;
    ctl_signal->add_option("PATH", signal_path, "the actor's path")->required();
    ctl_signal->add_option("SIG", ctl_args.signal, "signal name or number, e.g. HUP, SIGUSR1, 10")
        ->required();
    ctl->add_subcommand("cancel", "Cancel the whole tree, as SIGTERM would (exit 143)");
    CLI::App* ctl_wait = ctl->add_subcommand(
        "wait", "Wait until the actors (default: all) have ended, or with --ready are ready");
    ctl_wait->add_flag("--ready", ctl_args.ready, "wait until they are ready");
    ctl_wait->add_option("PATH", ctl_args.paths, "actor paths; a nursery means every actor in it");
    ctl->add_subcommand("events",
                        "Stream the jsonl events (as --report=jsonl) until the tree ends");

    const auto usage_error = [](const std::string& what) {
        fmt::print(stderr, "forkspawn: error: {}\nRun with --help for more information.\n", what);
        return k_exit_usage;
    };
    // `forkspawn [OPTIONS] SPEC` means `forkspawn run [OPTIONS] SPEC`; a
    // first word that is no command and no file but close to a command is a
    // mistyped command.
    std::vector<std::string> args(argv + 1, argv + argc);
    // The global flags may come first: `forkspawn -v run SPEC`, `forkspawn -q SPEC`.
    const auto global = [](const std::string& a) {
        return a == "--verbose" || a == "--quiet" ||
               (a.size() >= 2 && a[0] == '-' && a[1] != '-' &&
                a.find_first_not_of("vq", 1) == std::string::npos);
    };
    const auto first = std::find_if_not(args.begin(), args.end(), global);
    // `forkspawn --help`: run is the default command, so its options are
    // what the reader needs; they follow the commands.
    if (first != args.end() && (*first == "--help" || *first == "-h")) {
        fmt::print("{}\n{}", app.help(), run->help("", CLI::AppFormatMode::Sub));
        return k_exit_ok;
    }
    if (first != args.end() && !is_command(*first) && *first != "--help" && *first != "-h" &&
        *first != "--version") {
        if (const auto near = mistyped_command(*first))
            return usage_error(
                fmt::format("unknown command '{}'; did you mean '{}'?", *first, *near));
        args.insert(first, "run");
    }
    // `ctl SOCKET COMMAND`: a command CLI11 does not know would only be
    // "A subcommand is required".
    if (args.size() >= 2 && args[0] == "ctl" && !args[1].starts_with("-")) {
        static constexpr std::string_view k_ctl_commands[] = {
            "status", "stop", "start", "restart", "signal", "cancel", "wait", "events"};
        const auto known = [&](const std::string& a) {
            return std::find(std::begin(k_ctl_commands), std::end(k_ctl_commands), a) !=
                   std::end(k_ctl_commands);
        };
        if (known(args[1]) && (args.size() < 3 || !known(args[2])))
            return usage_error(
                fmt::format("ctl: the SOCKET comes first: forkspawn ctl SOCKET {}", args[1]));
        if (args.size() >= 3 && !args[2].starts_with("-") && !known(args[2]))
            return usage_error(fmt::format("ctl: unknown command '{}'; valid: status, stop, start, "
                                           "restart, signal, cancel, wait, events",
                                           args[2]));
    }
    if (args.empty())
        return usage_error(
            "nothing to run: give a SPEC (`forkspawn SPEC`) or a command (run, check, backends, "
            "schema, plot, ctl)");
    // `--timeout=` with nothing after the `=`: CLI11 would take the next
    // argument as the value.
    for (const auto& a : args)
        if (a.starts_with("--") && a.ends_with("="))
            return usage_error(
                fmt::format("{} needs a value after the '='", a.substr(0, a.size() - 1)));
    std::reverse(args.begin(), args.end()); // CLI11 takes the arguments in reverse

    try {
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e); // --help, --version
        return usage_error(e.what());
    }

    try {
        if (*check) return cmd_check(check_path);
        if (*backends) return cmd_backends(backends_json);
        if (*plot) return cmd_plot(plot_path);
        if (*schema) {
            fmt::print("{}", spec::json_schema());
            std::fflush(stdout);
            return k_exit_ok;
        }
        if (*ctl) {
            for (CLI::App* sub : ctl->get_subcommands())
                ctl_args.command = sub->get_name();
            if (!signal_path.empty()) ctl_args.paths = {signal_path};
            return control::ctl(ctl_args);
        }
        if (*run) {
            for (int k = 1; k < argc; ++k) {
                const std::string_view arg = argv[k];
                if (arg == "--") break;
                run_args.cgroup_given |= arg == "--cgroup" || arg.starts_with("--cgroup=");
                run_args.backend_given |=
                    arg == "--spawn-backend" || arg.starts_with("--spawn-backend=");
            }
            ensure_standard_fds();
            // Before any thread exists: signalfd needs them blocked everywhere.
            supervise::block_supervised_signals();
            return cmd_run(run_args);
        }
    } catch (const Error& e) {
        return fatal_error(e.what(), e.exit_code());
    } catch (const std::exception& e) {
        return fatal_error(fmt::format("internal error: {}", e.what()), k_exit_internal);
    }
    return k_exit_usage;
}

} // namespace forkspawn::cli
