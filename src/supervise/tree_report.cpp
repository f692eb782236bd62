// SPDX-License-Identifier: MIT
#include "forkspawn/tree_report.hpp"

namespace forkspawn::supervise {

TreeReport::TreeReport(const spec::Actor& root, const std::string& backend) {
    add(root, backend);
}

void TreeReport::add(const spec::Actor& nursery, const std::string& backend) {
    for (const auto& a : nursery.actors) {
        report::ActorReport r;
        r.path = a.path;
        r.name = a.name;
        r.kind = a.kind == spec::Kind::command ? report::Kind::cmd : report::Kind::nursery;
        r.backend = backend;
        m_index[r.path] = m_entries.size();
        m_entries.push_back(std::move(r));
        add(a, backend);
    }
}

void TreeReport::spawned(const std::string& path, pid_t pid, double started_ms) {
    const auto it = m_index.find(path);
    if (it == m_index.end()) return;
    m_entries[it->second].pid = pid;
    m_entries[it->second].started_ms = started_ms;
}

void TreeReport::reaped(const report::ActorReport& r) {
    if (const auto it = m_index.find(r.path); it != m_index.end()) m_entries[it->second] = r;
}

std::vector<report::ActorReport> TreeReport::finish() const {
    std::vector<report::ActorReport> out = m_entries;
    for (auto& entry : out) {
        if (entry.ended_ms) continue;
        const auto parent = m_index.find(entry.path.substr(0, entry.path.rfind('/')));
        // Depth-first: its nursery's entry is final already.
        const report::ActorReport* up = parent == m_index.end() ? nullptr : &out[parent->second];
        const bool nursery_never_ran =
            up && !up->pid && !(up->error && up->error->starts_with("unknown:"));
        if (entry.pid) {
            // Spawned, its end never reported: its supervisor died and it
            // ended somewhere nobody could see.
            entry.outcome = report::Outcome::killed;
            entry.cancel_reason = "supervisor_killed";
            entry.error = "its supervisor died before reporting how it ended";
        } else if (nursery_never_ran) {
            // Never started because its nursery never was (cancelled before
            // its spawn, or its spawn failed).
            entry.cancel_reason = up->cancel_reason;
        } else if (up) {
            entry.error = "unknown: its supervisor died before reporting on it";
        }
    }
    return out;
}

} // namespace forkspawn::supervise
