#include "forkspawn/report.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <utility>

namespace forkspawn::report {

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr std::size_t k_outcome_count = 6;
static_assert(static_cast<std::size_t>(Outcome::not_started) + 1 == k_outcome_count,
              "summary counts are indexed by Outcome");
constexpr double k_ms_per_s = 1000.0;
constexpr std::string_view k_column_gap = "  ";
constexpr std::string_view k_absent = "-";
constexpr std::string_view k_ansi_reset = "\x1b[0m";
constexpr std::string_view k_replacement_char = "\xef\xbf\xbd"; // U+FFFD

// Names, errors and paths come from user programs and specs: dumping must never throw on
// invalid UTF-8, so bad bytes become U+FFFD instead.
std::string dump(const ordered_json& j) {
    return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

// Timings are measured in nanoseconds but a tenth of a millisecond is all a reader can use.
double round_ms(double ms) {
    // Adding +0.0 turns -0.0 (a tiny negative clock skew rounded away) into 0.0, so JSON never
    // shows "-0.0".
    return std::round(ms * 10.0) / 10.0 + 0.0;
}

template <typename T> ordered_json or_null(const std::optional<T>& v) {
    return v ? ordered_json(*v) : ordered_json(nullptr);
}

ordered_json ms_or_null(const std::optional<double>& ms) {
    return ms ? ordered_json(round_ms(*ms)) : ordered_json(nullptr);
}

// Appends the actor fields to `j` in the order DESIGN.md documents, so jsonl_reaped can put
// "event" first and still share one definition of the fields.
void add_actor_fields(ordered_json& j, const ActorReport& a) {
    j["path"] = a.path;
    j["name"] = a.name;
    j["kind"] = kind_name(a.kind);
    j["pid"] = or_null(a.pid);
    j["backend"] = a.backend;
    j["status"] = or_null(a.status);
    j["exit_code"] = or_null(a.exit_code);
    j["signal"] = or_null(a.signal);
    j["outcome"] = outcome_name(a.outcome);
    j["cancel_reason"] = or_null(a.cancel_reason);
    j["error"] = or_null(a.error);
    j["started_ms"] = ms_or_null(a.started_ms);
    j["ended_ms"] = ms_or_null(a.ended_ms);
    j["runtime_ms"] = ms_or_null(a.runtime_ms);
    j["restarts"] = a.restarts;
    ordered_json attempts = ordered_json::array();
    for (const Attempt& t : a.attempts) {
        ordered_json one;
        one["pid"] = or_null(t.pid);
        one["status"] = or_null(t.status);
        one["outcome"] = outcome_name(t.outcome);
        one["started_ms"] = ms_or_null(t.started_ms);
        one["ended_ms"] = ms_or_null(t.ended_ms);
        attempts.push_back(std::move(one));
    }
    j["attempts"] = std::move(attempts);
    j["attempts_dropped"] = a.attempts_dropped;
    if (a.stop) {
        ordered_json stop;
        stop["sent"] = a.stop->sent;
        stop["escalated"] = a.stop->escalated;
        stop["exit_after_ms"] = round_ms(a.stop->exit_after_ms);
        std::vector<double> sent_ms;
        for (double ms : a.stop->sent_ms)
            sent_ms.push_back(round_ms(ms));
        stop["sent_ms"] = sent_ms;
        j["stop"] = std::move(stop);
    } else {
        j["stop"] = nullptr;
    }
}

ordered_json summary_fields(const Summary& s) {
    ordered_json j;
    j["forkspawn_version"] = s.version;
    j["backend"] = s.backend;
    j["result"] = result_name(s.result);
    j["exit_code"] = s.exit_code;
    j["duration_ms"] = round_ms(s.duration_ms);
    return j;
}

// --- table -------------------------------------------------------------------------------------

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

// A table cell as it may safely reach a terminal: valid UTF-8 with no control characters, so
// a program name cannot break the layout with a newline or smuggle escape sequences into the
// user's terminal. Each invalid byte becomes U+FFFD; controls are shown escaped.
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

// Width in terminal columns of a printable() string: one per code point. East Asian wide
// characters and emoji take two columns and will misalign their row; names are rarely those
// and a full wcwidth table is not worth carrying for it.
std::size_t visible_width(std::string_view s) {
    std::size_t width = 0;
    for (const char c : s) {
        if ((static_cast<unsigned char>(c) & 0xc0U) != 0x80U) ++width;
    }
    return width;
}

// 203.4ms below a second, 1.70s from there on: a glance should tell the order of magnitude.
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
    return row;
}

// `outcome_prefix` colours only the OUTCOME cell; padding is computed from the visible text so
// the escape bytes never shift the columns after it.
std::string table_line(const Row& row, const std::array<std::size_t, column_count>& widths,
                       std::string_view outcome_prefix) {
    std::string line;
    for (std::size_t c = 0; c < column_count; ++c) {
        if (c == col_outcome && !outcome_prefix.empty()) {
            line += outcome_prefix;
            line += row[c];
            line += k_ansi_reset;
        } else {
            line += row[c];
        }
        if (c + 1 == column_count) break;
        line.append(widths[c] - visible_width(row[c]), ' ');
        line += k_column_gap;
    }
    // An empty last cell (an error with no text) would otherwise leave the padding behind.
    while (!line.empty() && line.back() == ' ')
        line.pop_back();
    line += '\n';
    return line;
}

std::string summary_line(const Summary& s, const std::vector<ActorReport>& actors) {
    std::array<std::size_t, k_outcome_count> counts{};
    for (const auto& a : actors)
        ++counts[static_cast<std::size_t>(a.outcome)];
    std::string line =
        fmt::format("result: {} (exit {}) in {}, {} actor{}", result_name(s.result), s.exit_code,
                    format_runtime(s.duration_ms), actors.size(), actors.size() == 1 ? "" : "s");
    std::string_view sep = ": ";
    // Outcome declaration order, so the same kinds of run always read the same way.
    for (std::size_t o = 0; o < k_outcome_count; ++o) {
        if (counts[o] == 0) continue;
        line += fmt::format("{}{} {}", sep, counts[o], outcome_name(static_cast<Outcome>(o)));
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
    return line;
}

} // namespace

std::string_view kind_name(Kind k) {
    return k == Kind::nursery ? "nursery" : "cmd";
}

std::optional<Kind> parse_kind(std::string_view name) {
    if (name == "cmd") return Kind::cmd;
    if (name == "nursery") return Kind::nursery;
    return std::nullopt;
}

std::string_view result_name(Result r) {
    switch (r) {
    case Result::completed:
        return "completed";
    case Result::failed:
        return "failed";
    case Result::timeout:
        return "timeout";
    case Result::cancelled:
        return "cancelled";
    case Result::internal_error:
        return "internal_error";
    }
    return "?";
}

std::optional<std::string> status_text(std::optional<int> exit_code,
                                       const std::optional<std::string>& signal) {
    if (exit_code) return "rc=" + std::to_string(*exit_code);
    if (signal) return "signal=" + *signal;
    return std::nullopt;
}

std::string_view outcome_name(Outcome o) {
    switch (o) {
    case Outcome::completed:
        return "completed";
    case Outcome::failed:
        return "failed";
    case Outcome::spawn_failed:
        return "spawn_failed";
    case Outcome::cancelled:
        return "cancelled";
    case Outcome::killed:
        return "killed";
    case Outcome::not_started:
        return "not_started";
    }
    return "unknown"; // only reachable from a corrupted enum value
}

std::string actor_json(const ActorReport& a) {
    ordered_json j;
    add_actor_fields(j, a);
    return dump(j);
}

std::string jsonl_reaped(const ActorReport& a) {
    ordered_json j;
    j["event"] = "reaped";
    add_actor_fields(j, a);
    return dump(j) + '\n';
}

namespace {

// An event line's first fields: what happened, to which actor's attempt.
ordered_json event(const char* name, const std::string& path) {
    ordered_json j;
    j["event"] = name;
    j["path"] = path;
    return j;
}

} // namespace

std::string jsonl_spawned(const std::string& path, long pid, unsigned attempt, double ms) {
    ordered_json j = event("spawned", path);
    j["pid"] = pid;
    j["attempt"] = attempt;
    j["ms"] = round_ms(ms);
    return dump(j) + '\n';
}

std::string jsonl_exited(const std::string& path, unsigned attempt,
                         const std::optional<std::string>& status, Outcome outcome, double ms) {
    ordered_json j = event("exited", path);
    j["attempt"] = attempt;
    j["status"] = or_null(status);
    j["outcome"] = outcome_name(outcome);
    j["ms"] = round_ms(ms);
    return dump(j) + '\n';
}

std::string jsonl_restarting(const std::string& path, unsigned attempt, double delay_ms,
                             double ms) {
    ordered_json j = event("restarting", path);
    j["attempt"] = attempt;
    j["delay_ms"] = round_ms(delay_ms);
    j["ms"] = round_ms(ms);
    return dump(j) + '\n';
}

std::string jsonl_summary(const Summary& s) {
    ordered_json j;
    j["event"] = "summary";
    // Named, not iterated as a temporary: before C++23 the object behind items() would be gone.
    const ordered_json fields = summary_fields(s);
    for (const auto& [key, value] : fields.items()) {
        j[key] = value;
    }
    return dump(j) + '\n';
}

std::string render_json(const Summary& s, const std::vector<ActorReport>& actors) {
    // One actor per line: readable and greppable where dump(4) would spend 17 lines on each,
    // and still one valid JSON document. Built by hand only at this outer level; every value
    // inside goes through nlohmann.
    std::string out = dump(summary_fields(s));
    out.pop_back(); // the closing '}' — the actors array goes inside
    out += ",\"actors\":[";
    for (std::size_t i = 0; i < actors.size(); ++i) {
        out += i == 0 ? "\n" : ",\n";
        out += actor_json(actors[i]);
    }
    out += actors.empty() ? "]}\n" : "\n]}\n";
    return out;
}

std::string render_table(const Summary& s, const std::vector<ActorReport>& actors, bool colour) {
    const Row header = {"PATH", "KIND", "PID", "STATUS", "OUTCOME", "REASON", "RUNTIME", "NOTE"};
    std::vector<Row> rows;
    rows.reserve(actors.size());
    for (const auto& a : actors)
        rows.push_back(table_row(a));

    std::array<std::size_t, column_count> widths{};
    for (std::size_t c = 0; c < column_count; ++c)
        widths[c] = visible_width(header[c]);
    for (const auto& row : rows) {
        for (std::size_t c = 0; c < column_count; ++c) {
            widths[c] = std::max(widths[c], visible_width(row[c]));
        }
    }

    std::string out = table_line(header, widths, "");
    for (std::size_t i = 0; i < rows.size(); ++i) {
        out += table_line(rows[i], widths, colour ? outcome_colour(actors[i].outcome) : "");
    }
    out += summary_line(s, actors);
    return out;
}

std::optional<ActorReport> parse_actor_json(std::string_view text) {
    return actor_from_json(nlohmann::json::parse(text, nullptr, false));
}

std::optional<ActorReport> actor_from_json(const nlohmann::json& j) {
    if (!j.is_object() || !j.contains("path") || !j["path"].is_string()) return std::nullopt;
    ActorReport a;
    auto str = [&](const char* key) -> std::optional<std::string> {
        const auto it = j.find(key);
        if (it == j.end() || !it->is_string()) return std::nullopt;
        return it->get<std::string>();
    };
    auto num = [&](const char* key) -> std::optional<double> {
        const auto it = j.find(key);
        if (it == j.end() || !it->is_number()) return std::nullopt;
        return it->get<double>();
    };
    a.path = *str("path");
    a.name = str("name").value_or("");
    a.kind = parse_kind(str("kind").value_or("cmd")).value_or(Kind::cmd);
    a.backend = str("backend").value_or("");
    // Whole numbers in range only: a cast of any other double is undefined.
    auto whole = [&](const char* key, double lo, double hi) -> std::optional<long> {
        const auto v = num(key);
        if (!v || !(*v >= lo && *v <= hi) || *v != static_cast<double>(static_cast<long>(*v)))
            return std::nullopt;
        return static_cast<long>(*v);
    };
    a.pid = whole("pid", 1, 2147483647.0);
    a.status = str("status");
    if (auto rc = whole("exit_code", 0, 255)) a.exit_code = static_cast<int>(*rc);
    a.signal = str("signal");
    const std::string outcome = str("outcome").value_or("");
    for (std::size_t i = 0; i < k_outcome_count; ++i)
        if (outcome_name(static_cast<Outcome>(i)) == outcome) a.outcome = static_cast<Outcome>(i);
    a.cancel_reason = str("cancel_reason");
    a.error = str("error");
    a.started_ms = num("started_ms");
    a.ended_ms = num("ended_ms");
    a.runtime_ms = num("runtime_ms");
    if (auto n = whole("restarts", 0, 4294967295.0)) a.restarts = static_cast<unsigned>(*n);
    if (auto n = whole("attempts_dropped", 0, 1e15))
        a.attempts_dropped = static_cast<std::size_t>(*n);
    if (const auto it = j.find("attempts"); it != j.end() && it->is_array()) {
        for (const auto& t : *it) {
            if (!t.is_object() || a.attempts.size() == k_max_attempts) continue;
            Attempt one;
            if (auto p = t.find("pid"); p != t.end() && p->is_number_integer()) {
                const auto v = p->get<std::int64_t>();
                if (v >= 1 && v <= 2147483647) one.pid = static_cast<long>(v);
            }
            if (auto s = t.find("status"); s != t.end() && s->is_string())
                one.status = s->get<std::string>();
            if (auto o = t.find("outcome"); o != t.end() && o->is_string())
                for (std::size_t i = 0; i < k_outcome_count; ++i)
                    if (outcome_name(static_cast<Outcome>(i)) == o->get<std::string>())
                        one.outcome = static_cast<Outcome>(i);
            if (auto m = t.find("started_ms"); m != t.end() && m->is_number())
                one.started_ms = m->get<double>();
            if (auto m = t.find("ended_ms"); m != t.end() && m->is_number())
                one.ended_ms = m->get<double>();
            a.attempts.push_back(std::move(one));
        }
    }
    if (const auto it = j.find("stop"); it != j.end() && it->is_object()) {
        StopReport stop;
        if (const auto sent = it->find("sent"); sent != it->end() && sent->is_array())
            for (const auto& s : *sent)
                if (s.is_string()) stop.sent.push_back(s.get<std::string>());
        if (const auto at = it->find("sent_ms"); at != it->end() && at->is_array())
            for (const auto& ms : *at)
                if (ms.is_number()) stop.sent_ms.push_back(ms.get<double>());
        if (const auto e = it->find("escalated"); e != it->end() && e->is_boolean())
            stop.escalated = e->get<bool>();
        if (const auto e = it->find("exit_after_ms"); e != it->end() && e->is_number())
            stop.exit_after_ms = e->get<double>();
        a.stop = stop;
    }
    return a;
}

} // namespace forkspawn::report
