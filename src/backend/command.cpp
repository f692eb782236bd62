#include "forkspawn/command.hpp"

#include <cstring>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace forkspawn::backend {

std::optional<std::string> resolve_program(const std::string& name, const std::string& path_env) {
    if (name.find('/') != std::string::npos) return name;
    std::size_t start = 0;
    for (;;) {
        const std::size_t colon = path_env.find(':', start);
        const std::string_view dir = std::string_view(path_env).substr(
            start, colon == std::string::npos ? colon : colon - start);
        // A relative entry (an empty one means the current directory) would
        // be found here against forkspawn's directory but run after the
        // actor's chdir, against its own: never the same file for sure, so
        // it is skipped, like an entry that does not exist.
        if (dir.starts_with('/')) {
            const std::string candidate = fmt::format("{}/{}", dir, name);
            struct stat st;
            if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
                ::access(candidate.c_str(), X_OK) == 0)
                return candidate;
        }
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    return std::nullopt;
}

PreparedCommand::PreparedCommand(const spec::Actor& actor, const char* const* environ,
                                 UniqueFd stdin_fd, UniqueFd stdout_fd, UniqueFd stderr_fd,
                                 CommandExtras extras)
    : m_argv_storage(actor.argv), m_cwd(actor.cwd), m_stdin(std::move(stdin_fd)),
      m_stdout(std::move(stdout_fd)), m_stderr(std::move(stderr_fd)),
      m_notify(std::move(extras.notify_fd)) {
    // Environment: inherited (unless env_clear), then the spec's variables
    // replace or add, in spec order. Inherited strings are not copied: the
    // supervisor never changes its environment, so every actor's envp can
    // point into it, and only the spec's own variables are stored here (a
    // thousand actors would otherwise hold a thousand copies of it).
    const auto named = [](const char* e, std::string_view key) {
        return std::strncmp(e, key.data(), key.size()) == 0 && e[key.size()] == '=';
    };
    auto overridden = [&](const char* e) {
        for (const auto& [key, value] : actor.env)
            if (named(e, key)) return true;
        for (const char* key : k_unshared_env)
            if (named(e, key)) return true;
        for (const auto& extra : extras.env)
            if (named(e, std::string_view(extra).substr(0, extra.find('=')))) return true;
        return false;
    };
    if (!actor.env_clear)
        for (const char* const* e = environ; e && *e; ++e)
            if (!overridden(*e)) m_envp.push_back(const_cast<char*>(*e));
    m_env_storage.reserve(actor.env.size());
    for (const auto& [key, value] : actor.env) {
        // A key repeated in the spec: the last value wins.
        const std::string prefix = fmt::format("{}=", key);
        std::erase_if(m_env_storage, [&](const std::string& s) { return s.starts_with(prefix); });
        m_env_storage.push_back(fmt::format("{}{}", prefix, value));
    }
    for (auto& extra : extras.env) {
        const std::string prefix = extra.substr(0, extra.find('=') + 1);
        std::erase_if(m_env_storage, [&](const std::string& s) { return s.starts_with(prefix); });
        m_env_storage.push_back(std::move(extra));
    }
    for (auto& e : m_env_storage)
        m_envp.push_back(e.data());
    m_envp.push_back(nullptr);
    std::string path_env = k_default_path;
    for (const char* const* e = m_envp.data(); *e; ++e)
        if (std::strncmp(*e, "PATH=", 5) == 0) path_env = *e + 5;
    auto resolved = resolve_program(m_argv_storage.front(), path_env);
    m_found = resolved.has_value();
    m_path = resolved ? std::move(*resolved) : m_argv_storage.front();

    for (auto& s : m_argv_storage)
        m_argv.push_back(s.data());
    m_argv.push_back(nullptr);

    m_args.path = m_path.c_str();
    m_args.argv = m_argv.data();
    m_args.envp = m_envp.data();
    m_args.cwd = m_cwd ? m_cwd->c_str() : nullptr;
    m_args.stdin_fd = m_stdin.get();
    m_args.stdout_fd = m_stdout.get();
    m_args.stderr_fd = m_stderr ? m_stderr.get() : m_stdout.get();
    m_args.parent_pid = ::getpid();
    m_args.notify_fd = m_notify.get();
    m_args.notify_target = m_notify ? extras.notify_target : -1;
}

void PreparedCommand::release_child_fds() {
    m_stdin.reset();
    m_stdout.reset();
    m_stderr.reset();
    m_notify.reset();
}

std::string stage_text(ChildStage stage, const SpawnArgs& args) {
    switch (stage) {
    case ChildStage::process_group:
        return "setpgid";
    case ChildStage::terminal:
        return "take the terminal (tcsetpgrp)";
    case ChildStage::parent_death_signal:
        return "prctl PR_SET_PDEATHSIG";
    case ChildStage::signals:
        return "reset signals";
    case ChildStage::stdin_setup:
        return "set up stdin";
    case ChildStage::stdout_setup:
        return "set up stdout";
    case ChildStage::stderr_setup:
        return "set up stderr";
    case ChildStage::close_fds:
        return "close inherited fds";
    case ChildStage::pass_fds:
        return "pass fds 3 and 4";
    case ChildStage::notify_fd:
        return fmt::format("pass the notification fd {}", args.notify_target);
    case ChildStage::chdir:
        return fmt::format("chdir {}", args.cwd ? args.cwd : "?");
    case ChildStage::exec:
        return fmt::format("execute {}", args.path ? args.path : "?");
    }
    return "unknown stage";
}

} // namespace forkspawn::backend
