#include "forkspawn/cli.hpp"

#include "forkspawn/error.hpp"
#include "forkspawn/spec.hpp"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace forkspawn::cli {

namespace {

struct SpecText {
    std::string source; // "spec.json" or "<stdin>", for messages
    std::string text;
};

// Reads at most `cap + 1` bytes so an endless or huge input is refused
// without reading it all; the parser reports the size limit.
SpecText read_spec(const std::string& path, std::size_t cap) {
    SpecText out{path == "-" ? "<stdin>" : path, {}};
    int fd = STDIN_FILENO;
    if (path != "-") {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw Error(fmt::format("cannot open spec {}: {}", path, errno_text(errno)));
    }
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            if (fd != STDIN_FILENO) ::close(fd);
            throw Error(fmt::format("cannot read spec {}: {}", out.source, errno_text(err)));
        }
        if (n == 0) break;
        out.text.append(buf, static_cast<std::size_t>(n));
        if (out.text.size() > cap) break;
    }
    if (fd != STDIN_FILENO) ::close(fd);
    return out;
}

// Parses and validates; prints every error and throws when there is any.
spec::Spec load_spec(const std::string& path, const spec::Defaults& defaults) {
    const spec::Limits limits;
    const SpecText in = read_spec(path, limits.max_bytes);
    auto result = spec::parse(in.text, defaults, limits);
    if (result.errors.empty()) return std::move(*result.spec);
    for (const auto& d : result.errors)
        fmt::print(stderr, "{}\n", format_diagnostic(in.source, d));
    throw Error(fmt::format("{}: {} error{}; nothing was run", in.source, result.errors.size(),
                            result.errors.size() == 1 ? "" : "s"));
}

int cmd_check(const std::string& path) {
    const spec::Spec s = load_spec(path, {});
    fmt::print("{}", spec::format_tree(s));
    std::fflush(stdout);
    return k_exit_ok;
}

} // namespace

int run(int argc, char** argv) {
    CLI::App app{"forkspawn: run a tree of processes with structured supervision, tear it "
                 "down in order (graceful cancel, grace period, SIGKILL) and report how every "
                 "process was reaped.",
                 "forkspawn"};
    app.set_version_flag("--version", "forkspawn " FORKSPAWN_VERSION);
    app.require_subcommand(1);
    app.footer("Exit status: 0 ok, 1 an actor failed, 2 usage error or invalid spec.\n"
               "See forkspawn(1) for the spec format.");

    std::string check_path;
    CLI::App* check =
        app.add_subcommand("check", "Validate SPEC, print the normalized tree, run nothing");
    check->add_option("SPEC", check_path, "spec file, or - for stdin")->required();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? k_exit_ok : k_exit_usage;
    }

    try {
        if (*check) return cmd_check(check_path);
    } catch (const Error& e) {
        fmt::print(stderr, "forkspawn: error: {}\n", e.what());
        return e.exit_code();
    } catch (const std::exception& e) {
        fmt::print(stderr, "forkspawn: error: {}\n", e.what());
        return k_exit_failed;
    }
    return k_exit_usage;
}

} // namespace forkspawn::cli
