// SPDX-License-Identifier: MIT
// The reaper: an actor's exit through its pidfd, orphans adopted as
// subreaper, actors of a dead sub-supervisor, and the end-of-run kill.
#include "supervisor_impl.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace forkspawn::supervise {

std::size_t Supervisor::count_below(const spec::Actor& a) {
    std::size_t n = 0;
    for (const auto& c : a.actors)
        n += 1 + count_below(c);
    return n;
}

void Supervisor::number_children() {
    std::size_t next = m_options.first_slot;
    for (const auto& child : m_nursery.actors) {
        m_slot.push_back(next);
        next += 1 + count_below(child);
    }
    m_slots_end = next;
}

std::int32_t* Supervisor::started_slot(std::size_t i) const {
    const backend::StartedPage& page = m_options.page;
    return page.slots && m_slot[i] < page.count ? page.slots + m_slot[i] : nullptr;
}

// The actor of entry k below `actors` (whose first entry is `first`).
const spec::Actor* Supervisor::actor_at(const std::vector<spec::Actor>& actors, std::size_t first,
                                        std::size_t k) {
    for (const auto& a : actors) {
        if (k == first) return &a;
        const std::size_t end = first + 1 + count_below(a);
        if (k < end) return actor_at(a.actors, first + 1, k);
        first = end;
    }
    return nullptr;
}

// An adopted process that is an actor deeper in our subtree, forked by a
// sub-supervisor that was killed before it reported it: its entry in the
// page still holds its pid (nobody reaped it; it is our zombie now, so
// the pid cannot have been given to anyone else). Our own children's
// entries are not looked at: they are ours to know.
std::optional<Remote> Supervisor::started_below(pid_t pid) {
    const backend::StartedPage& page = m_options.page;
    if (!page.slots || m_slot.empty()) return std::nullopt;
    const std::size_t end = std::min(m_slots_end, page.count);
    for (std::size_t k = m_slot.front(); k < end; ++k) {
        if (__atomic_load_n(page.slots + k, __ATOMIC_ACQUIRE) != pid ||
            std::binary_search(m_slot.begin(), m_slot.end(), k))
            continue;
        const spec::Actor* a = actor_at(m_nursery.actors, m_slot.front(), k);
        if (!a) return std::nullopt;
        __atomic_store_n(page.slots + k, 0, __ATOMIC_RELEASE);
        return Remote{a->path, kind_of(*a), std::nullopt, 0};
    }
    return std::nullopt;
}

// `resume`: a stop signal is followed by SIGCONT, for a stopped actor cannot
// act on it until it continues (a ctl signal is sent as it is).
void Supervisor::signal_actor(ActorRun& a, int signo, bool resume) {
    if (a.nursery()) {
        // A sub-supervisor is cancelled by message; SIGKILL is the
        // fallback when it does not finish in time.
        if (signo == 0) {
            send_child(a, channel::Cancel{*a.cancel_reason});
        } else {
            a.proc.signal(signo);
            // Its subtree at once, atomically, not only by parent death.
            if (signo == SIGKILL && a.cgroup) a.cgroup.kill();
        }
        return;
    }
    // Kill modes (DESIGN "Kill modes"): `main` sends every step to the
    // main process only, `mixed` all but the final SIGKILL; what the main
    // process leaves behind is killed when it exits (on_pidfd).
    const spec::KillMode mode = a.spec->kill;
    if (mode == spec::KillMode::main || (mode == spec::KillMode::mixed && signo != SIGKILL)) {
        a.proc.signal(signo);
        if (resume && signo != SIGKILL && signo != SIGCONT && signo != SIGSTOP)
            a.proc.signal(SIGCONT);
        return;
    }
    // The group reaches the actor's own children. If the actor left its
    // group (its children may still be in it), the signal through its
    // handle still reaches the actor itself. A group that another actor
    // joined is not signalled as a whole: the signal is this actor's,
    // not its sibling's.
    if (signo == SIGKILL && a.cgroup) a.cgroup.kill(); // nothing forks away from it
    const bool leader_in_group = a.proc.leads_group();
    const bool shared = hosts_other_actors(a.pid);
    const bool group_ok = !shared && a.proc.signal_group(signo) == 0;
    if (!group_ok || !leader_in_group || signo == SIGKILL) a.proc.signal(signo);
    if (resume && signo != SIGKILL && signo != SIGCONT && signo != SIGSTOP) {
        if (shared || a.proc.signal_group(SIGCONT) != 0 || !leader_in_group) a.proc.signal(SIGCONT);
    }
}

