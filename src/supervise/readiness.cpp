// SPDX-License-Identifier: MIT
// Dependencies and readiness (DESIGN "Dependencies and readiness"): a child
// starts once its `after` conditions hold, or never (dependency_failed);
// an actor becomes ready through its source (sd_notify, a notification
// fd, an output line, a tcp connect) within its ready.timeout; a ready
// notify actor feeds its watchdog; and a nursery that stops its children
// stops dependents before what they depend on.
#include "supervisor_impl.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <re2/re2.h>
#include <sys/un.h>
#include <unistd.h>

namespace forkspawn::supervise {

void RegexDeleter::operator()(re2::RE2* re) const noexcept {
    delete re;
}

// Whether actor i may start: every `after` condition holds (open), one may
// still come to hold (wait), or one never can (its sibling ended for good
// without meeting it).
Supervisor::Gate Supervisor::dependencies_met(std::size_t i, const After** unmet) const {
    Gate gate = Gate::open;
    for (const After& dep : m_actors[i].spec->after) {
        const ActorRun& d = m_actors[dep.index];
        const bool over = d.done();
        bool held = false;
        switch (dep.condition) {
        case AfterCondition::started:
            held = d.was_started;
            break;
        case AfterCondition::ready:
            held = d.was_ready;
            break;
        case AfterCondition::completed:
            held = over && d.outcome == Outcome::completed;
            break;
        case AfterCondition::ended:
            held = over;
            break;
        }
        if (held) continue;
        if (over) {
            if (unmet) *unmet = &dep;
            return Gate::never;
        }
        gate = Gate::wait;
    }
    return gate;
}

// What a command actor's readiness needs before its spawn: its notify
// socket (NOTIFY_SOCKET, an abstract name the kernel picks), its
// notification pipe, its compiled expression. False with errno set.
bool Supervisor::prepare_readiness(std::size_t i, backend::CommandExtras& extras) {
    ActorRun& a = m_actors[i];
    const Ready& r = a.spec->ready;
    switch (r.source) {
    case Ready::Source::notify: {
        UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!sock) return false;
        const int on = 1;
        if (::setsockopt(sock.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0) return false;
        // Autobind: a unique abstract name, gone with the socket.
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(sa_family_t)) < 0)
            return false;
        socklen_t len = sizeof addr;
        if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len) < 0) return false;
        const std::size_t name_len = len - offsetof(sockaddr_un, sun_path);
        if (name_len < 2 || addr.sun_path[0] != '\0') {
            errno = EPROTO;
            return false;
        }
        extras.env.push_back("NOTIFY_SOCKET=@" + std::string(addr.sun_path + 1, name_len - 1));
        if (a.spec->watchdog)
            extras.env.push_back(fmt::format(
                "WATCHDOG_USEC={}",
                std::chrono::duration_cast<std::chrono::microseconds>(*a.spec->watchdog).count()));
        a.ready_fd = std::move(sock);
        break;
    }
    case Ready::Source::fd: {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) < 0) return false;
        a.ready_fd = UniqueFd(fds[0]);
        extras.notify_fd = UniqueFd(fds[1]);
        extras.notify_target = r.fd;
        sys::set_nonblocking(a.ready_fd.get());
        break;
    }
    case Ready::Source::output:
        if (!a.ready_re) {
            a.ready_re.reset(new re2::RE2(r.pattern, re2::RE2::Quiet));
            if (!a.ready_re->ok()) { // checked by the spec's parse already
                a.ready_re.reset();
                errno = EINVAL;
                return false;
            }
        }
        break;
    case Ready::Source::none:
    case Ready::Source::exec:
    case Ready::Source::tcp:
        break;
    }
    return true; // ready_fd is watched once the spawn is reported (started)
}

// Its execve was confirmed (a nursery: its sub-supervisor runs): it is
// started, and ready now unless a source has to say so.
void Supervisor::on_running(std::size_t i, TimePoint now) {
    ActorRun& a = m_actors[i];
    a.was_started = true;
    const Ready& r = a.spec->ready;
    if (r.source == Ready::Source::none || a.ready_early) {
        mark_ready(i, now);
    } else {
        a.ready_due = now + r.timeout;
        add_timer(*a.ready_due, TimerKind::not_ready, i);
        if (r.source == Ready::Source::tcp) try_tcp(i, now);
        if (r.source == Ready::Source::exec) start_probe(i, now);
    }
    if (!m_blocked.empty()) start_more();
}

