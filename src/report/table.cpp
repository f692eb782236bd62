// SPDX-License-Identifier: MIT
// The table for people: aligned columns, printable cells whatever the bytes
// of a name, colour on the outcome, and a summary line.
#include "report_impl.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace forkspawn::report {

namespace {

constexpr double k_ms_per_s = 1000.0;
constexpr std::string_view k_column_gap = "  ";
constexpr std::string_view k_ansi_reset = "\x1b[0m";
constexpr std::string_view k_replacement_char = "\xef\xbf\xbd"; // U+FFFD

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 when the bytes there are not
// well-formed UTF-8 (overlong forms, surrogates and code points past U+10FFFF included).
std::size_t decode_utf8(std::string_view s, std::size_t i, char32_t& cp) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2;
        cp = b0 & 0x1fU;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        len = 3;
        cp = b0 & 0x0fU;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        len = 4;
        cp = b0 & 0x07U;
    } else {
        return 0;
    }
    if (s.size() - i < len) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xc0U) != 0x80U) return 0;
        cp = (cp << 6) | (b & 0x3fU);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return 0;
    if (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) return 0;
    return len;
}

} // namespace

std::string printable(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        const std::size_t len = decode_utf8(s, i, cp);
        if (len == 0) {
            out += k_replacement_char;
            ++i;
            continue;
        }
        if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp < 0x20 || cp == 0x7f) {
            out += fmt::format("\\x{:02x}", static_cast<unsigned>(cp));
        } else if (cp >= 0x80 && cp <= 0x9f) { // C1 controls, e.g. CSI
            out += fmt::format("\\u{:04x}", static_cast<unsigned>(cp));
        } else {
            out.append(s.substr(i, len));
        }
        i += len;
    }
    return out;
}

// One column per code point. East Asian wide characters and emoji take two columns and will
// misalign their row; names are rarely those and a full wcwidth table is not worth carrying
// for it.
std::size_t visible_width(std::string_view s) {
    std::size_t width = 0;
    for (const char c : s) {
        if ((static_cast<unsigned char>(c) & 0xc0U) != 0x80U) ++width;
    }
    return width;
}

std::string format_runtime(double ms) {
    const double rounded = round_ms(ms);
    if (rounded >= k_ms_per_s) return fmt::format("{:.2f}s", rounded / k_ms_per_s);
    return fmt::format("{:.1f}ms", rounded);
}

std::string_view outcome_colour(Outcome o) {
    switch (o) {
    case Outcome::completed:
        return "\x1b[32m"; // green
    case Outcome::failed:
    case Outcome::spawn_failed:
    case Outcome::killed:
        return "\x1b[31m"; // red
    case Outcome::cancelled:
        return "\x1b[33m"; // yellow
    case Outcome::not_started:
        return "\x1b[2m"; // dim
    }
    return "";
}

std::string aligned_line(std::span<const std::string> cells, std::span<const std::size_t> widths,
                         std::size_t coloured, std::string_view colour) {
    std::string line;
    for (std::size_t c = 0; c < cells.size(); ++c) {
        if (c == coloured && !colour.empty()) {
            line += colour;
            line += cells[c];
            line += k_ansi_reset;
        } else {
            line += cells[c];
        }
        if (c + 1 == cells.size()) break;
        line.append(widths[c] - std::min(widths[c], visible_width(cells[c])), ' ');
        line += k_column_gap;
    }
    // An empty last cell (an error with no text) would otherwise leave the padding behind.
    while (!line.empty() && line.back() == ' ')
        line.pop_back();
    line += '\n';
    return line;
}

