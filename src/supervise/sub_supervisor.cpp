// SPDX-License-Identifier: MIT
// The sub-supervisor: a nursery actor's own supervisor, in a fork that runs
// on or a fresh image of forkspawn; the child side of its channel.
#include "supervisor_impl.hpp"

#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace forkspawn::supervise {

// The last message to the parent: everything before it arrived. The
// log goes first, for a bounded time (the parent waits for this exit);
// what a log reader that took nothing leaves is dropped, and the count
// goes up so that the root says it once.
void Supervisor::say_goodbye() {
    using std::chrono::duration_cast, std::chrono::milliseconds;
    if (!m_log_sink.drain(duration_cast<milliseconds>(k_output_drain_limit),
                          duration_cast<milliseconds>(k_output_stall)))
        m_output_dropped += m_log_sink.discard();
    send_parent(channel::Exit{m_output_dropped});
    flush_parent(std::chrono::seconds(5));
}

void Supervisor::on_parent(std::uint32_t events) {
    if (!m_parent) return;
    if (events & EPOLLOUT) flush_outbox(m_parent.get(), m_parent_outbox, make_tag(Tag::parent));
    using namespace channel;
    const auto handle = Overload{
        [&](const Cancel& m) {
            log(2, fmt::format("{} cancelled ({})", m_nursery.path, m.reason));
            set_cause(m.reason, k_exit_ok, report::Result::cancelled);
            cancel_all(m.reason);
        },
        [&](const Dump&) { dump_tree(); },
        [&](const TerminalLent&) {
            if (!m_terminal_asked) return;
            m_terminal_lease = true;
            pass_terminal_on();
        },
        [&](const channel::Control& m) {
            if (auto why = control_route(m.id, m.op, m.path, m.signo))
                send_parent(Refused{m.id, *why});
        },
    };
    const bool open = read_messages(m_parent.get(), [&](std::string_view datagram) {
        if (auto message = decode_down(datagram)) std::visit(handle, *message);
    });
    if (open) return;
    // The parent is gone (EOF): nobody will cancel us or read our
    // reports. Tear the subtree down.
    unwatch(m_parent.get());
    m_parent_gone = true;
    m_parent_outbox.clear();
    set_cause("parent_gone", k_exit_failed, report::Result::cancelled);
    cancel_all("parent_gone");
}