void Supervisor::mark_ready(std::size_t i, TimePoint now) {
    ActorRun& a = m_actors[i];
    if (a.was_ready) return;
    // Only its program can say it: its execve succeeded, whether or not the
    // exec-error pipe said so yet (an actor that exits at once is reaped
    // before that is read).
    if (a.state() == State::execing) apply(i, Event::exec_confirmed, now);
    if (a.state() == State::starting) {
        a.ready_early = true; // its spawn is not reported yet: ready once it runs
        return;
    }
    if (a.state() != State::running) return;
    apply(i, Event::ready, now);
    a.was_ready = true;
    a.ready_at = now;
    a.ready_due.reset();
    a.probe_due.reset();
    if (a.probe_fd) {
        unwatch(a.probe_fd.get());
        a.probe_fd.reset();
    }
    if (a.spec->ready.source == Ready::Source::fd && a.ready_fd) {
        unwatch(a.ready_fd.get()); // s6: the fd has done its job
        a.ready_fd.reset();
    }
    if (a.spec->watchdog) {
        a.watchdog_due = now + *a.spec->watchdog;
        add_timer(*a.watchdog_due, TimerKind::watchdog, i);
    }
    // Without a source it is ready as it starts: its report says when, and
    // the event stream stays one line per start.
    if (a.spec->ready.source != Ready::Source::none) {
        log(2,
            fmt::format("{} is ready ({})", a.spec->path, ready_source_name(a.spec->ready.source)));
        publish_ready({a.spec->path, a.attempt, ms_since_start(now)});
    }
    if (!m_blocked.empty()) start_more();
}

void Supervisor::publish_ready(const channel::Ready& m) {
    if (!root()) {
        send_parent(m);
        return;
    }
    if (wants_events()) emit_event(report::jsonl_ready(m.path, m.attempt, m.ready_ms));
}

void Supervisor::on_ready_fd(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (!a.ready_fd) return;
    if (a.spec->ready.source == Ready::Source::notify) {
        on_notify(i);
        return;
    }
    // The notification fd: the first newline makes it ready.
    char buf[512];
    for (int rounds = 0; rounds < 8; ++rounds) {
        const ssize_t n =
            sys::retry_eintr([&] { return ::read(a.ready_fd.get(), buf, sizeof buf); });
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            // Closed without a newline: only its ready.timeout is left.
            log(1, fmt::format("{} closed its notification fd {} without writing a newline",
                               a.spec->path, a.spec->ready.fd));
            unwatch(a.ready_fd.get());
            a.ready_fd.reset();
            return;
        }
        if (std::string_view(buf, static_cast<std::size_t>(n)).find('\n') !=
            std::string_view::npos) {
            mark_ready(i, Clock::now());
            return;
        }
    }
}

// sd_notify datagrams: "KEY=VALUE" lines. Only the actor's own processes
// (its main process, or one of its process group) are heard: the kernel
// vouches for the sender's pid (SCM_CREDENTIALS).
void Supervisor::on_notify(std::size_t i) {
    ActorRun& a = m_actors[i];
    char buf[4096];
    for (int rounds = 0; rounds < 64 && a.ready_fd; ++rounds) {
        iovec iov{buf, sizeof buf};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 16)];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = sys::retry_eintr(
            [&] { return ::recvmsg(a.ready_fd.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); });
        if (n < 0) return; // EAGAIN: all read
        const ucred* cred = nullptr;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET) continue;
            if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(ucred)))
                cred = reinterpret_cast<const ucred*>(CMSG_DATA(c));
            if (c->cmsg_type == SCM_RIGHTS) // fds to store: not kept
                for (std::size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++k) {
                    int fd;
                    std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
                    ::close(fd);
                }
        }
        if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) continue;
        const pid_t sender = cred ? cred->pid : 0;
        const bool ours =
            sender > 0 && a.pid > 0 && (sender == a.pid || ::getpgid(sender) == a.pid);
        if (!ours) {
            log(2, fmt::format("{}: ignored a notification from pid {}, not one of its processes",
                               a.spec->path, sender));
            continue;
        }
        const TimePoint now = Clock::now();
        std::string_view text(buf, static_cast<std::size_t>(n));
        while (!text.empty()) {
            const std::size_t nl = text.find('\n');
            const std::string_view line = text.substr(0, nl);
            text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
            if (line == "READY=1") {
                mark_ready(i, now);
            } else if (line.starts_with("STATUS=")) {
                a.status_text = cut_text(std::string(line.substr(7)), k_quote_limit);
                live_changed(i);
            } else if (line == "WATCHDOG=1") {
                if (a.spec->watchdog && a.was_ready) {
                    a.watchdog_due = now + *a.spec->watchdog;
                    add_timer(*a.watchdog_due, TimerKind::watchdog, i);
                }
            } else if (line == "WATCHDOG=trigger") {
                if (a.spec->watchdog)
                    readiness_failed(i, "watchdog", "asked for its watchdog (WATCHDOG=trigger)");
            } else if (line == "RELOADING=1" || line == "STOPPING=1") {
                log(2, fmt::format("{} says {}", a.spec->path, line));
            }
            if (!a.ready_fd) return; // stopped meanwhile
        }
    }
}