namespace {

// Peak memory: 812K, 5.0M, 1.2G (binary units, as ps and top show them).
std::string format_kib(std::uint64_t kib) {
    if (kib < 1024) return fmt::format("{}K", kib);
    if (kib < 1024 * 1024) return fmt::format("{:.1f}M", static_cast<double>(kib) / 1024);
    return fmt::format("{:.1f}G", static_cast<double>(kib) / (1024 * 1024));
}

std::string stop_note(const StopReport& stop) {
    if (stop.sent.empty()) return "stop began, no signal sent";
    return fmt::format("sent {}; exited {:.1f}ms after {}", fmt::join(stop.sent, ","),
                       round_ms(stop.exit_after_ms), stop.sent.front());
}

enum Column : std::size_t {
    col_path,
    col_kind,
    col_pid,
    col_status,
    col_outcome,
    col_reason,
    col_runtime,
    col_cpu,
    col_mem,
    col_note,
    column_count
};

using Row = std::array<std::string, column_count>;

Row table_row(const ActorReport& a) {
    const auto text_or_absent = [](const std::optional<std::string>& v) {
        return v ? printable(*v) : std::string(k_absent);
    };
    Row row;
    row[col_path] = printable(a.path);
    row[col_kind] = std::string(kind_name(a.kind));
    row[col_pid] = a.pid ? fmt::format("{}", *a.pid) : std::string(k_absent);
    row[col_status] = text_or_absent(a.status);
    row[col_outcome] = std::string(outcome_name(a.outcome));
    row[col_reason] = text_or_absent(a.cancel_reason);
    row[col_runtime] = a.runtime_ms ? format_runtime(*a.runtime_ms) : std::string(k_absent);
    // CPU (user + system) and peak memory of the actor and what it started.
    row[col_cpu] = a.usage ? format_runtime(a.usage->cpu_user_ms + a.usage->cpu_system_ms)
                           : std::string(k_absent);
    row[col_mem] =
        a.usage && a.usage->max_rss_kib ? format_kib(*a.usage->max_rss_kib) : std::string(k_absent);
    if (a.error) {
        row[col_note] = printable(*a.error);
    } else if (a.stop) {
        row[col_note] = printable(stop_note(*a.stop));
    } else {
        row[col_note] = std::string(k_absent);
    }
    if (a.restarts > 0)
        row[col_note] = fmt::format("restarted {}x{}", a.restarts,
                                    row[col_note] == k_absent ? "" : "; " + row[col_note]);
    if (a.status_text) // what it last said of itself (sd_notify STATUS=)
        row[col_note] =
            fmt::format("{}status: {}", row[col_note] == k_absent ? "" : row[col_note] + "; ",
                        printable(*a.status_text));
    return row;
}

// The result, the command actors per outcome (Summary::counts: a failure
// deep in the tree counts once), and what decided it, with that actor's
// last lines of output.
std::string summary_line(const Summary& s, const std::vector<ActorReport>& actors) {
    std::size_t commands = 0;
    for (const std::size_t n : s.counts)
        commands += n;
    std::string line =
        fmt::format("result: {} (exit {}) in {}, {} command{}", result_name(s.result), s.exit_code,
                    format_runtime(s.duration_ms), commands, commands == 1 ? "" : "s");
    std::string_view sep = ": ";
    // Outcome declaration order, so the same kinds of run always read the same way.
    for (std::size_t o = 0; o < k_outcome_count; ++o) {
        if (s.counts[o] == 0) continue;
        line += fmt::format("{}{} {}", sep, s.counts[o], outcome_name(static_cast<Outcome>(o)));
        sep = ", ";
    }
    // Running past its own timeout is a failure reported as a cancel: say
    // so, or a failed tree may show no failed actor at all.
    const auto timed_out = std::count_if(actors.begin(), actors.end(), [](const ActorReport& a) {
        return a.cancel_reason && *a.cancel_reason == "timeout";
    });
    if (timed_out > 0)
        line += fmt::format("; {} ran past {} timeout", timed_out,
                            timed_out == 1 ? "its own" : "their own");
    line += '\n';
    if (!s.cause) return line;
    const Cause& c = *s.cause;
    const std::optional<std::string>& why = c.error           ? c.error
                                            : c.cancel_reason ? c.cancel_reason
                                                              : c.status;
    line += fmt::format("cause: {} {}{}\n", printable(c.path), outcome_name(c.outcome),
                        why ? " (" + printable(*why) + ")" : "");
    const auto entry = std::find_if(actors.begin(), actors.end(),
                                    [&](const ActorReport& a) { return a.path == c.path; });
    if (entry != actors.end() && entry->output_tail && !entry->output_tail->empty()) {
        line += fmt::format("last output of {}:\n", printable(c.path));
        for (const std::string& out : *entry->output_tail)
            line += fmt::format("  {}\n", printable(out));
    }
    return line;
}

// Shortens `s` (printable) to `width` columns by cutting its middle:
// root/etl/…/extract keeps both ends of a path.
std::string shorten_middle(std::string_view s, std::size_t width) {
    if (visible_width(s) <= width || width < 2) return std::string(s);
    std::vector<std::size_t> starts; // byte offset of each code point
    for (std::size_t i = 0; i < s.size(); ++i)
        if ((static_cast<unsigned char>(s[i]) & 0xc0U) != 0x80U) starts.push_back(i);
    const std::size_t keep = width - 1, head = keep / 3, tail = keep - head;
    return std::string(s.substr(0, starts[head])) + "\u2026" +
           std::string(s.substr(starts[starts.size() - tail]));
}

// `text` (printable) in pieces of at most `width` columns, cut after a
// space where one is near the end of a piece.
std::vector<std::string> wrap(std::string_view text, std::size_t width) {
    std::vector<std::string> pieces;
    while (visible_width(text) > width) {
        std::size_t cut = 0, columns = 0, space = 0;
        for (std::size_t i = 0; i < text.size() && columns <= width; ++i) {
            if ((static_cast<unsigned char>(text[i]) & 0xc0U) == 0x80U) continue;
            if (columns == width) {
                cut = i;
                break;
            }
            if (text[i] == ' ') space = i + 1;
            ++columns;
        }
        if (space > width / 2 && space <= cut) cut = space;
        std::string_view piece = text.substr(0, cut);
        while (!piece.empty() && piece.back() == ' ')
            piece.remove_suffix(1);
        pieces.emplace_back(piece);
        text.remove_prefix(cut);
    }
    pieces.emplace_back(text);
    return pieces;
}

} // namespace