void Supervisor::flush_parent(std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    while (m_parent && !m_parent_gone && !m_parent_outbox.empty()) {
        if (!flush_outbox(m_parent.get(), m_parent_outbox, make_tag(Tag::parent))) return;
        if (m_parent_outbox.empty()) return;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        if (left.count() <= 0) return;
        pollfd p{m_parent.get(), POLLOUT, 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
    }
}

// The sub-supervisor: the child of a fork without exec, entered on the
// forkserver thread's stack of the parent's image. It touches only the
// immutable subtree spec it was handed (its own copy) and objects it makes
// itself — a fresh event loop, forkserver thread, signalfd and sinks — and
// leaves with _exit, so nothing of the parent's image (atexit handlers,
// static destructors, stdio buffers) runs twice.
[[noreturn]] void nursery_child_main(void* arg) {
    const NurseryStart& start = *static_cast<const NurseryStart*>(arg);
    // The final mask first, in one call. The forkserver thread forked with
    // every signal blocked; the supervised ones must stay blocked for the
    // signalfd this supervisor makes. Unblocked even for a moment (an empty
    // mask, then blocking them again), a SIGTERM to the group would kill it
    // by the default action instead of cancelling its subtree.
    backend::ChildSetup setup;
    setup.mask = &start.signal_mask;
    setup.started_slot = start.started_slot;
    setup.parent_pid = start.parent_pid;
    setup.fds[0] = {start.channel, 3};
    setup.fds[1] = {start.guardian, 4};
    setup.fds[2] = {start.options.page.fd, 5};
    setup.fd_count = 3;
    setup.keep_cloexec = true; // it runs on without exec
    backend::setup_child(setup);
    const int guardian = start.guardian >= 0 ? 4 : -1;
    const int page = start.options.page.fd >= 0 ? 5 : -1;
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    Options options = start.options;
    options.page.fd = page >= 0 ? 5 : -1;
    ::_exit(run_sub_supervisor(*start.nursery, options, 3, guardian >= 0 ? 4 : -1, start.t0));
}

int run_sub_supervisor(const spec::Actor& nursery, const Options& options, int channel,
                       int guardian, TimePoint t0) {
    try {
        block_supervised_signals();
        Sink log_sink(STDERR_FILENO);
        Supervisor supervisor(nursery, options, log_sink, UniqueFd(channel), t0, guardian);
        const int code = supervisor.run().exit_code;
        supervisor.say_goodbye();
        return code;
    } catch (const std::exception& e) {
        const std::string text =
            fmt::format("forkspawn: error in {}: {}\n", nursery.path, e.what());
        [[maybe_unused]] auto n = ::write(STDERR_FILENO, text.data(), text.size());
        return k_exit_failed;
    }
}

int run_reexec_nursery(const char* options_json) {
    // exec_child set the process group, the parent-death signal and fds
    // 0-4; what is left is to read the subtree, as a root would read a spec.
    // Its parent wrote the options and the subtree: what is wrong with them
    // is an error to say (cli::run prints it), not something to guess past.
    const auto j = nlohmann::json::parse(options_json, nullptr, false);
    if (!j.is_object())
        throw Error(fmt::format("__nursery: the options are not a JSON object: {}", options_json));
    std::string text;
    char buf[65536];
    ssize_t n;
    while ((n = sys::retry_eintr(
                [&] { return ::pread(4, buf, sizeof buf, static_cast<off_t>(text.size())); })) > 0)
        text.append(buf, static_cast<std::size_t>(n));
    if (n < 0)
        throw Error(
            fmt::format("__nursery: cannot read the subtree spec on fd 4: {}", errno_text(errno)));
    ::close(4);
    auto parsed = spec::parse(text);
    if (!parsed.spec)
        throw Error("__nursery: the subtree spec on fd 4 is not valid: " +
                    format_diagnostic("fd 4", parsed.errors.front()));
    spec::Actor nursery = std::move(parsed.spec->root);
    spec::set_paths(nursery, j.value("path", nursery.name));
    Options options;
    options.backend = j.value("backend", "trio");
    options.verbosity = j.value("verbosity", 1);
    options.colour = j.value("colour", false);
    options.prefix_width = std::min(j.value("prefix_width", std::size_t{0}), k_max_prefix_width);
    options.terminal_home = j.value("terminal_home", pid_t{0});
    options.first_slot = j.value("first_slot", std::size_t{0});
    options.cgroup = j.value("cgroup", std::string());
    options.control = j.value("control", false);
    // fd 6 is the page of started pids when the parent had one.
    if (::fcntl(6, F_GETFD) >= 0) {
        ::fcntl(6, F_SETFD, FD_CLOEXEC);
        options.page = backend::map_started_page(6);
    }
    if (options.terminal_home > 0) ignore_terminal_stops(); // exec_child reset them
    options.format = report::Format::none;
    const TimePoint t0{Clock::duration(j.value("t0_ns", std::int64_t{0}))};
    // Started with the actors' fd limit, like any actor: raise it again.
    backend::raise_fd_limit();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    // fd 5 is the guardian's pipe when the parent had one.
    const int guardian = ::fcntl(5, F_GETFD) >= 0 ? 5 : -1;
    if (guardian >= 0) ::fcntl(guardian, F_SETFD, FD_CLOEXEC);
    ::fcntl(3, F_SETFD, FD_CLOEXEC);
    return run_sub_supervisor(nursery, options, 3, guardian, t0);
}

} // namespace forkspawn::supervise