// A tcp readiness try: a non-blocking connect, answered by EPOLLOUT; the
// next try (and the end of this one) comes after `interval`.
void Supervisor::try_tcp(std::size_t i, TimePoint now) {
    ActorRun& a = m_actors[i];
    const Ready& r = a.spec->ready;
    if (a.probe_fd) {
        unwatch(a.probe_fd.get());
        a.probe_fd.reset();
    }
    a.probe_due = now + r.interval;
    add_timer(*a.probe_due, TimerKind::probe, i);
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
        ::inet_pton(AF_INET, r.host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(r.port);
        len = sizeof *v4;
    } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
               ::inet_pton(AF_INET6, r.host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(r.port);
        len = sizeof *v6;
    } else {
        return; // checked by the spec's parse
    }
    UniqueFd sock(::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!sock) {
        log(1, fmt::format("{}: tcp readiness try: socket: {}", a.spec->path, errno_text(errno)));
        return;
    }
    if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0) {
        mark_ready(i, now);
        return;
    }
    if (errno != EINPROGRESS) return; // refused at once: the next try
    a.probe_fd = std::move(sock);
    watch(a.probe_fd.get(), make_tag(Tag::probe, i), EPOLLOUT);
}

void Supervisor::on_probe(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (!a.probe_fd) return;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(a.probe_fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    unwatch(a.probe_fd.get());
    a.probe_fd.reset();
    if (err == 0) mark_ready(i, Clock::now());
}

void Supervisor::readiness_timer(TimerKind kind, std::size_t i, TimePoint now) {
    ActorRun& a = m_actors[i];
    switch (kind) {
    case TimerKind::not_ready:
        if (!a.ready_due || now < *a.ready_due || a.was_ready) return;
        readiness_failed(i, "not_ready",
                         fmt::format("was not ready within {} (ready: {})",
                                     format_duration(a.spec->ready.timeout),
                                     ready_source_name(a.spec->ready.source)));
        return;
    case TimerKind::watchdog:
        if (!a.watchdog_due || now < *a.watchdog_due || a.state() != State::ready) return;
        readiness_failed(
            i, "watchdog",
            fmt::format("sent no WATCHDOG=1 for {}", format_duration(*a.spec->watchdog)));
        return;
    case TimerKind::probe:
        if (!a.probe_due || now < *a.probe_due || a.was_ready || a.state() != State::running)
            return;
        if (a.spec->ready.source == Ready::Source::tcp) {
            try_tcp(i, now);
        } else if (a.probe) {
            // Ran its whole interval: killed, and the next one starts once
            // it is reaped.
            log(2, fmt::format("{}: its readiness probe ran past {}; killed", a.spec->path,
                               format_duration(a.spec->ready.interval)));
            kill_probe(a);
        } else if (!a.probe_spawning) {
            start_probe(i, now);
        }
        return;
    default:
        return;
    }
}

// Its readiness failed it: like its own timeout, a failure that stops it
// with its stop sequence and is restarted per its policy.
void Supervisor::readiness_failed(std::size_t i, const std::string& reason, std::string what) {
    ActorRun& a = m_actors[i];
    if (!a.life.has_process() || a.life.cancelled() || a.exit_code || a.term_signal ||
        exited_unreaped(a))
        return;
    log(1, fmt::format("{} {}; stopping it", a.spec->path, what));
    a.failed = true;
    a.ready_due.reset();
    a.watchdog_due.reset();
    stop_actor(i, reason);
    if (a.spec->restart == RestartPolicy::never) nursery_failed(i);
}

// One exec probe: the probe's argv with the actor's environment and
// directory, stdio on /dev/null, a process group of its own (registered
// with the guardian like an actor's); never in the report. The next try
// comes `interval` after this one started.
void Supervisor::start_probe(std::size_t i, TimePoint now) {
    ActorRun& a = m_actors[i];
    if (a.probe_spawning || a.probe) return;
    const Ready& r = a.spec->ready;
    a.probe_due = now + r.interval;
    add_timer(*a.probe_due, TimerKind::probe, i);
    spec::Actor probe;
    probe.name = a.spec->name;
    probe.argv = r.argv;
    probe.env = a.spec->env;
    probe.env_clear = a.spec->env_clear;
    probe.cwd = a.spec->cwd;
    probe.execution = a.spec->execution; // as the actor's user, with its limits
    UniqueFd in = dup_fd(m_dev_null.get()), out = dup_fd(m_dev_null.get());
    if (!in || !out) {
        log(1, fmt::format("{}: readiness probe: {}", a.spec->path, errno_text(errno)));
        return;
    }
    a.probe_cmd = std::make_unique<backend::PreparedCommand>(probe, environ, std::move(in),
                                                             std::move(out), UniqueFd());
    if (const auto why = a.probe_cmd->setup_error()) {
        if (!a.probe_missing) // said once
            log(1,
                fmt::format("{}: readiness probe: {}: {}", a.spec->path, why->what, why->reason));
        a.probe_missing = true;
        a.probe_cmd.reset();
        return;
    }
    if (!a.probe_cmd->found()) {
        if (!a.probe_missing) // said once
            log(1, fmt::format("{}: readiness probe {}: {}", a.spec->path,
                               cut_text(r.argv.front(), k_quote_limit), errno_text(ENOENT)));
        a.probe_missing = true;
        a.probe_cmd.reset();
        return;
    }
    a.probe_spawning = true;
    ++m_probes_active;
    ++m_probes_spawning;
    backend::SpawnRequest request{k_probe_id | i, a.probe_cmd->args()};
    m_backend->submit(request);
}

void Supervisor::probe_started(std::size_t i, backend::SpawnCompletion done) {
    ActorRun& a = m_actors[i];
    a.probe_spawning = false;
    --m_probes_spawning;
    a.probe_cmd.reset(); // the child has its copies
    if (done.pid < 0) {
        --m_probes_active;
        log(1, fmt::format("{}: readiness probe: {}", a.spec->path,
                           done.refused.empty() ? errno_text(done.error) : done.refused));
        return;
    }
    if (!done.pidfd) { // untrackable: killed, and reaped as an orphan
        ::kill(done.pid, SIGKILL);
        --m_probes_active;
        return;
    }
    a.probe = ProcessHandle(done.pid, std::move(done.pidfd));
    a.probe_killed = false;
    m_probe_by_pid[done.pid] = i;
    tell_guardian('+', done.pid);
    watch(a.probe.fd(), make_tag(Tag::probe_exit, i), EPOLLIN);
    if (a.state() != State::running || a.was_ready) kill_probe(a); // no longer needed
}

void Supervisor::kill_probe(ActorRun& a) {
    if (!a.probe || a.probe_killed) return;
    a.probe.signal_group(SIGKILL);
    a.probe_killed = true;
}

// A probe exited: exit 0 makes its actor ready; any other end waits for
// the next try (now, when its interval has passed already).
void Supervisor::on_probe_exit(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (!a.probe) return;
    const pid_t pid = a.probe.pid();
    a.probe.signal_group(SIGKILL); // what it left in its group
    unwatch(a.probe.fd());
    const auto status = a.probe.reap();
    if (!status) {
        watch(a.probe.fd(), make_tag(Tag::probe_exit, i), EPOLLIN);
        return;
    }
    m_probe_by_pid.erase(pid);
    tell_guardian('-', pid);
    --m_probes_active;
    a.probe_killed = false;
    if (a.state() != State::running || a.was_ready) return;
    const TimePoint now = Clock::now();
    if (status->exit_code == 0) {
        mark_ready(i, now);
    } else if (a.probe_due && now >= *a.probe_due) {
        start_probe(i, now);
    }
}

// Its execve succeeded, and it exited before that was read: it started
// (and was ready, without a source), for its dependents.
void Supervisor::started_before_its_exit(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (a.was_started) return;
    a.was_started = true;
    if (a.spec->ready.source == Ready::Source::none && !a.was_ready) {
        a.was_ready = true;
        a.ready_at = Clock::now();
    }
}

// Its process exited: what its readiness source holds was said while it
// ran, and is read before its exit is applied.
void Supervisor::drain_readiness(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (a.was_ready) return;
    if (a.ready_early) { // said before its spawn was reported
        a.ready_early = false;
        mark_ready(i, Clock::now());
        return;
    }
    switch (a.spec->ready.source) {
    case Ready::Source::notify:
    case Ready::Source::fd:
        if (a.ready_fd) on_ready_fd(i);
        break;
    case Ready::Source::output:
        if (a.output) on_output(i);
        break;
    default:
        break;
    }
}

// An attempt's readiness ends with it. What its notify socket holds was
// sent before its end, and is read first (a STATUS=, or a stranger).
void Supervisor::close_readiness(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (a.spec->ready.source == Ready::Source::notify && a.ready_fd) on_notify(i);
    kill_probe(a);
    for (UniqueFd* fd : {&a.ready_fd, &a.probe_fd})
        if (*fd) {
            unwatch(fd->get());
            fd->reset();
        }
    a.ready_due.reset();
    a.watchdog_due.reset();
    a.probe_due.reset();
}

// A line of actor i's output, for its ready.output; true when the line is
// only for matching (its output is "null").
bool Supervisor::match_ready_line(std::size_t i, std::string_view line) {
    ActorRun& a = m_actors[i];
    if (a.ready_re && !a.was_ready &&
        re2::RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *a.ready_re))
        mark_ready(i, Clock::now());
    return a.spec->ready.source == Ready::Source::output &&
           a.spec->output.mode != spec::Output::Mode::prefix;
}

