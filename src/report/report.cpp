// SPDX-License-Identifier: MIT
#include "report_impl.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <utility>

namespace forkspawn::report {

namespace {

using ordered_json = nlohmann::ordered_json;

// Names, errors and paths come from user programs and specs: dumping must never throw on
// invalid UTF-8, so bad bytes become U+FFFD instead.
std::string dump(const ordered_json& j) {
    return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
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
    j["ready_ms"] = ms_or_null(a.ready_ms);
    j["status_text"] = or_null(a.status_text);
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
    if (a.usage) {
        ordered_json usage;
        usage["cpu_user_ms"] = round_ms(a.usage->cpu_user_ms);
        usage["cpu_system_ms"] = round_ms(a.usage->cpu_system_ms);
        usage["max_rss_kib"] = or_null(a.usage->max_rss_kib);
        usage["source"] = a.usage->source;
        j["usage"] = std::move(usage);
    } else {
        j["usage"] = nullptr;
    }
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
    if (a.output_tail) j["output_tail"] = *a.output_tail;
}

ordered_json cause_json(const std::optional<Cause>& c) {
    if (!c) return nullptr;
    ordered_json j;
    j["path"] = c->path;
    j["outcome"] = outcome_name(c->outcome);
    j["status"] = or_null(c->status);
    j["cancel_reason"] = or_null(c->cancel_reason);
    j["error"] = or_null(c->error);
    return j;
}

ordered_json summary_fields(const Summary& s) {
    ordered_json j;
    j["forkspawn_version"] = s.version;
    j["backend"] = s.backend;
    j["containment"] = s.containment;
    j["result"] = result_name(s.result);
    j["exit_code"] = s.exit_code;
    j["duration_ms"] = round_ms(s.duration_ms);
    j["cause"] = cause_json(s.cause);
    ordered_json counts;
    for (std::size_t o = 0; o < k_outcome_count; ++o)
        counts[std::string(outcome_name(static_cast<Outcome>(o)))] = s.counts[o];
    j["counts"] = std::move(counts);
    return j;
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

std::string jsonl_ready(const std::string& path, unsigned attempt, double ready_ms) {
    ordered_json j = event("ready", path);
    j["attempt"] = attempt;
    j["ready_ms"] = round_ms(ready_ms);
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
    a.ready_ms = num("ready_ms");
    a.status_text = str("status_text");
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
    if (const auto it = j.find("usage"); it != j.end() && it->is_object()) {
        Usage u;
        if (const auto v = it->find("cpu_user_ms"); v != it->end() && v->is_number())
            u.cpu_user_ms = v->get<double>();
        if (const auto v = it->find("cpu_system_ms"); v != it->end() && v->is_number())
            u.cpu_system_ms = v->get<double>();
        if (const auto v = it->find("max_rss_kib"); v != it->end() && v->is_number_unsigned())
            u.max_rss_kib = v->get<std::uint64_t>();
        if (const auto v = it->find("source"); v != it->end() && v->is_string())
            u.source = v->get<std::string>();
        a.usage = u;
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
    if (const auto it = j.find("output_tail"); it != j.end() && it->is_array()) {
        std::vector<std::string> tail;
        for (const auto& line : *it)
            if (line.is_string() && tail.size() < k_tail_lines) tail.push_back(line);
        a.output_tail = std::move(tail);
    }
    return a;
}

namespace {

// Cancelled for something of its own: a failure too (DESIGN "Restarts").
bool own_failure(const ActorReport& a) {
    return a.outcome == Outcome::failed || a.outcome == Outcome::spawn_failed ||
           own_failure_reason(a.cancel_reason);
}

bool below(const std::string& path, const std::string& nursery) {
    return path.size() > nursery.size() && path.starts_with(nursery) && path[nursery.size()] == '/';
}

Cause cause_of(const ActorReport& a) {
    return Cause{a.path, a.outcome, a.status, a.cancel_reason, a.error};
}

} // namespace

std::optional<Cause> find_cause(Result result, const std::vector<ActorReport>& actors) {
    if (result == Result::timeout) {
        // The root nursery is not an entry: the tree's own deadline ran out.
        Cause c;
        c.path =
            actors.empty() ? "root" : actors.front().path.substr(0, actors.front().path.find('/'));
        c.outcome = Outcome::cancelled;
        c.cancel_reason = "tree_timeout";
        return c;
    }
    if (result != Result::failed) return std::nullopt;
    const ActorReport* first = nullptr;
    const auto earlier = [](const ActorReport& a, const ActorReport* than) {
        return !than || a.ended_ms.value_or(HUGE_VAL) < than->ended_ms.value_or(HUGE_VAL);
    };
    for (std::size_t i = 0; i < actors.size(); ++i) {
        const ActorReport& a = actors[i];
        if (!own_failure(a)) continue;
        // A nursery fails when something below it did: that is the cause.
        const bool failed_below = std::any_of(
            actors.begin() + static_cast<long>(i) + 1, actors.end(),
            [&](const ActorReport& b) { return below(b.path, a.path) && own_failure(b); });
        if (!failed_below && earlier(a, first)) first = &a;
    }
    // Nothing failed of its own: what ended worst (killed by its
    // supervisor's death, say) decided it.
    if (!first)
        for (const ActorReport& a : actors)
            if (a.outcome == Outcome::killed && earlier(a, first)) first = &a;
    if (!first) return std::nullopt;
    return cause_of(*first);
}

void summarize(Summary& s, const std::vector<ActorReport>& actors) {
    s.cause = find_cause(s.result, actors);
    s.counts = {};
    for (const ActorReport& a : actors)
        if (a.kind == Kind::cmd) ++s.counts[static_cast<std::size_t>(a.outcome)];
}

} // namespace forkspawn::report
