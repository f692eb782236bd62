// SPDX-License-Identifier: MIT
// `forkspawn plot`: reads a json or jsonl report back and draws it as SVG.
#include "forkspawn/plot.hpp"

#include "report_impl.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <fmt/format.h>
#include <iterator>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <utility>

namespace forkspawn::report {

namespace {

using nlohmann::json;

// A report nests 4 levels (the document, actors, an actor, its attempts). Deeper input is
// refused before it is parsed: a DOM of 64 MiB of '[' would take gigabytes.
constexpr std::size_t k_max_depth = 32;

// Where `text` first nests deeper than k_max_depth (a byte offset), if it does.
std::optional<std::size_t> too_deep(std::string_view text) {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > k_max_depth) return i;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return std::nullopt;
}

// At most `max` code points of `s` (max >= 1); when cut, the last of them is an ellipsis.
std::string shorten(std::string_view s, std::size_t max) {
    if (visible_width(s) <= max) return std::string(s);
    std::size_t i = 0;
    for (std::size_t chars = 0; i < s.size(); ++i)
        if ((static_cast<unsigned char>(s[i]) & 0xc0U) != 0x80U && chars++ == max - 1) break;
    return std::string(s.substr(0, i)) + "\xe2\x80\xa6";
}

// Line and column (code points) of byte `offset` of `text`, both from 1.
void locate(std::string_view text, std::size_t offset, PlotError& error) {
    const std::string_view before = text.substr(0, std::min(offset, text.size()));
    const std::size_t newline = before.rfind('\n');
    const std::size_t start = newline == std::string_view::npos ? 0 : newline + 1;
    error.line = 1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
    error.column = visible_width(before.substr(start)) + 1;
}

std::optional<json> parse_json(std::string_view text, PlotError& error) {
    if (const auto at = too_deep(text)) {
        locate(text, *at, error);
        error.message = fmt::format("nested deeper than {} levels; no report is", k_max_depth);
        return std::nullopt;
    }
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ...":
        // the position is said again in our own terms, and the token it quotes may be long.
        std::string_view what = e.what();
        if (const auto end = what.find("] "); end != std::string_view::npos)
            what.remove_prefix(end + 2);
        if (what.starts_with("parse error"))
            if (const auto colon = what.find(": "); colon != std::string_view::npos)
                what.remove_prefix(colon + 2);
        if (const auto* parse = dynamic_cast<const json::parse_error*>(&e);
            parse && parse->byte > 0)
            locate(text, parse->byte - 1, error);
        error.message = "invalid JSON: " + printable(shorten(what, 160));
        return std::nullopt;
    }
}

