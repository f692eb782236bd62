// SPDX-License-Identifier: MIT
// The spawner: children start in order through a bounded window, each with
// its stdio plan; the backend's completions make them running actors.
#include "supervisor_impl.hpp"

#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace forkspawn::supervise {

// Starts children in spec order while the spawn window, max_running and
// their `after` conditions allow: those that waited on a condition first,
// then those never tried. Not re-entered: a child that ends while it is
// being started (a spawn that fails before any fork) frees its slot for
// this same loop, so a long batch of such children never nests one call
// per child; a condition that came to hold meanwhile makes it go round.
void Supervisor::start_more() {
    if (m_starting) {
        m_start_again = true;
        return;
    }
    m_starting = true;
    const std::size_t max_running = m_nursery.max_running.value_or(m_actors.size());
    const auto room = [&] {
        return m_in_flight < k_spawn_window && m_holding < max_running &&
               !m_cancel_cause; // a failure: the rest never start
    };
    do {
        m_start_again = false;
        if (!m_blocked.empty()) {
            std::vector<std::size_t> blocked;
            blocked.swap(m_blocked);
            std::sort(blocked.begin(), blocked.end());
            for (const std::size_t i : blocked) {
                if (m_actors[i].state() != State::waiting) continue;
                // A restart keeps its slot (max_running): it needs none.
                const bool has_slot =
                    m_actors[i].holds_slot && m_in_flight < k_spawn_window && !m_cancel_cause;
                if (has_slot || room())
                    begin_start(i); // waits again (m_blocked) if it must
                else
                    m_blocked.push_back(i);
            }
        }
        while (m_next_start < m_actors.size() && room()) {
            const std::size_t i = m_next_start++;
            if (m_actors[i].state() == State::waiting) begin_start(i);
        }
    } while (m_start_again);
    m_starting = false;
}

// Its start slot came: it starts now, waits for its `after` conditions or
// in line for the terminal, or never starts (a condition never can hold).
void Supervisor::begin_start(std::size_t i) {
    ActorRun& a = m_actors[i];
    const After* unmet = nullptr;
    switch (dependencies_met(i, &unmet)) {
    case Gate::open:
        break;
    case Gate::wait:
        if (!a.said_waiting) log(2, fmt::format("{} waits for its dependencies", a.spec->path));
        a.said_waiting = true;
        m_blocked.push_back(i);
        return;
    case Gate::never:
        log(1, fmt::format("{} will not start: {} ended ({}) without being {}", a.spec->path,
                           unmet->sibling, report::outcome_name(m_actors[unmet->index].outcome),
                           after_condition_name(unmet->condition)));
        a.cancel_reason = "dependency_failed";
        apply(i, Event::cancel);
        return;
    }
    if (wants_terminal(a) && (m_terminal_holder || !m_terminal_lease)) {
        log(2, fmt::format("{} waits for the terminal", a.spec->path));
        wait_for_terminal(i);
        return; // stays waiting: started when the terminal is free
    }
    if (!a.holds_slot) {
        a.holds_slot = true;
        ++m_holding;
    }
    apply(i, Event::start); // submit()
}

// An actor's {"file": PATH}, opened on the loop thread, so never with a
// wait: a plain O_WRONLY open of a FIFO sleeps until a reader opens it
// (fifo(7)), and a terminal's may wait for carrier. With O_NONBLOCK a
// FIFO without a reader fails at once with ENXIO, and a regular file
// ignores the flag. The flag is then cleared: the actor expects blocking
// writes, and F_SETFL changes only this open file description, which is
// the actor's alone. -1 in the UniqueFd on failure, errno set.
UniqueFd Supervisor::open_output_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(),
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644));
    if (!fd) return fd;
    const int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) {
        const int err = errno;
        fd.reset();
        errno = err;
    }
    return fd;
}

// Why open_output_file failed, for the actor's spawn error. ENXIO also
// means a socket or a device without a driver: the FIFO is checked.
std::string Supervisor::output_open_error(const std::string& path, int err) {
    struct stat st;
    if (err == ENXIO && ::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode))
        return "no reader on the FIFO (ENXIO)";
    return errno_text(err);
}

bool Supervisor::wants_terminal(const ActorRun& a) const {
    return m_options.terminal_home > 0 && !a.nursery() &&
           a.spec->stdin_mode == spec::StdinMode::inherit;
}

