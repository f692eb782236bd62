// SPDX-License-Identifier: MIT
// The output mux: actors' output cut into lines and prefixed into the log,
// with back-pressure on the pipes when the log's reader is slow.
#include "supervisor_impl.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace forkspawn::supervise {

void Supervisor::emit_line(std::size_t i, std::string_view line) {
    ActorRun& a = m_actors[i];
    if (a.spec->ready.source == Ready::Source::output && match_ready_line(i, line)) {
        // Read for ready.output only: its own output goes where it said.
        if (a.output_file) {
            std::string text(line);
            text += '\n';
            if (::write(a.output_file.get(), text.data(), text.size()) !=
                static_cast<ssize_t>(text.size()))
                m_output_dropped += text.size();
        }
        return;
    }
    if (a.spec->output.mode == spec::Output::Mode::null) return; // read for its tail only
    if (m_options.colour) {
        const char* colour = k_prefix_colours[i % std::size(k_prefix_colours)];
        m_log_sink.write(fmt::format("{}{:<{}} |\x1b[0m {}\n", colour, a.spec->path,
                                     m_options.prefix_width, line));
    } else {
        m_log_sink.write(fmt::format("{:<{}} | {}\n", a.spec->path, m_options.prefix_width, line));
    }
}

// Reads what is there now; false at EOF. Unfinished lines count against
// one budget for all actors: past it, each is printed as it is.
bool Supervisor::on_output(std::size_t i) {
    ActorRun& a = m_actors[i];
    m_partial_bytes -= a.lines.held();
    const bool open = read_output(i);
    m_partial_bytes += a.lines.held();
    if (m_partial_bytes > k_partial_budget) {
        for (std::size_t k = 0; k < m_actors.size(); ++k)
            m_actors[k].lines.flush([&](std::string_view line) { emit_line(k, line); });
        m_partial_bytes = 0;
    }
    after_write();
    return open;
}

// An output pipe is in the epoll set only while it is read: a paused
// one is taken out, since epoll reports a hang-up whatever the mask.
void Supervisor::watch_output(std::size_t i) {
    ActorRun& a = m_actors[i];
    const bool want = a.output && a.output_live && (!m_output_paused || !to_log(a));
    if (want == a.output_watched) return;
    if (want)
        watch(a.output.get(), make_tag(Tag::output, i), EPOLLIN);
    else
        unwatch(a.output.get());
    a.output_watched = want;
}

// Its lines go to the log (prefixed), so the log's back-pressure holds
// them; output read only for ready.output or its tail never waits on it.
bool Supervisor::to_log(const ActorRun& a) {
    return a.spec->output.mode == spec::Output::Mode::prefix;
}

