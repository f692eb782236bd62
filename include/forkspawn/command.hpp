// SPDX-License-Identifier: MIT
// A command actor made ready to spawn: argv, envp, the resolved program
// path and the fds of its stdio plan, owned here and exposed to the fork
// boundary as one SpawnArgs of raw pointers. Built on the supervisor's
// thread before the spawn request is submitted; lives until the backend says
// the fork is done.
#pragma once

#include "forkspawn/spawn_args.hpp"
#include "forkspawn/spec.hpp"
#include "forkspawn/unique_fd.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace forkspawn::backend {

// What the supervisor adds to an actor's own spec: variables (set last,
// over inherited ones of the same name) and its notification fd.
struct CommandExtras {
    std::vector<std::string> env; // "NAME=value"
    UniqueFd notify_fd;           // the write end the program gets as notify_target
    int notify_target = -1;
    UniqueFd cgroup_procs;   // the actor's cgroup.procs, open for writing (none: no cgroup)
    std::string cgroup_path; // its directory, for messages
};

// The ids an actor runs as, resolved from its spec before the fork.
struct Identity {
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    std::optional<std::vector<gid_t>> groups; // supplementary groups to set
    // For the environment, as systemd sets them: HOME, USER, LOGNAME,
    // SHELL of the user's passwd entry (none for a bare uid).
    std::vector<std::string> env;
};
// Why a user or group could not be resolved: `what` is "user 'www'",
// `reason` "no such user".
struct IdentityError {
    std::string what;
    std::string reason;
};
// `user`: its uid, its primary group (unless `group` is given) and its
// groups from the group database (getgrouplist); a uid without a passwd
// entry runs with no supplementary groups. `group` alone: that gid and no
// supplementary groups. nullopt with `why` when a name is unknown;
// blocking NSS lookups, made on the supervisor's thread before the fork
// (a child may not call them).
std::optional<Identity> resolve_identity(const spec::Execution& e, IdentityError* why);

// Variables of forkspawn's own environment that speak to forkspawn's own
// supervisor (systemd's NOTIFY_SOCKET and watchdog): never inherited by an
// actor, whose readiness is forkspawn's to hear.
inline constexpr const char* k_unshared_env[] = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"};

class PreparedCommand {
  public:
    // `stdout_fd`/`stderr_fd`: the fds the child gets as 1 and 2 (-1 keeps
    // forkspawn's, for output "inherit"); `stdin_fd` likewise for 0. The
    // PreparedCommand takes ownership of them (they are closed in the parent
    // once the fork is done: the child has its copies).
    PreparedCommand(const spec::Actor& actor, const char* const* environ, UniqueFd stdin_fd,
                    UniqueFd stdout_fd, UniqueFd stderr_fd, CommandExtras extras = {});
    PreparedCommand(PreparedCommand&&) = delete;

    const SpawnArgs& args() const { return m_args; }
    // The resolved program path; the name as given when PATH has none.
    const std::string& program() const { return m_path; }
    // False when argv[0] was found nowhere in the actor's PATH: nothing may
    // be spawned (execve of the bare name would run it from the actor's cwd).
    bool found() const { return m_found; }
    // Set when the actor's user or group cannot be resolved: nothing may be
    // spawned.
    const std::optional<IdentityError>& setup_error() const { return m_setup_error; }
    // Closes the parent's copies of the child's stdio.
    void release_child_fds();

  private:
    std::string m_path;
    bool m_found = false;
    std::vector<std::string> m_argv_storage;
    std::vector<std::string> m_env_storage;
    std::vector<char*> m_argv;
    std::vector<char*> m_envp;
    std::optional<std::string> m_cwd;
    UniqueFd m_stdin, m_stdout, m_stderr, m_notify, m_cgroup_procs;
    std::string m_cgroup_path;
    std::vector<gid_t> m_groups;
    std::optional<IdentityError> m_setup_error;
    SpawnArgs m_args;
};

// PATH lookup as execvp(3) does it, but before fork, in `path_env` (the
// actor's own PATH, after env/env_clear): the first absolute PATH entry
// holding an executable regular file. Relative entries, and empty ones (the
// current directory), are skipped. A name with '/' is used as given.
// std::nullopt when it is found nowhere: the actor fails with ENOENT.
std::optional<std::string> resolve_program(const std::string& name, const std::string& path_env);

// The default PATH when the environment has none (confstr _CS_PATH style).
inline constexpr const char* k_default_path =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

} // namespace forkspawn::backend