// What -vv shows of a command's spawn: its argv, cwd, and what it has on
// fds 0, 1, 2 and beyond.
std::string Supervisor::spawn_detail(const ActorRun& a) const {
    const spec::Actor& s = *a.spec;
    const bool through = s.output.mode == spec::Output::Mode::prefix ||
                         s.output.mode == spec::Output::Mode::null ||
                         s.ready.source == Ready::Source::output;
    std::string out = fmt::format(
        "{} pid {}: argv {}, cwd {}, fd 0 {}, fds 1 and 2 {}", s.path, a.pid,
        nlohmann::json(s.argv).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
        s.cwd ? *s.cwd : "(forkspawn's)",
        s.stdin_mode == spec::StdinMode::null ? "/dev/null" : "forkspawn's stdin",
        through                                     ? "a pipe to forkspawn"
        : s.output.mode == spec::Output::Mode::file ? "append to " + s.output.path
                                                    : "forkspawn's stdout and stderr");
    if (s.ready.source == Ready::Source::fd) out += fmt::format(", fd {} readiness", s.ready.fd);
    if (s.ready.source == Ready::Source::notify) out += ", NOTIFY_SOCKET";
    return out;
}

void Supervisor::submit(std::size_t i) {
    ActorRun& a = m_actors[i];
    const spec::Actor& s = *a.spec;
    if (a.nursery()) {
        submit_nursery(i);
        return;
    }
    const bool terminal = wants_terminal(a);
    // Out of fds (EMFILE, ENFILE) is a spawn failure of this actor, not
    // a fatal error of the supervisor: the tree is torn down as usual.
    const auto setup_failed = [&](const char* what) {
        spawn_failed(i,
                     fmt::format("failed to set up {} ({}): {}", s.name, what, errno_text(errno)));
    };
    UniqueFd in, out;
    backend::CommandExtras extras;
    if (!prepare_cgroup(i)) return;
    if (a.cgroup) {
        extras.cgroup_procs = a.cgroup.open_procs();
        if (!extras.cgroup_procs) return setup_failed("open cgroup.procs");
        extras.cgroup_path = a.cgroup.path();
    }
    if (!prepare_readiness(i, extras)) return setup_failed("readiness");
    if (s.stdin_mode == spec::StdinMode::null) {
        in = dup_fd(m_dev_null.get());
        if (!in) return setup_failed("stdin /dev/null");
    }
    // ready.output reads the output whatever its mode: it passes through a
    // pipe, and goes to its file (or nowhere) from there. Output to null
    // passes through too, for its tail in the report (output_tail).
    const bool read_it =
        s.ready.source == Ready::Source::output || s.output.mode == spec::Output::Mode::null;
    if (read_it && s.output.mode == spec::Output::Mode::file) {
        a.output_file = UniqueFd(
            ::open(s.output.path.c_str(),
                   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644));
        if (!a.output_file) {
            const int err = errno;
            spawn_failed(i, fmt::format("failed to set up {} (open output {}): {}", s.name,
                                        s.output.path, output_open_error(s.output.path, err)));
            return;
        }
    }
    switch (read_it ? spec::Output::Mode::prefix : s.output.mode) {
    case spec::Output::Mode::prefix: {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) < 0) return setup_failed("output pipe");
        a.output = UniqueFd(fds[0]);
        out = UniqueFd(fds[1]);
        sys::set_nonblocking(a.output.get());
        break; // watched once the spawn is reported (see started)
    }
    case spec::Output::Mode::inherit:
        break;
    case spec::Output::Mode::null:
        out = dup_fd(m_dev_null.get());
        if (!out) return setup_failed("stdout /dev/null");
        break;
    case spec::Output::Mode::file:
        out = open_output_file(s.output.path);
        if (!out) {
            const int err = errno;
            spawn_failed(i, fmt::format("failed to set up {} (open output {}): {}", s.name,
                                        s.output.path, output_open_error(s.output.path, err)));
            return;
        }
        break;
    }
    a.prepared = std::make_unique<backend::PreparedCommand>(
        s, environ, std::move(in), std::move(out), UniqueFd(), std::move(extras));
    if (const auto why = a.prepared->setup_error()) {
        a.prepared.reset();
        spawn_failed(i, fmt::format("failed to set up {} ({}): {}", s.name,
                                    cut_text(why->what, k_quote_limit), why->reason));
        return;
    }
    if (!a.prepared->found()) {
        // What execvp(3) would say, before any fork: nothing runs.
        a.prepared.reset();
        spawn_failed(i, fmt::format("failed to execute {}: {}",
                                    cut_text(s.argv.front(), k_quote_limit), errno_text(ENOENT)));
        return;
    }
    ++m_in_flight;
    backend::SpawnRequest request{i, a.prepared->args()};
    request.args.take_terminal = terminal;
    request.args.started_slot = started_slot(i);
    if (terminal) m_terminal_holder = i;
    m_backend->submit(request);
}