bool Supervisor::hosts_other_actors(pid_t pgid) {
    if (!m_group_guests_fresh) {
        m_group_guests.clear();
        for (const auto& b : m_actors) {
            const pid_t g = b.proc.group();
            if (g > 0 && g != b.pid) ++m_group_guests[g];
        }
        m_group_guests_fresh = true;
    }
    return m_group_guests.count(pgid) > 0;
}

// Takes every exit that happened before now, ahead of a signal or a
// deadline: one that comes after the last actor ended has nothing left
// to cancel, and must not be reported as having cancelled the tree.
void Supervisor::reap_exited() {
    for (std::size_t i = 0; i < m_actors.size(); ++i)
        if (m_actors[i].life.has_process() && has_exited(m_actors[i])) on_pidfd(i);
}

void Supervisor::on_pidfd(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (!a.proc) return;
    // Take down what the actor left in its group before the group id can
    // be reused (the leader is a zombie until the reap below); not when
    // another actor joined the group: what the actor left there is
    // adopted by us and killed at the end instead.
    // And what it left in its cgroup, wherever it went (a new session).
    if (a.cgroup) a.cgroup.kill();
    if (!hosts_other_actors(a.pid))
        a.proc.signal_group(SIGKILL);
    else
        log(2, fmt::format("{}: another actor is in its process group; the group is left "
                           "alone",
                           a.spec->path));
    // Out of the epoll set before its pidfd is closed: a child being
    // created holds a copy of the fd until its execve, and with it the
    // epoll entry, which would then report a closed pidfd for ever.
    unwatch(a.proc.fd());
    bool lost = false;
    const auto status = a.proc.reap(&lost);
    if (!status) { // not yet waitable
        watch(a.proc.fd(), make_tag(Tag::pidfd, i), EPOLLIN);
        return;
    }
    if (lost) // reaped by someone else: a bug, but never a reason to spin
        log(0, fmt::format("{}: pid {} was reaped elsewhere; its status is lost", a.spec->path,
                           a.pid));
    const TimePoint now = Clock::now();
    a.exit_code = status->exit_code;
    a.term_signal = status->signal;
    if (status->usage) add_rusage(a.usage, *status->usage, peak_known(a, *status->usage));
    on_error_pipe(i);             // the child is gone: its report, if any, is complete
    if (a.channel) on_channel(i); // and so is everything it sent us
    drain_readiness(i);           // a READY=1 just before its exit still counts
    m_by_pid.erase(a.pid);
    // Reaped: its pid (= its group id) may be reused from now on, so the
    // guardian must never kill that group.
    tell_guardian('-', a.pid);
    // Its cgroup must be empty before it is reported (containment.cpp).
    if (empties(i, now)) return;
    exit_applied(i, now);
}

// A child that shared our memory until its execve (vfork-style backends) has
// at least our own peak as its ru_maxrss: up to there, the number says
// nothing of the program. A sub-supervisor (a fork, or a fresh image) and
// mp_forkserver's children (forked from its small server) are counted as
// themselves.
bool Supervisor::peak_known(const ActorRun& a, const rusage& ru) {
    if (a.nursery() || !m_backend || !m_backend->child_shares_memory()) return true;
    // Our own peak, read once per turn of the loop (a burst of reaps asks
    // once): it only grows, and not by much within one turn.
    if (!m_own_peak_kib) {
        rusage self{};
        ::getrusage(RUSAGE_SELF, &self);
        m_own_peak_kib = self.ru_maxrss;
    }
    return ru.ru_maxrss > *m_own_peak_kib;
}