std::string render_table(const Summary& s, const std::vector<ActorReport>& actors, bool colour,
                         std::size_t width) {
    const Row header = {"PATH",   "KIND",    "PID", "STATUS", "OUTCOME",
                        "REASON", "RUNTIME", "CPU", "MEM",    "NOTE"};
    std::vector<Row> rows;
    rows.reserve(actors.size());
    for (const auto& a : actors)
        rows.push_back(table_row(a));
    auto widths = column_widths(header, rows);
    const auto note_start = [&] {
        std::size_t at = 0;
        for (std::size_t c = 0; c < col_note; ++c)
            at += widths[c] + k_column_gap.size();
        return at;
    };
    // Too wide for the terminal: long paths lose their middle (to no less
    // than k_min_path), then NOTE wraps in what is left of the line. A
    // terminal too narrow even for that gets each NOTE under its row, and
    // MEM, CPU, then KIND go while a row is still too wide (the JSON report
    // has them all).
    constexpr std::size_t k_min_note = 24, k_min_path = 16, k_note_indent = 4;
    std::vector<std::size_t> shown;
    for (std::size_t c = 0; c < column_count; ++c)
        shown.push_back(c);
    const auto row_width = [&] {
        std::size_t at = 0;
        for (const std::size_t c : shown)
            if (c != col_note) at += widths[c] + k_column_gap.size();
        return at - k_column_gap.size();
    };
    std::vector<std::string> paths;
    for (const Row& row : rows)
        paths.push_back(row[col_path]);
    const std::size_t full_path = widths[col_path];
    const auto fit_paths = [&](std::size_t path_width) {
        path_width = std::clamp(path_width, std::min(k_min_path, full_path), full_path);
        for (std::size_t i = 0; i < rows.size(); ++i)
            rows[i][col_path] = shorten_middle(paths[i], path_width);
        widths = column_widths(header, rows);
    };
    std::size_t note_room = 0; // 0: no wrapping
    bool note_below = false;
    if (width > 0 && note_start() + widths[col_note] > width) {
        const std::size_t others = note_start() - widths[col_path];
        if (others + k_min_path + k_min_note <= width) {
            fit_paths(width - k_min_note - others);
            note_room = width - note_start();
        } else {
            note_below = true;
            note_room = std::max(width, k_min_note + k_note_indent) - k_note_indent;
            fit_paths(k_min_path);
            for (const std::size_t c : {col_mem, col_cpu, col_kind})
                if (row_width() > width) std::erase(shown, c);
            if (row_width() < width) fit_paths(widths[col_path] + width - row_width());
        }
    }

    const auto line = [&](const Row& row, std::string_view colour_code) {
        std::vector<std::string> cells;
        std::vector<std::size_t> cell_widths;
        for (const std::size_t c : shown) {
            cells.push_back(row[c]);
            cell_widths.push_back(widths[c]);
        }
        const auto coloured = std::find(shown.begin(), shown.end(), col_outcome) - shown.begin();
        return aligned_line(cells, cell_widths, static_cast<std::size_t>(coloured), colour_code);
    };

    Row top = header;
    if (note_below) top[col_note].clear();
    std::string out = line(top, "");
    for (std::size_t i = 0; i < rows.size(); ++i) {
        std::vector<std::string> more;
        if (note_below) {
            if (rows[i][col_note] != k_absent) more = wrap(rows[i][col_note], note_room);
            rows[i][col_note].clear();
        } else if (note_room > 0 && visible_width(rows[i][col_note]) > note_room) {
            more = wrap(rows[i][col_note], note_room);
            rows[i][col_note] = more.front();
            more.erase(more.begin());
        }
        out += line(rows[i], colour ? outcome_colour(actors[i].outcome) : "");
        const std::size_t indent = note_below ? k_note_indent : note_start();
        for (const std::string& piece : more)
            out += std::string(indent, ' ') + piece + '\n';
    }
    out += summary_line(s, actors);
    return out;
}

} // namespace forkspawn::report
