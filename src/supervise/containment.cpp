// SPDX-License-Identifier: MIT
// Containment (DESIGN "Containment"): one cgroup v2 per run, made where
// forkspawn stands, and below it one per actor, mirroring the tree (a
// nursery's cgroup holds its children's). A command actor's child joins its
// cgroup before anything else (child_exec.cpp), so nothing it starts is ever
// outside; a hard kill is cgroup.kill (atomic with respect to fork), and an
// actor is reported only once its cgroup is empty. Sub-supervisors stay in
// forkspawn's own cgroup: they are forkspawn.
#include "supervisor_impl.hpp"

namespace forkspawn::supervise {

void Supervisor::setup_cgroups() {
    if (m_options.cgroup.empty()) return;
    int err = 0;
    cgroup::Cgroup home = cgroup::Cgroup::open_existing(m_options.cgroup, &err);
    if (home && root()) {
        // The run's cgroup, named after the tree's id: no other run can
        // have made it, and the guardian finds it after a kill -9.
        home = cgroup::Cgroup::make(home.fd(), home.path(), m_guardian.cgroup_name(), &err);
        if (home) {
            const std::string enabled = home.enable_controllers();
            log(2, fmt::format("cgroup {} made{}", home.path(),
                               enabled.empty() ? "" : "; controllers: " + enabled));
        }
    }
    if (!home) {
        const std::string why =
            fmt::format("cannot use the cgroup {}{}: {}", m_options.cgroup,
                        root() ? "/" + m_guardian.cgroup_name() : "", errno_text(err));
        if (root() && m_options.cgroup_required) throw Error("--cgroup=on: " + why);
        log(1, why + "; actors are contained by process groups only");
        return;
    }
    m_cgroup_home = std::move(home);
    m_containment = "cgroup";
}

bool Supervisor::prepare_cgroup(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (!m_cgroup_home || a.cgroup) return true;
    int err = 0;
    a.cgroup = cgroup::Cgroup::make(m_cgroup_home.fd(), m_cgroup_home.path(), a.spec->name, &err,
                                    /*hold_parent=*/false);
    if (a.cgroup) return true;
    spawn_failed(i, fmt::format("failed to set up {} (make cgroup {}/{}): {}", a.spec->name,
                                m_cgroup_home.path(), a.spec->name, errno_text(err)));
    return false;
}

bool Supervisor::empties(std::size_t i, TimePoint now) {
    ActorRun& a = m_actors[i];
    if (!a.cgroup || !a.cgroup.populated().value_or(false)) return false;
    // Killed already (on_pidfd); its events file says when the last of it
    // is gone. Read once before it is watched: a change after the read is
    // then always signalled.
    a.cgroup_events = a.cgroup.open_events();
    apply(i, Event::main_exited, now);
    if (a.cgroup_events) watch(a.cgroup_events.get(), make_tag(Tag::cgroup, i), EPOLLPRI);
    log(2,
        fmt::format("{}: its cgroup still holds processes; waiting for them to die", a.spec->path));
    on_cgroup(i); // it may be empty already
    return true;
}

void Supervisor::on_cgroup(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (a.state() != State::emptying) return;
    if (a.cgroup.populated().value_or(false)) return;
    if (a.cgroup_events) unwatch(a.cgroup_events.get());
    a.cgroup_events.reset();
    exit_applied(i, Clock::now());
}

void Supervisor::emptying_deadline(std::size_t i, TimePoint now) {
    ActorRun& a = m_actors[i];
    const auto due = a.life.deadline();
    if (!due || now < *due) return; // never early
    log(0, fmt::format("{}: its cgroup {} still holds processes {} after SIGKILL; reported "
                       "anyway",
                       a.spec->path, a.cgroup.path(),
                       format_duration(lifecycle::Lifecycle::k_empty_limit)));
    if (a.cgroup_events) unwatch(a.cgroup_events.get());
    a.cgroup_events.reset();
    exit_applied(i, now);
}

void Supervisor::end_cgroup(ActorRun& a) {
    if (!a.cgroup) return;
    if (!a.usage) { // nothing of it ran (its spawn failed before the fork)
        remove_cgroup(a);
        return;
    }
    // Its CPU time from the cgroup (everything it started, all attempts);
    // its peak memory too where the memory controller counts it, else the
    // rusage of its main processes stays.
    const cgroup::Usage u = a.cgroup.usage();
    if (u.cpu_user_ms && u.cpu_system_ms) {
        report::Usage usage = *a.usage; // it ran (an actor that never did returned above)
        usage.cpu_user_ms = *u.cpu_user_ms;
        usage.cpu_system_ms = *u.cpu_system_ms;
        if (u.memory_peak_bytes) {
            usage.max_rss_kib = *u.memory_peak_bytes / 1024;
            usage.source = "cgroup";
        } else {
            // The peak is rusage's, when it is known at all.
            usage.source = usage.max_rss_kib ? "cgroup+rusage" : "cgroup";
        }
        a.usage = usage;
    }
    remove_cgroup(a);
}

void Supervisor::remove_cgroup(ActorRun& a) {
    const std::string path = a.cgroup.path();
    // A nursery's holds its children's, which its sub-supervisor removed
    // unless it was killed: then they are removed here (empty by now).
    if (a.nursery()) {
        a.cgroup = cgroup::Cgroup();
        if (!cgroup::remove_tree(path, Clock::now()))
            log(1,
                fmt::format("cannot remove the cgroup {} yet; it is removed with the run's", path));
        return;
    }
    if (a.cgroup.remove_in(m_cgroup_home.fd()) < 0)
        log(1, fmt::format("cannot remove the cgroup {} yet ({}); it is removed with the run's",
                           path, errno_text(errno)));
    a.cgroup = cgroup::Cgroup();
}

void Supervisor::remove_run_cgroup() {
    if (!m_cgroup_home || !m_cgroup_home.made_here()) return;
    // Every actor was reaped and its cgroup emptied: whatever is left was
    // moved in by hand, or escaped the emptying's deadline.
    const std::string path = m_cgroup_home.path();
    m_cgroup_home.kill();
    m_cgroup_home = cgroup::Cgroup();
    if (!cgroup::remove_tree(path, Clock::now() + std::chrono::seconds(5)))
        log(0, fmt::format("cannot remove the run's cgroup {}: processes are still in it", path));
}

} // namespace forkspawn::supervise