std::string string_field(const json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<double> number_field(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
}

// "root/etl/extract failed (rc=3)", "root cancelled (tree_timeout)", or "root/x spawn_failed:
// failed to execute ...".
std::optional<std::string> cause_text(const json& summary) {
    const auto it = summary.find("cause");
    if (it == summary.end() || !it->is_object()) return std::nullopt;
    std::string out = string_field(*it, "path");
    if (out.empty()) return std::nullopt;
    if (const std::string outcome = string_field(*it, "outcome"); !outcome.empty())
        out += " " + outcome;
    std::string why = string_field(*it, "status");
    if (const std::string reason = string_field(*it, "cancel_reason"); !reason.empty())
        why += (why.empty() ? "" : ", ") + reason;
    if (!why.empty()) out += " (" + why + ")";
    if (const std::string error = string_field(*it, "error"); !error.empty()) out += ": " + error;
    return out;
}

void read_summary(const json& j, PlotRun& run) {
    run.backend = string_field(j, "backend");
    run.containment = string_field(j, "containment");
    run.result = string_field(j, "result");
    if (const auto it = j.find("exit_code"); it != j.end() && it->is_number_integer()) {
        const auto code = it->get<std::int64_t>();
        if (code >= 0 && code <= 255) run.exit_code = static_cast<int>(code);
    }
    run.duration_ms = number_field(j, "duration_ms");
    run.cause = cause_text(j);
}

// Adds one actor entry; nullopt, or what is wrong with it.
std::optional<std::string> add_actor(const json& j, PlotRun& run,
                                     std::unordered_map<std::string, std::size_t>& index) {
    std::optional<ActorReport> a = actor_from_json(j);
    if (!a || a->path.empty())
        return "an actor entry is an object with a non-empty \"path\" string (is this a spec "
               "rather than a report?)";
    if (!index.emplace(a->path, run.actors.size()).second)
        return fmt::format("{} is listed twice; a report lists each actor once",
                           printable(shorten(a->path, 160)));
    PlotActor p{std::move(*a), {}};
    if (p.report.ready_ms) p.ready_ms.push_back(*p.report.ready_ms);
    run.actors.push_back(std::move(p));
    return std::nullopt;
}

PlotInput failure(PlotError e) {
    return {std::nullopt, std::move(e)};
}

PlotInput parse_document(std::string_view text) {
    PlotError error;
    const auto doc = parse_json(text, error);
    if (!doc) return failure(std::move(error));
    const auto actors = doc->is_object() ? doc->find("actors") : doc->end();
    const auto result = doc->is_object() ? doc->find("result") : doc->end();
    if (actors == doc->end() || !actors->is_array() || result == doc->end() || !result->is_string())
        return failure({.message = "not a forkspawn report: a json report is an object with "
                                   "\"result\" and an \"actors\" array, a jsonl report one event "
                                   "object per line (forkspawn run --report=json or jsonl)"});
    PlotRun run;
    read_summary(*doc, run);
    std::unordered_map<std::string, std::size_t> index;
    for (std::size_t k = 0; k < actors->size(); ++k)
        if (auto what = add_actor((*actors)[k], run, index))
            return failure({.pointer = fmt::format("/actors/{}", k), .message = std::move(*what)});
    return {std::move(run), std::nullopt};
}

PlotInput parse_stream(std::string_view text) {
    PlotRun run;
    run.has_summary = false;
    std::unordered_map<std::string, std::size_t> index;
    std::unordered_map<std::string, std::size_t> first_event; // path -> when first named
    std::unordered_map<std::string, std::vector<double>> ready;
    std::size_t line_no = 0;
    for (std::size_t start = 0; start < text.size();) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        std::string_view line = text.substr(start, end - start);
        start = end + 1;
        ++line_no;
        if (line.ends_with('\r')) line.remove_suffix(1);
        if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
        PlotError error;
        const auto j = parse_json(line, error);
        error.line = line_no;
        if (!j) return failure(std::move(error));
        const auto event = j->is_object() ? j->find("event") : j->end();
        if (event == j->end() || !event->is_string()) {
            error.message = "not a jsonl event: each line of a jsonl report is an object with an "
                            "\"event\"";
            return failure(std::move(error));
        }
        const auto path = j->find("path");
        if (path != j->end() && path->is_string())
            first_event.emplace(path->get<std::string>(), first_event.size());
        const std::string& name = event->get_ref<const std::string&>();
        if (name == "reaped") {
            if (auto what = add_actor(*j, run, index)) {
                error.message = std::move(*what);
                return failure(std::move(error));
            }
        } else if (name == "summary") {
            if (run.has_summary) {
                error.message = "a second summary: a jsonl report holds one run";
                return failure(std::move(error));
            }
            read_summary(*j, run);
            run.has_summary = true;
        } else if (name == "ready" && path != j->end() && path->is_string()) {
            if (const auto ms = number_field(*j, "ready_ms"))
                ready[path->get<std::string>()].push_back(*ms);
        }
    }
    for (PlotActor& a : run.actors)
        if (const auto it = ready.find(a.report.path); it != ready.end()) a.ready_ms = it->second;
    // Reaped in the order they ended; listed in the order they first appeared, which is the
    // order they started in.
    std::stable_sort(run.actors.begin(), run.actors.end(),
                     [&](const PlotActor& a, const PlotActor& b) {
                         return first_event.at(a.report.path) < first_event.at(b.report.path);
                     });
    return {std::move(run), std::nullopt};
}

} // namespace