// A nursery child is made while this thread waits (parked) for it; see
// Backend::spawn_nursery. The child gets its end of a socketpair.
void Supervisor::submit_nursery(std::size_t i) {
    ActorRun& a = m_actors[i];
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
        spawn_failed(
            i, fmt::format("failed to start {} (socketpair): {}", a.spec->name, errno_text(errno)));
        return;
    }
    UniqueFd mine(fds[0]), theirs(fds[1]);
    if (!prepare_cgroup(i)) return;
    a.start = std::make_unique<NurseryStart>();
    a.start->nursery = a.spec;
    a.start->options = m_options;
    a.start->options.format = report::Format::none;
    a.start->options.tree_timeout.reset(); // the root keeps the tree's deadline
    a.start->channel = theirs.get();
    a.start->guardian = m_guardian_fd;
    a.start->parent_pid = ::getpid();
    a.start->t0 = m_t0;
    a.start->signal_mask = supervised_signals();
    a.start->options.first_slot = m_slot[i] + 1;
    a.start->options.cgroup = a.cgroup ? a.cgroup.path() : std::string();
    a.start->options.control_fd = -1; // the root's
    a.start->started_slot = started_slot(i);
    sys::set_nonblocking(mine.get());
    a.channel = std::move(mine);
    // Both forms, the backend makes its own: a fork that runs
    // nursery_child_main, or a fresh image of forkspawn in its hidden
    // sub-supervisor mode.
    backend::NurseryRequest request;
    request.id = i;
    request.run = &nursery_child_main;
    request.arg = a.start.get();
    request.subtree = a.spec;
    request.options = nlohmann::json{{"path", a.spec->path},
                                     {"backend", m_options.backend},
                                     {"verbosity", m_options.verbosity},
                                     {"colour", m_options.colour},
                                     {"prefix_width", m_options.prefix_width},
                                     {"terminal_home", m_options.terminal_home},
                                     {"first_slot", m_slot[i] + 1},
                                     {"cgroup", a.start->options.cgroup},
                                     {"control", m_options.control},
                                     {"t0_ns", m_t0.time_since_epoch().count()}}
                          .dump();
    request.channel = theirs.get();
    request.started_slot = started_slot(i);
    auto done = m_backend->spawn_nursery(request);
    theirs.reset(); // the child has its copy
    watch(a.channel.get(), make_tag(Tag::channel, i), EPOLLIN);
    started(std::move(done));
}

void Supervisor::on_backend() {
    for (auto& done : m_backend->take_completions())
        started(std::move(done));
    reap_orphans(); // what waited for the backend's answers
    start_more();
}