// Its last lines for its report entry (DESIGN "The report", output_tail):
// what passed through its pipe, or the end of its output file when that
// is a regular file; none when its output went elsewhere unseen.
std::optional<std::vector<std::string>> Supervisor::output_tail(const ActorRun& a) const {
    if (a.spec->output.mode == spec::Output::Mode::inherit) return std::nullopt;
    if (a.spec->output.mode == spec::Output::Mode::file &&
        a.spec->ready.source != Ready::Source::output) {
        UniqueFd fd(
            ::open(a.spec->output.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
        struct stat st;
        if (!fd || ::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode)) return std::nullopt;
        // One byte more than is kept, so a line cut at the front is known.
        char buf[report::k_tail_bytes + 1];
        const off_t from = std::max<off_t>(0, st.st_size - static_cast<off_t>(sizeof buf));
        const ssize_t n = ::pread(fd.get(), buf, sizeof buf, from);
        if (n < 0) return std::nullopt;
        OutputTail tail(report::k_tail_lines, report::k_tail_bytes);
        tail.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        return tail.lines();
    }
    return a.tail.lines();
}

void Supervisor::close_output(ActorRun& a) {
    if (a.output_watched) unwatch(a.output.get());
    a.output_watched = false;
    a.output.reset();
    a.output_file.reset();
}

bool Supervisor::read_output(std::size_t i) {
    ActorRun& a = m_actors[i];
    if (!a.output) return false;

    char buf[16384];
    for (int rounds = 0; rounds < 4; ++rounds) { // bounded: other fds get their turn
        const ssize_t n = ::read(a.output.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        const auto emit = [&](std::string_view line) { emit_line(i, line); };
        if (n <= 0) {
            a.lines.flush(emit);
            close_output(a);
            return false;
        }
        a.tail.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        a.lines.feed(std::string_view(buf, static_cast<std::size_t>(n)), emit);
        if (static_cast<std::size_t>(n) < sizeof buf) break;
    }
    return true;
}

// Keeps the sinks' epoll interest and the output back-pressure in step
// with what is buffered; notices a report that can no longer be written.
void Supervisor::after_write() {
    if (m_log_registered)
        rewatch(m_log_sink.fd(), make_tag(Tag::sink, 0),
                m_log_sink.buffered() ? std::uint32_t{EPOLLOUT} : 0u);
    if (m_report_registered)
        rewatch(m_report_sink->fd(), make_tag(Tag::sink, 1),
                m_report_sink->buffered() ? std::uint32_t{EPOLLOUT} : 0u);
    const bool pause = m_log_sink.buffered() > k_log_high_water;
    const bool resume = m_log_sink.buffered() < k_log_low_water;
    if ((pause && !m_output_paused) || (resume && m_output_paused)) {
        m_output_paused = pause;
        for (std::size_t i = 0; i < m_actors.size(); ++i)
            watch_output(i);
    }
    if (root() && m_report_sink->broken() && m_options.format != report::Format::none &&
        !m_report_failed) {
        m_report_failed = true;
        // Running on would only produce a report nobody gets: the tree
        // is cancelled as for a signal. A reader that left is SIGPIPE's
        // case (exit 141); any other error (ENOSPC, EIO) is exit 74, and
        // the caller names it once the tree is down.
        if (m_report_sink->reader_gone()) {
            log(1, "the report's reader went away; cancelling the tree");
            set_cause("signal:SIGPIPE", 128 + SIGPIPE, report::Result::cancelled);
            cancel_all("signal:SIGPIPE");
        } else {
            log(1, fmt::format("cannot write the report to {}: {}; cancelling the tree",
                               m_report_sink->name(), errno_text(m_report_sink->error())));
            set_cause("report_error", k_exit_io, report::Result::cancelled);
            cancel_all("report_error");
        }
    }
}

// A pipe's write end reports EPOLLERR as soon as its reader is gone, even
// with nothing to write: that is how a closed report reader is noticed
// while the tree runs, not only at the next report line.
void Supervisor::on_sink(std::size_t index, std::uint32_t events) {
    Sink& sink = index == 0 ? m_log_sink : *m_report_sink;
    bool& registered = index == 0 ? m_log_registered : m_report_registered;
    if (events & (EPOLLERR | EPOLLHUP)) {
        sink.mark_broken();
        unwatch(sink.fd());
        registered = false;
    } else {
        sink.flush_some();
    }
    after_write();
}

// What is left in the actors' pipes once they ended: read while the log
// takes it, for a bounded time. A log reader that takes nothing (stderr
// not read) holds the end of a run up for k_output_stall at most; what
// it would not take is dropped and counted.
void Supervisor::drain_outputs() {
    const auto until = Clock::now() + k_output_drain_limit;
    auto stalled_at = Clock::now() + k_output_stall;
    for (;;) {
        const std::size_t before = m_log_sink.buffered();
        bool open = false;
        for (std::size_t i = 0; i < m_actors.size(); ++i) {
            if (!m_actors[i].output) continue;
            // Above the high water mark, nothing more is read: it waits.
            open |= m_log_sink.buffered() > k_log_high_water || on_output(i);
        }
        if (!open) break;
        m_log_sink.flush_some();
        const auto now = Clock::now();
        if (m_log_sink.buffered() < before || m_log_sink.buffered() <= k_log_high_water)
            stalled_at = now + k_output_stall;
        if (now > until || now > stalled_at) break;
        m_loop.wait(10); // anything ready, or 10 ms
    }
    for (auto& a : m_actors) {
        if (!a.output) continue;
        // Its writers are gone: what is in the pipe is all there is.
        char buf[16384];
        for (int rounds = 0; rounds < 64; ++rounds) {
            const ssize_t n = ::read(a.output.get(), buf, sizeof buf);
            if (n <= 0) break;
            m_output_dropped += static_cast<std::size_t>(n);
        }
        m_output_dropped += a.lines.held();
        m_partial_bytes -= a.lines.held();
        a.lines.drop();
        close_output(a);
    }
}

} // namespace forkspawn::supervise