std::string format_plot_error(std::string_view source, const PlotError& e) {
    std::string out(source);
    if (e.line > 0) out += fmt::format(":{}", e.line);
    if (e.line > 0 && e.column > 0) out += fmt::format(":{}", e.column);
    out += ": ";
    if (!e.pointer.empty()) out += e.pointer + ": ";
    return out + e.message;
}

PlotInput parse_plot_input(std::string_view text) {
    if (text.size() > k_plot_max_bytes)
        return failure(
            {.message = fmt::format("larger than {} MiB, more than any report plot reads",
                                    k_plot_max_bytes >> 20)});
    const std::size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos)
        return failure({.message = "empty; give a report of forkspawn run --report=json or jsonl"});
    // Every jsonl line is an object with an "event"; a json report's first line is one only
    // when the whole document is, and then it has no "event".
    const std::size_t eol = text.find('\n', first);
    const std::string_view head =
        text.substr(first, eol == std::string_view::npos ? eol : eol - first);
    if (!too_deep(head)) {
        const json j = json::parse(head, nullptr, false);
        if (j.is_object() && j.contains("event")) return parse_stream(text);
    }
    return parse_document(text);
}

namespace {

constexpr double k_margin = 16;
constexpr double k_row = 24;    // one actor
constexpr double k_char = 7.2;  // advance of 12px monospace (0.6em)
constexpr double k_chart = 800; // the time axis
constexpr std::size_t k_label_chars = 48;
constexpr std::size_t k_status_chars = 56;
constexpr std::size_t k_max_indent = 16; // levels; deeper rows indent no further
constexpr double k_max_ms = 1e12;        // about 30 years: later times are drawn at the end

// Outcome colours: done is green, failures red and purple, stopped amber, SIGKILL near
// black, never started grey. The legend names them.
constexpr std::string_view k_style = R"(text{font-family:sans-serif;font-size:12px;fill:#222}
.title{font-size:16px;font-weight:bold}
.cause{fill:#b3261e}
.note{fill:#666}
.head{font-weight:bold}
.label,.status{font-family:monospace}
.label.nursery{font-weight:bold}
.tick{font-size:10px;fill:#555}
.legend text{font-size:11px}
.stripe{fill:#f3f3f3}
.grid{stroke:#dcdcdc;stroke-width:1}
.gap{stroke:#777;stroke-width:1.5;stroke-dasharray:3,2}
.stop{stroke:#222;stroke-width:1.5}
.stop.kill{stroke:#d00}
.sig{font-size:8px;fill:#222}
.sig.kill{fill:#d00}
.ready{fill:#fff;stroke:#222;stroke-width:1}
.sample{fill:#999}
.o-completed{fill:#2e9e5b}
.o-failed{fill:#d93b3b}
.o-spawn_failed{fill:#9c4dcc}
.o-cancelled{fill:#e8a33d}
.o-killed{fill:#3a3a3a}
.o-not_started{fill:#c4c4c4}
)";

// Report text as SVG character data or an attribute value: printable() first (valid UTF-8
// and no control characters, which XML 1.0 refuses even as references), then markup escaped
// and the non-characters U+FFFE and U+FFFF, which XML also refuses, replaced.
std::string xml(std::string_view s) {
    const std::string p = printable(s);
    std::string out;
    out.reserve(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) {
        switch (p[i]) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        default:
            if (p.compare(i, 2, "\xef\xbf") == 0 && i + 2 < p.size() &&
                (p[i + 2] == '\xbe' || p[i + 2] == '\xbf')) {
                out += "\xef\xbf\xbd";
                i += 2;
            } else {
                out += p[i];
            }
        }
    }
    return out;
}

double clamp_ms(double ms) {
    return std::isfinite(ms) ? std::clamp(ms, 0.0, k_max_ms) : 0.0;
}

std::string ms_text(double ms) {
    return format_runtime(clamp_ms(ms));
}

struct Row {
    const PlotActor* actor;
    std::size_t depth;
    std::string_view label; // its path below its parent row's
};

// Each actor after its nursery, in the order they are listed; an actor whose nursery is not
// listed is a top row. Iterative: the depth is whatever the input says.
std::vector<Row> tree_rows(const std::vector<PlotActor>& actors) {
    std::unordered_map<std::string_view, std::size_t> index;
    index.reserve(actors.size());
    for (std::size_t i = 0; i < actors.size(); ++i)
        index.emplace(actors[i].report.path, i);
    std::vector<std::vector<std::size_t>> children(actors.size());
    std::vector<std::size_t> tops;
    std::vector<std::size_t> label_at(actors.size(), 0);
    for (std::size_t i = 0; i < actors.size(); ++i) {
        const std::string_view path = actors[i].report.path;
        const std::size_t slash = path.rfind('/');
        // A parent's path is shorter than its child's, so this is a forest, never a cycle.
        const auto parent =
            slash == std::string_view::npos ? index.end() : index.find(path.substr(0, slash));
        if (parent != index.end()) {
            children[parent->second].push_back(i);
            label_at[i] = slash + 1;
        } else {
            tops.push_back(i);
            // "root/db": the root nursery is no entry of the report, and it is in the title.
            const std::size_t root = path.find('/');
            label_at[i] = root == std::string_view::npos ? 0 : root + 1;
        }
    }
    std::vector<Row> rows;
    rows.reserve(actors.size());
    std::vector<std::pair<std::size_t, std::size_t>> stack; // actor, depth
    for (auto it = tops.rbegin(); it != tops.rend(); ++it)
        stack.emplace_back(*it, 0);
    while (!stack.empty()) {
        const auto [i, depth] = stack.back();
        stack.pop_back();
        rows.push_back(
            {&actors[i], depth, std::string_view(actors[i].report.path).substr(label_at[i])});
        for (auto it = children[i].rbegin(); it != children[i].rend(); ++it)
            stack.emplace_back(*it, depth + 1);
    }
    return rows;
}

// The time axis: from 0 (forkspawn started) to a whole number of 1-2-5 steps.
struct Axis {
    double end_ms = 1;
    double step_ms = 1;
    bool seconds = false;
};

Axis make_axis(double last_ms) {
    const double span = std::max(last_ms, 1.0);
    const double raw = span / 10; // at most 10 steps
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    double step = 10 * magnitude;
    for (const double m : {1.0, 2.0, 5.0})
        if (m * magnitude >= raw) {
            step = m * magnitude;
            break;
        }
    const double end = std::ceil(span / step - 1e-9) * step;
    return {end, step, end >= 2000};
}

std::string tick_label(double ms, const Axis& axis) {
    return axis.seconds ? fmt::format("{:g}s", ms / 1000) : fmt::format("{:g}ms", ms);
}

double last_time(const PlotRun& run) {
    double last = run.duration_ms.value_or(0);
    const auto see = [&](const std::optional<double>& ms) {
        if (ms) last = std::max(last, clamp_ms(*ms));
    };
    for (const PlotActor& p : run.actors) {
        const ActorReport& a = p.report;
        see(a.started_ms);
        see(a.ended_ms);
        for (const Attempt& t : a.attempts) {
            see(t.started_ms);
            see(t.ended_ms);
        }
        for (const double ms : p.ready_ms)
            see(ms);
        if (a.stop)
            for (const double ms : a.stop->sent_ms)
                see(ms);
    }
    return clamp_ms(last);
}

// "5 commands: 3 completed, 1 failed, 1 killed; 2 nurseries"
std::string counts_text(const std::vector<PlotActor>& actors) {
    std::array<std::size_t, k_outcome_count> counts{};
    std::size_t commands = 0;
    for (const PlotActor& p : actors)
        if (p.report.kind == Kind::cmd) {
            ++counts[static_cast<std::size_t>(p.report.outcome)];
            ++commands;
        }
    const std::size_t nurseries = actors.size() - commands;
    std::string out = fmt::format("{} command{}", commands, commands == 1 ? "" : "s");
    const char* sep = ": ";
    for (std::size_t o = 0; o < k_outcome_count; ++o)
        if (counts[o] > 0) {
            out += fmt::format("{}{} {}", sep, counts[o], outcome_name(static_cast<Outcome>(o)));
            sep = ", ";
        }
    if (nurseries > 0) out += fmt::format("; {} nurser{}", nurseries, nurseries == 1 ? "y" : "ies");
    return out;
}

// The row's tooltip: everything the report says about the actor, a line each.
std::string row_title(const ActorReport& a) {
    std::string t =
        fmt::format("{} ({})\n{}", a.path, a.kind == Kind::nursery ? "nursery" : "command",
                    outcome_name(a.outcome));
    if (a.status) t += " " + *a.status;
    if (a.cancel_reason) t += ", cancel reason " + *a.cancel_reason;
    if (a.error) t += "\nerror: " + *a.error;
    if (a.started_ms) t += "\nstarted " + ms_text(*a.started_ms);
    if (a.ended_ms) t += ", ended " + ms_text(*a.ended_ms);
    if (a.runtime_ms) t += ", ran " + ms_text(*a.runtime_ms);
    if (a.ready_ms) t += "\nready " + ms_text(*a.ready_ms);
    if (a.restarts > 0) t += fmt::format("\nrestarts {}", a.restarts);
    if (a.attempts_dropped > 0)
        t += fmt::format(" ({} earliest attempts not kept)", a.attempts_dropped);
    if (a.stop) {
        t += "\nstop:";
        for (std::size_t i = 0; i < a.stop->sent.size(); ++i)
            t +=
                fmt::format("{} {}{}", i == 0 ? "" : ",", a.stop->sent[i],
                            i < a.stop->sent_ms.size() ? " at " + ms_text(a.stop->sent_ms[i]) : "");
        t += "; exited " + ms_text(a.stop->exit_after_ms) + " after the first";
    }
    if (a.status_text) t += "\nstatus: " + *a.status_text;
    // Each line escaped on its own: printable() would show the newlines as "\n".
    std::string out;
    std::size_t start = 0;
    for (std::size_t nl = t.find('\n');; nl = t.find('\n', start)) {
        out += xml(std::string_view(t).substr(start, nl - start));
        if (nl == std::string::npos) break;
        out += '\n';
        start = nl + 1;
    }
    return out;
}

// "killed signal=SIGKILL (nursery_done), 2 restarts"
std::string status_line(const ActorReport& a) {
    std::string s(outcome_name(a.outcome));
    if (a.status) s += " " + *a.status;
    if (a.cancel_reason) s += " (" + *a.cancel_reason + ")";
    if (a.restarts > 0) s += fmt::format(", {} restart{}", a.restarts, a.restarts == 1 ? "" : "s");
    if (a.error) s += ": " + *a.error;
    return s;
}

class Svg {
  public:
    explicit Svg(const PlotRun& run)
        : m_run(run), m_rows(tree_rows(run.actors)), m_axis(make_axis(last_time(run))) {}

    std::string render() {
        std::size_t label_chars = 12;
        for (const Row& r : m_rows)
            label_chars = std::max(label_chars, indent(r) + visible_width(r.label) + 2);
        label_chars = std::min(label_chars, k_label_chars);
        m_chart_x = k_margin + static_cast<double>(label_chars) * k_char + 8;
        m_status_x = m_chart_x + k_chart + 16;
        m_width = m_status_x + static_cast<double>(k_status_chars) * k_char + k_margin;
        m_out.reserve(4096 + m_rows.size() * 1024);

        std::string header = header_svg();
        const double axis_y = m_y + 20;
        m_rows_y = axis_y + 8;
        const double rows_end =
            m_rows_y + static_cast<double>(std::max<std::size_t>(m_rows.size(), 1)) * k_row;
        const double height = rows_end + 22 + k_margin;

        put(R"(<?xml version="1.0" encoding="UTF-8"?>)");
        put(R"(<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{0:.0f}" height="{1:.0f}" viewBox="0 0 {0:.0f} {1:.0f}">)",
            m_width, height);
        put("<title>{}</title>", xml(title_text()));
        put("<style type=\"text/css\">\n{}</style>", k_style);
        put(R"(<rect x="0" y="0" width="{:.0f}" height="{:.0f}" fill="#fff"/>)", m_width, height);
        m_out += header;

        for (std::size_t i = 1; i < m_rows.size(); i += 2)
            put(R"(<rect class="stripe" x="0" y="{:.1f}" width="{:.0f}" height="{}"/>)", row_y(i),
                m_width, k_row);
        put(R"(<text class="head" x="{}" y="{:.1f}">actor</text>)", k_margin, axis_y);
        put(R"(<text class="head" x="{:.1f}" y="{:.1f}">outcome</text>)", m_status_x, axis_y);
        const auto ticks = static_cast<std::size_t>(std::llround(m_axis.end_ms / m_axis.step_ms));
        put("<g class=\"axis\">");
        for (std::size_t k = 0; k <= ticks; ++k) {
            const double ms = static_cast<double>(k) * m_axis.step_ms;
            const std::string label = tick_label(ms, m_axis);
            const char* anchor = k == 0 ? "start" : k == ticks ? "end" : "middle";
            put(R"(<line class="grid" x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}"/>)",
                x(ms), m_rows_y - 4, rows_end);
            put(R"(<text class="tick" x="{:.1f}" y="{:.1f}" text-anchor="{}">{}</text>)", x(ms),
                axis_y, anchor, label);
            put(R"(<text class="tick" x="{:.1f}" y="{:.1f}" text-anchor="{}">{}</text>)", x(ms),
                rows_end + 14, anchor, label);
        }
        put("</g>");
        if (m_rows.empty())
            put(R"(<text class="note" x="{:.1f}" y="{:.1f}">no actors in this report</text>)",
                m_chart_x + 8, m_rows_y + 16);
        for (std::size_t i = 0; i < m_rows.size(); ++i)
            row(i);
        put("</svg>");
        return std::move(m_out);
    }

  private:
    const PlotRun& m_run;
    std::vector<Row> m_rows;
    Axis m_axis;
    std::string m_out;
    double m_width = 0, m_chart_x = 0, m_status_x = 0, m_rows_y = 0;
    double m_y = 0; // where the header has got to

    // One line of the SVG (or of `out`).
    template <typename... Args> void put(fmt::format_string<Args...> f, Args&&... args) {
        put_to(m_out, f, std::forward<Args>(args)...);
    }
    template <typename... Args>
    static void put_to(std::string& out, fmt::format_string<Args...> f, Args&&... args) {
        fmt::format_to(std::back_inserter(out), f, std::forward<Args>(args)...);
        out += '\n';
    }

    static std::size_t indent(const Row& r) { return 2 * std::min(r.depth, k_max_indent); }
    double x(double ms) const { return m_chart_x + clamp_ms(ms) / m_axis.end_ms * k_chart; }
    double row_y(std::size_t i) const { return m_rows_y + static_cast<double>(i) * k_row; }

    std::string title_text() const {
        std::string t = "forkspawn run";
        if (!m_rows.empty()) {
            const std::string_view first = m_rows.front().actor->report.path;
            t += fmt::format(" of {}", first.substr(0, first.find('/')));
        }
        t += ": " + (m_run.result.empty() ? std::string("result unknown") : m_run.result);
        if (m_run.exit_code) t += fmt::format(" (exit {})", *m_run.exit_code);
        if (m_run.duration_ms) t += " in " + ms_text(*m_run.duration_ms);
        return t;
    }

    // The title, what the run was, its cause, and the legend; sets m_y below them.
    std::string header_svg() {
        std::string h;
        m_y = k_margin + 12;
        put_to(h, R"(<text class="title" x="{}" y="{:.1f}">{}</text>)", k_margin, m_y,
               xml(title_text()));
        std::string about;
        if (!m_run.backend.empty()) about += "backend " + m_run.backend + " \xc2\xb7 ";
        if (!m_run.containment.empty()) about += "containment " + m_run.containment + " \xc2\xb7 ";
        about += counts_text(m_run.actors);
        m_y += 20;
        put_to(h, R"(<text x="{}" y="{:.1f}">{}</text>)", k_margin, m_y, xml(about));
        if (m_run.cause) {
            m_y += 18;
            put_to(h, R"(<text class="cause" x="{}" y="{:.1f}">cause: {}</text>)", k_margin, m_y,
                   xml(shorten(*m_run.cause, 180)));
        }
        if (!m_run.has_summary) {
            m_y += 18;
            put_to(
                h,
                R"(<text class="note" x="{}" y="{:.1f}">the jsonl report ends before its summary: the run was cut short, and actors never reaped are missing</text>)",
                k_margin, m_y);
        }
        m_y += 12;
        legend(h);
        return h;
    }

    // What a legend item shows: a command's bar, a nursery's thinner one, the ready mark, a
    // stop signal's tick, SIGKILL's, the line of a backoff.
    enum class Sample { bar, thin_bar, ready, stop, kill, gap };

    void legend(std::string& h) {
        h += "<g class=\"legend\">\n";
        double lx = k_margin;
        double ly = m_y;
        // Each item: a sample 16px wide, a gap, the text (about 6.2px a character at 11px).
        const auto item = [&](std::string_view sample_class, std::string_view text, Sample shape) {
            const double w = 22 + 6.2 * static_cast<double>(text.size()) + 16;
            if (lx + w > m_width - k_margin && lx > k_margin) {
                lx = k_margin;
                ly += 18;
            }
            h += "<g>";
            switch (shape) {
            case Sample::bar:
                put_to(h, R"(<rect class="{}" x="{:.1f}" y="{:.1f}" width="16" height="12"/>)",
                       sample_class, lx, ly);
                break;
            case Sample::thin_bar:
                put_to(h, R"(<rect class="{}" x="{:.1f}" y="{:.1f}" width="16" height="6"/>)",
                       sample_class, lx, ly + 3);
                break;
            case Sample::ready:
                put_to(
                    h,
                    R"(<polygon class="ready" points="{0:.1f},{1:.1f} {2:.1f},{3:.1f} {0:.1f},{4:.1f} {5:.1f},{3:.1f}"/>)",
                    lx + 8, ly, lx + 12, ly + 6, ly + 12, lx + 4);
                break;
            case Sample::stop:
            case Sample::kill:
                put_to(
                    h,
                    R"(<line class="stop{0}" x1="{1:.1f}" y1="{2:.1f}" x2="{1:.1f}" y2="{3:.1f}"/>)",
                    shape == Sample::kill ? " kill" : "", lx + 8, ly - 1, ly + 13);
                break;
            case Sample::gap:
                put_to(h, R"(<line class="gap" x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)",
                       lx, ly + 6, lx + 16, ly + 6);
            }
            put_to(h, R"(<text x="{:.1f}" y="{:.1f}">{}</text></g>)", lx + 22, ly + 10, xml(text));
            lx += w;
        };
        for (std::size_t o = 0; o < k_outcome_count; ++o) {
            const std::string_view name = outcome_name(static_cast<Outcome>(o));
            item(fmt::format("o-{}", name), name, Sample::bar);
        }
        item("sample", "command", Sample::bar);
        item("sample", "nursery", Sample::thin_bar);
        item("", "ready", Sample::ready);
        item("", "stop signal", Sample::stop);
        item("", "SIGKILL", Sample::kill);
        item("", "backoff before a restart", Sample::gap);
        h += "</g>\n";
        m_y = ly + 12;
    }

    void row(std::size_t i) {
        const Row& r = m_rows[i];
        const ActorReport& a = r.actor->report;
        const double y = row_y(i);
        const bool nursery = a.kind == Kind::nursery;
        put("<g class=\"actor\"><title>{}</title>", row_title(a));
        const std::size_t room = k_label_chars - std::min(k_label_chars - 4, indent(r));
        put(R"(<text class="label{}" x="{:.1f}" y="{:.1f}">{}{}</text>)", nursery ? " nursery" : "",
            k_margin + static_cast<double>(indent(r)) * k_char, y + 16,
            xml(shorten(r.label, room - 2)), nursery ? "/" : "");

        std::vector<Attempt> attempts = a.attempts;
        if (attempts.empty() && a.started_ms)
            attempts.push_back({a.pid, a.status, a.outcome, a.started_ms, a.ended_ms});
        const double bar_y = nursery ? y + 12 : y + 9;
        const double bar_h = nursery ? 6 : 12;
        const Attempt* previous = nullptr;
        for (std::size_t k = 0; k < attempts.size(); ++k) {
            const Attempt& t = attempts[k];
            if (!t.started_ms) continue;
            const double x1 = x(*t.started_ms);
            const double x2 = t.ended_ms ? x(*t.ended_ms) : x(m_axis.end_ms);
            if (previous && previous->ended_ms && *previous->ended_ms < *t.started_ms)
                put(R"(<line class="gap" x1="{0:.1f}" y1="{2:.1f}" x2="{1:.1f}" y2="{2:.1f}"><title>restart after {3}</title></line>)",
                    x(*previous->ended_ms), x1, y + 15,
                    ms_text(*t.started_ms - *previous->ended_ms));
            previous = &t;
            std::string tip =
                fmt::format("attempt {}: {}", k + 1 + a.attempts_dropped, outcome_name(t.outcome));
            if (t.status) tip += " " + *t.status;
            tip += ", " + ms_text(*t.started_ms) + " to " +
                   (t.ended_ms ? ms_text(*t.ended_ms) : std::string("the end"));
            put(R"(<rect class="o-{}" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{}"><title>{}</title></rect>)",
                outcome_name(t.outcome), x1, bar_y, std::max(x2 - x1, 2.0), bar_h, xml(tip));
        }
        for (const double ms : r.actor->ready_ms) {
            const double rx = x(ms);
            put(R"(<polygon class="ready" points="{0:.1f},{1:.1f} {2:.1f},{3:.1f} {0:.1f},{4:.1f} {5:.1f},{3:.1f}"><title>ready at {6}</title></polygon>)",
                rx, y + 9, rx + 4, y + 15, y + 21, rx - 4, ms_text(ms));
        }
        if (a.stop)
            for (std::size_t k = 0; k < a.stop->sent.size() && k < a.stop->sent_ms.size(); ++k) {
                const double sx = x(a.stop->sent_ms[k]);
                const std::string name = xml(shorten(a.stop->sent[k], 16));
                const char* kill = a.stop->sent[k] == "SIGKILL" ? " kill" : "";
                put(R"(<line class="stop{0}" x1="{1:.1f}" y1="{2:.1f}" x2="{1:.1f}" y2="{3:.1f}"><title>{4} sent at {5}</title></line>)",
                    kill, sx, y + 2, y + 23, name, ms_text(a.stop->sent_ms[k]));
                // Left of its tick near the end, so that it stays on the chart.
                const bool left = sx > m_chart_x + k_chart - 60;
                put(R"(<text class="sig{}" x="{:.1f}" y="{:.1f}"{}>{}</text>)", kill,
                    left ? sx - 2 : sx + 2, y + 8, left ? R"( text-anchor="end")" : "", name);
            }
        put(R"(<rect class="o-{}" x="{:.1f}" y="{:.1f}" width="10" height="10"/>)",
            outcome_name(a.outcome), m_status_x, y + 7);
        put(R"(<text class="status" x="{:.1f}" y="{:.1f}">{}</text></g>)", m_status_x + 16, y + 16,
            xml(shorten(status_line(a), k_status_chars - 2)));
    }
};

} // namespace

std::string render_svg(const PlotRun& run) {
    return Svg(run).render();
}

} // namespace forkspawn::report