void Supervisor::exit_applied(std::size_t i, TimePoint now) {
    ActorRun& a = m_actors[i];
    // Cancelled while its execve was pending, it ended on its own before
    // any stop signal: no cancel happened, so it has no cancel reason.
    if (!a.stop().started()) a.cancel_reason.reset();
    // Restarted (after its delay) or ended for good: the restart policy,
    // the nursery's strategy and intensity decide.
    apply(i, Event::exited, now, false, restart_delay(i, now));
    if (!a.done() && a.state() != State::restarting)
        throw std::logic_error(fmt::format("{} was reaped in lifecycle state {}", a.spec->path,
                                           lifecycle::state_name(a.state())));
}

// Reaps orphans adopted as subreaper. Actors forked by a forkserver
// thread are children of that thread, so __WNOTHREAD makes this see only
// the event loop thread's children: adopted orphans (and actors a backend
// spawned from this thread, which are handled through their pidfd).
void Supervisor::reap_orphans() {
    for (;;) {
        siginfo_t info{};
        if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT | __WNOTHREAD) < 0 ||
            info.si_pid == 0)
            return;
        if (auto it = m_by_pid.find(info.si_pid); it != m_by_pid.end()) {
            on_pidfd(it->second);
            continue;
        }
        if (auto it = m_probe_by_pid.find(info.si_pid); it != m_probe_by_pid.end()) {
            on_probe_exit(it->second);
            continue;
        }
        if (auto it = m_remote.find(info.si_pid); it != m_remote.end()) {
            if (remote_is(info.si_pid, it->second)) {
                reap_remote(info.si_pid, it->second);
                continue;
            }
            m_remote.erase(it); // reaped below, and its pid given to this one
        }
        if (auto remote = started_below(info.si_pid)) {
            reap_remote(info.si_pid, *remote);
            continue;
        }
        if (m_backend && m_backend->reap_helper(info.si_pid)) {
            log(1, fmt::format("the {} helper process exited; spawns fail from now on",
                               m_backend->key()));
            continue;
        }
        if (info.si_pid == m_guardian.pid()) {
            ::waitid(P_PID, static_cast<id_t>(info.si_pid), &info, WEXITED | WNOHANG);
            m_guardian.reaped();
            guardian_died();
            continue;
        }
        // A child the backend has created but not reported yet is not
        // an orphan: wait until the backend's answers are in, and taken
        // (a parked nursery spawn can read other answers meanwhile).
        if (m_backend && (m_backend->pending() > 0 || m_in_flight > 0 || m_probes_spawning > 0))
            return;
        siginfo_t reaped{};
        ::waitid(P_PID, static_cast<id_t>(info.si_pid), &reaped, WEXITED | WNOHANG);
        ++m_orphans;
        log(2, fmt::format("reaped orphan pid {}", info.si_pid));
    }
}

// An actor of a nursery below us whose sub-supervisor died: it was
// adopted by us (the nearest living subreaper) and killed by its
// parent-death signal. Report it with what we know.
void Supervisor::reap_remote(pid_t pid, const Remote& remote) {
    ::kill(-pid, SIGKILL); // its group, while the zombie keeps the id ours
    siginfo_t info{};
    rusage ru{};
    const bool reaped =
        ::syscall(SYS_waitid, P_PID, pid, &info, WEXITED | WNOHANG, &ru) == 0 && info.si_pid == pid;
    tell_guardian('-', pid);
    report::ActorReport r;
    r.path = remote.path;
    r.name = remote.path.substr(remote.path.rfind('/') + 1);
    r.kind = remote.kind;
    r.backend = m_options.backend;
    r.pid = pid;
    if (info.si_code == CLD_EXITED) {
        r.exit_code = info.si_status;
        r.outcome = info.si_status == 0 ? Outcome::completed : Outcome::failed;
    } else {
        r.signal = signal_name(info.si_status);
        r.outcome = info.si_status == SIGKILL ? Outcome::killed : Outcome::failed;
    }
    r.status = report::status_text(r.exit_code, r.signal);
    if (reaped) {
        std::optional<report::Usage> usage;
        add_rusage(usage, ru);
        r.usage = usage;
    }
    r.cancel_reason = "supervisor_killed";
    r.started_ms = remote.started_ms;
    r.ended_ms = ms_since_start(Clock::now());
    if (remote.started_ms) r.runtime_ms = *r.ended_ms - *remote.started_ms;
    m_remote.erase(pid);
    log(1, fmt::format("{} was orphaned by its supervisor; reaped ({})", r.path, *r.status));
    publish(r);
}

