// SPDX-License-Identifier: MIT
#include "forkspawn/command.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
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

namespace {

// getpwnam_r/getpwuid_r and getgrnam_r with a buffer that grows on ERANGE.
template <typename Entry, typename Lookup>
std::optional<Entry> lookup(Lookup call, std::vector<char>& buf, int* err) {
    Entry entry;
    Entry* found = nullptr;
    buf.resize(1024);
    int rc;
    while ((rc = call(&entry, buf.data(), buf.size(), &found)) == ERANGE && buf.size() < (1u << 20))
        buf.resize(buf.size() * 2);
    *err = rc;
    if (rc != 0 || !found) return std::nullopt;
    return entry;
}

IdentityError lookup_error(std::string_view what, const spec::Principal& p, int err) {
    // getpwnam_r says "not found" as 0 with no entry, or, by some NSS
    // modules, as ENOENT, ESRCH, EBADF or EPERM.
    const std::string subject = fmt::format("{} '{}'", what, p.to_string());
    if (err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM)
        return {subject, fmt::format("no such {}", what)};
    return {subject, std::strerror(err)};
}

} // namespace

std::optional<Identity> resolve_identity(const spec::Execution& e, IdentityError* why) {
    Identity id;
    std::vector<char> buf;
    int err = 0;
    if (e.group) {
        if (e.group->id) {
            id.gid = *e.group->id;
        } else {
            auto g = lookup<group>(
                [&](group* out, char* b, std::size_t n, group** found) {
                    return ::getgrnam_r(e.group->name.c_str(), out, b, n, found);
                },
                buf, &err);
            if (!g) {
                if (why) *why = lookup_error("group", *e.group, err);
                return std::nullopt;
            }
            id.gid = g->gr_gid;
        }
        id.groups = std::vector<gid_t>{*id.gid};
    }
    if (!e.user) return id;
    auto pw = lookup<passwd>(
        [&](passwd* out, char* b, std::size_t n, passwd** found) {
            return e.user->id ? ::getpwuid_r(*e.user->id, out, b, n, found)
                              : ::getpwnam_r(e.user->name.c_str(), out, b, n, found);
        },
        buf, &err);
    if (!pw && !e.user->id) {
        if (why) *why = lookup_error("user", *e.user, err);
        return std::nullopt;
    }
    if (!pw) {                // a bare uid: nothing else is known of it, and root's group
        id.uid = *e.user->id; // would be a surprise: the gid of the same number
        if (!id.gid) id.gid = static_cast<gid_t>(*e.user->id);
        if (!id.groups) id.groups = std::vector<gid_t>{};
        return id;
    }
    id.uid = pw->pw_uid;
    if (!id.gid) id.gid = pw->pw_gid;
    // The user's groups, as login(1) would give them (initgroups), with
    // the primary group first.
    std::vector<gid_t> groups(64);
    int count = static_cast<int>(groups.size());
    while (::getgrouplist(pw->pw_name, *id.gid, groups.data(), &count) < 0 &&
           count > static_cast<int>(groups.size()))
        groups.resize(static_cast<std::size_t>(count));
    groups.resize(static_cast<std::size_t>(std::max(count, 0)));
    id.groups = std::move(groups);
    id.env = {fmt::format("HOME={}", pw->pw_dir), fmt::format("USER={}", pw->pw_name),
              fmt::format("LOGNAME={}", pw->pw_name), fmt::format("SHELL={}", pw->pw_shell)};
    return id;
}

PreparedCommand::PreparedCommand(const spec::Actor& actor, const char* const* environ,
                                 UniqueFd stdin_fd, UniqueFd stdout_fd, UniqueFd stderr_fd,
                                 CommandExtras extras)
    : m_argv_storage(actor.argv), m_cwd(actor.cwd), m_stdin(std::move(stdin_fd)),
      m_stdout(std::move(stdout_fd)), m_stderr(std::move(stderr_fd)),
      m_notify(std::move(extras.notify_fd)), m_cgroup_procs(std::move(extras.cgroup_procs)),
      m_cgroup_path(std::move(extras.cgroup_path)) {
    IdentityError identity_error;
    std::optional<Identity> identity = resolve_identity(actor.execution, &identity_error);
    if (!identity) m_setup_error = std::move(identity_error);
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
    if (identity)
        for (auto& var : identity->env) {
            const std::string prefix = var.substr(0, var.find('=') + 1);
            if (std::none_of(m_env_storage.begin(), m_env_storage.end(),
                             [&](const std::string& s) { return s.starts_with(prefix); })) {
                std::erase_if(
                    m_envp, [&](const char* e) { return std::string_view(e).starts_with(prefix); });
                m_env_storage.push_back(std::move(var));
            }
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
    m_args.cgroup_procs_fd = m_cgroup_procs.get();
    m_args.cgroup_path = m_cgroup_path.empty() ? nullptr : m_cgroup_path.c_str();

    const spec::Execution& e = actor.execution;
    for (const spec::Rlimit& r : e.rlimits)
        if (m_args.limit_count < SpawnArgs::k_max_limits)
            m_args.limits[m_args.limit_count++] = {r.resource, r.soft, r.hard};
    m_args.set_nice = e.nice.has_value();
    m_args.nice = e.nice.value_or(0);
    m_args.umask = e.umask ? static_cast<int>(*e.umask) : -1;
    if (identity) {
        if (identity->groups) {
            m_groups = std::move(*identity->groups);
            m_args.set_groups = true;
            m_args.groups = m_groups.data();
            m_args.group_count = static_cast<int>(m_groups.size());
        }
        m_args.set_gid = identity->gid.has_value();
        m_args.gid = identity->gid.value_or(0);
        m_args.set_uid = identity->uid.has_value();
        m_args.uid = identity->uid.value_or(0);
    }
}

void PreparedCommand::release_child_fds() {
    m_stdin.reset();
    m_stdout.reset();
    m_stderr.reset();
    m_notify.reset();
    m_cgroup_procs.reset();
}

std::string stage_text(ChildStage stage, const SpawnArgs& args, int detail) {
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
    case ChildStage::cgroup:
        return fmt::format("join cgroup {}", args.cgroup_path ? args.cgroup_path : "?");
    case ChildStage::rlimit: {
        const spec::RlimitName* r = spec::find_rlimit(detail);
        return fmt::format("setrlimit {}", r ? r->name : "?");
    }
    case ChildStage::nice:
        return fmt::format("setpriority nice {}", args.nice);
    case ChildStage::umask:
        return "umask";
    case ChildStage::setgroups:
        return fmt::format("setgroups, {} group{}", args.group_count,
                           args.group_count == 1 ? "" : "s");
    case ChildStage::setgid:
        return fmt::format("setgid {}", args.gid);
    case ChildStage::setuid:
        return fmt::format("setuid {}", args.uid);
    }
    return "unknown stage";
}

} // namespace forkspawn::backend