void Supervisor::started(backend::SpawnCompletion done) {
    if (done.id & k_probe_id) {
        probe_started(done.id & ~k_probe_id, std::move(done));
        return;
    }
    const std::size_t i = done.id;
    ActorRun& a = m_actors[i];
    if (!a.nursery()) --m_in_flight;
    if (a.prepared) a.prepared->release_child_fds(); // the child has its copies now
    if (done.pid < 0) {
        spawn_failed(i, done.refused.empty()
                            ? fmt::format("failed to start {} ({}): {}", a.spec->name,
                                          done.failed_call, errno_text(done.error))
                            : fmt::format("failed to start {}: {}", a.spec->name, done.refused));
        return;
    }
    a.pid = done.pid;
    a.started = done.forked_at != TimePoint{} ? done.forked_at : Clock::now();
    m_by_pid[a.pid] = i;
    if (!done.pidfd) {
        // Without a pidfd the child cannot be tracked safely: kill it
        // while it is certainly unreaped (its pid is still its own). It
        // is reaped like an orphan when SIGCHLD says it died, so the
        // loop never waits for it here.
        ::kill(a.pid, SIGKILL);
        tell_guardian('-', a.pid);
        m_by_pid.erase(a.pid);
        a.pid = -1;
        spawn_failed(i, fmt::format("failed to track {} ({}): {}", a.spec->name, done.failed_call,
                                    errno_text(done.error)));
        return;
    }
    a.proc = ProcessHandle(a.pid, std::move(done.pidfd));
    a.error_pipe = std::move(done.error_pipe);
    // Registered by the child and its forking thread already, unless
    // the guardian's socket was full (they cannot wait) or a backend's
    // process holds a dead guardian's socket (see guardian_died): from
    // here too, where a message that does not fit waits its turn.
    tell_guardian('+', a.pid);
    // Its output is read only from now on: nothing it prints is
    // shown before its spawn is known (and its group guarded).
    a.output_live = true;
    watch_output(i);
    // Its readiness is heard from now on: before, its pid was not known,
    // and a notification could not be told from a stranger's.
    if (a.ready_fd) watch(a.ready_fd.get(), make_tag(Tag::ready, i), EPOLLIN);
    a.attempt = a.restarts + 1;
    publish_spawned(a.spec->path, kind_of(*a.spec), a.pid, ms_since_start(*a.started), a.attempt);
    watch(a.proc.fd(), make_tag(Tag::pidfd, i), EPOLLIN);
    if (a.error_pipe) watch(a.error_pipe.get(), make_tag(Tag::error_pipe, i), EPOLLIN);
    log(2, fmt::format("{} spawned, pid {}", a.spec->path, a.pid));
    if (m_options.verbosity >= 3 && !a.nursery()) log(3, spawn_detail(a));
    if (a.spec->timeout) {
        a.timeout_due = *a.started + *a.spec->timeout;
        add_timer(*a.timeout_due, TimerKind::actor_timeout, i);
    }
    // Until the exec-error pipe answers, whether execve succeeds is not
    // known (a sub-supervisor has nothing to exec, or is a fresh image
    // of forkspawn that reports its own failures).
    const bool ended = ended_before_its_stop(a);
    apply(i, Event::spawned, Clock::now(), (a.error_pipe && !a.nursery()) || ended);
    if (ended && !a.stop().started()) on_pidfd(i);
}

// The exec-error pipe: EOF means execve succeeded; a ChildError means
// the child failed before or at execve and is exiting with 127.
void Supervisor::on_error_pipe(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (!a.error_pipe) return;
    const backend::SpawnArgs no_args;
    const backend::SpawnArgs& args = a.prepared ? a.prepared->args() : no_args;
    const std::string program = a.prepared ? a.prepared->program() : "/proc/self/exe";
    backend::ChildError e;
    const ssize_t n = sys::retry_eintr([&] { return ::read(a.error_pipe.get(), &e, sizeof e); });
    if (n < 0 && errno == EAGAIN) return;
    unwatch(a.error_pipe.get());
    if (n == static_cast<ssize_t>(sizeof e) && !a.spawn_error) {
        const auto stage = static_cast<backend::ChildStage>(e.stage);
        a.spawn_error = cut_text(
            stage == backend::ChildStage::exec
                ? fmt::format("failed to execute {}: {}", cut_text(program, k_quote_limit),
                              errno_text(e.err))
                : fmt::format("failed to set up {} ({}): {}", a.spec->name,
                              cut_text(backend::stage_text(stage, args, e.detail), k_quote_limit),
                              errno_text(e.err)),
            k_error_limit);
    }
    a.error_pipe.reset();
    // Read after its reap (on_pidfd): its end is what counts, but it did
    // start (a quick `true`), and without a ready source it was ready too.
    if (a.exit_code || a.term_signal) {
        if (!a.spawn_error) started_before_its_exit(i);
        return;
    }
    if (ended_before_its_stop(a)) {
        on_pidfd(i);
        return;
    }
    apply(i, a.spawn_error ? Event::exec_failed : Event::exec_confirmed);
}

void Supervisor::spawn_failed(std::size_t i, std::string error) {
    ActorRun& a = m_actors[i];
    a.spawn_error = cut_text(std::move(error), k_error_limit);
    close_output(a);
    apply(i, Event::spawn_failed);
}

} // namespace forkspawn::supervise