// Every actor is reaped. Whatever is still our child escaped its actor
// (double fork, setsid) and was adopted: stop it and what it started,
// kill them, reap, repeat until nothing is left. The root sweeps the
// whole tree by its FORKSPAWN_TREE id as the guardian would after a
// kill -9 (a setsid fork bomb below an adopted child is found, stopped
// and killed at once); a sub-supervisor takes only its own children, as
// the rest of the tree is not over yet. Nothing here blocks: the sweep
// and the waits for deaths have the deadline. False when something was
// still alive when it passed.
bool Supervisor::kill_orphans(Duration budget) {
    // The guardian's pid is asked each round: one that dies meanwhile
    // is replaced by the reap, and the new one is spared too.
    return kill_escaped(
        root() ? m_guardian.id() : std::string_view{},
        [this] { return std::vector<pid_t>{m_guardian.pid()}; }, Clock::now() + budget,
        [this] { reap_orphans(); },
        [this](std::size_t killed) {
            log(2, fmt::format("killed escaped process(es): {}", killed));
        });
}

// An internal error: the loop cannot go on, and nothing it started may
// outlive it. The backend stops first (no new spawns), every actor's
// handle and group gets SIGKILL, the root's guardian kills every
// registered group and sweeps the tree, then the actors are reaped
// (bounded) for the report and whatever was adopted is killed. Memory
// may be what ran out: the kills come first and need no allocation;
// each later step that allocates is guarded.
void Supervisor::emergency_teardown() noexcept {
    try {
        log(0, fmt::format("internal error in {}: {}; killing everything it started",
                           m_nursery.path, m_internal_error.data()));
    } catch (...) {
    }
    try {
        m_backend.reset();
    } catch (...) {
    }
    if (m_cgroup_home && m_cgroup_home.made_here()) m_cgroup_home.kill(); // the whole run
    for (auto& a : m_actors) {
        if (a.cgroup) a.cgroup.kill();
        if (!a.proc) continue;
        a.proc.signal_group(SIGKILL); // the unreaped leader keeps the group id ours
        a.proc.signal(SIGKILL);
    }
    if (root()) m_guardian.kill_tree(Clock::now() + k_guardian_sweep_limit);
    const TimePoint until = Clock::now() + std::chrono::seconds(5);
    for (auto& a : m_actors) {
        if (a.done()) continue;
        if (a.proc) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            pollfd p{a.proc.fd(), POLLIN, 0};
            ::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 0)));
            if (const auto status = a.proc.reap()) {
                a.exit_code = status->exit_code;
                a.term_signal = status->signal;
                if (status->usage) add_rusage(a.usage, *status->usage);
                guardian_notify(m_guardian_fd, '-', a.pid); // no allocation here
            }
            a.proc.release();
        }
        a.life.abandon();
        a.ended = Clock::now();
        if (!a.started)
            a.outcome = Outcome::not_started;
        else if (a.exit_code)
            a.outcome = *a.exit_code == 0 ? Outcome::completed : Outcome::failed;
        else
            a.outcome = a.term_signal == SIGKILL ? Outcome::killed : Outcome::failed;
        if (a.outcome != Outcome::completed && !a.cancel_reason) a.cancel_reason = "internal_error";
        try {
            publish(make_report(a));
        } catch (...) {
        }
    }
    try {
        // What the actors left and we adopted (an env_clear actor's
        // setsid daemon carries no FORKSPAWN_TREE).
        kill_orphans(std::chrono::seconds(3));
        drain_outputs();
    } catch (...) {
    }
}

} // namespace forkspawn::supervise