void Supervisor::index_dependents() {
    m_dependents.assign(m_actors.size(), {});
    for (std::size_t j = 0; j < m_actors.size(); ++j)
        for (const After& dep : m_actors[j].spec->after)
            m_dependents[dep.index].push_back(j);
}

// Whether a sibling that depends on actor i, directly or through others
// (which may have ended: web after migrate after db), is still alive and is
// being stopped too: i's own stop waits for its reap.
bool Supervisor::has_stopping_dependent(std::size_t i) const {
    if (m_dependents[i].empty()) return false;
    std::vector<bool> seen(m_actors.size(), false);
    std::vector<std::size_t> todo{i};
    while (!todo.empty()) {
        const std::size_t k = todo.back();
        todo.pop_back();
        for (const std::size_t j : m_dependents[k]) {
            if (seen[j]) continue;
            seen[j] = true;
            const ActorRun& d = m_actors[j];
            // A process of it exists, or is being made (not: waiting to
            // start, waiting for its restart, ended).
            const bool alive = d.state() != State::waiting && d.state() != State::restarting &&
                               !d.done();
            if (alive && (d.stop_pending || d.life.cancelled())) return true;
            todo.push_back(j);
        }
    }
    return false;
}

// Begins every stop that waits no longer: stops marked by cancel_where
// whose dependents are all reaped. Not re-entered: a stop that ends an
// actor at once (one not started) asks again, and the loop goes round.
void Supervisor::release_stops() {
    if (m_releasing) {
        m_release_again = true;
        return;
    }
    m_releasing = true;
    do {
        m_release_again = false;
        for (std::size_t i = 0; i < m_actors.size() && m_pending_stops > 0; ++i) {
            ActorRun& a = m_actors[i];
            if (!a.stop_pending) continue;
            if (!a.done() && has_stopping_dependent(i)) continue;
            const std::string reason = *a.stop_pending;
            clear_stop_pending(a);
            if (!a.done()) cancel_actor(i, reason);
        }
    } while (m_release_again);
    m_releasing = false;
}

} // namespace forkspawn::supervise
