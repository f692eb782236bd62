// SPDX-License-Identifier: MIT
// The terminal lease: stdin "inherit" on forkspawn's foreground terminal
// goes to one actor of the whole tree at a time, and comes back.
#include "supervisor_impl.hpp"

#include <unistd.h>

namespace forkspawn::supervise {

void Supervisor::wait_for_terminal(std::size_t i) {
    m_terminal_waiting.push_back(i);
    if (!m_terminal_lease && !m_terminal_asked) {
        m_terminal_asked = true;
        send_parent(channel::TerminalWant{true});
    }
    pass_terminal_on();
}

// Hands the free terminal to the first waiting actor that still wants
// it; with nobody left, a sub-supervisor gives its lease back.
void Supervisor::pass_terminal_on() {
    while (m_terminal_lease && !m_terminal_holder && !m_terminal_waiting.empty()) {
        const std::size_t next = m_terminal_waiting.front();
        m_terminal_waiting.pop_front();
        ActorRun& a = m_actors[next];
        if (a.nursery()) {
            if (!a.life.has_process() || !a.channel) continue;
            m_terminal_holder = next;
            send_child(a, channel::TerminalLent{});
        } else if (a.state() == State::waiting && !m_cancel_cause) {
            begin_start(next); // takes the terminal as it starts
        }
    }
    if (!root() && m_terminal_lease && !m_terminal_holder && m_terminal_waiting.empty()) {
        m_terminal_lease = false;
        m_terminal_asked = false;
        send_parent(channel::TerminalWant{false});
    }
}

// The holder ended, or its sub-supervisor gave the lease back: the
// terminal goes back to forkspawn's group, unless a live group other
// than the holder's has it now (the holder's own job control handed it
// on, and that job is still running), and the next one gets it.
void Supervisor::release_terminal(std::size_t i) {
    std::erase(m_terminal_waiting, i);
    if (m_terminal_holder != i) return;
    m_terminal_holder.reset();
    const pid_t home = m_options.terminal_home;
    const pid_t fg = ::tcgetpgrp(STDIN_FILENO);
    if (fg > 0 && fg != home && (fg == m_actors[i].pid || ::kill(-fg, 0) < 0) &&
        ::tcsetpgrp(STDIN_FILENO, home) < 0)
        log(1, fmt::format("cannot take the terminal back from {}: {}", m_actors[i].spec->path,
                           errno_text(errno)));
    pass_terminal_on();
}

} // namespace forkspawn::supervise
