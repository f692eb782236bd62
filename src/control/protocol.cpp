// SPDX-License-Identifier: MIT
// The control protocol's pure parts: requests, replies, the live table and
// the wait conditions over it (control.hpp).
#include "forkspawn/control.hpp"

#include "forkspawn/signals.hpp"
#include "forkspawn/spec.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace forkspawn::control {

namespace {

using nlohmann::json;

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

constexpr std::string_view k_ops[] = {"status", "stop",   "start", "restart",
                                      "signal", "cancel", "wait",  "events"};

std::string json_string(std::string_view s) {
    return dump(json(std::string(s)));
}

} // namespace

std::string_view op_name(Op op) {
    return k_ops[static_cast<std::size_t>(op)];
}

Request parse_request(std::string_view line) {
    Request r;
    const auto invalid = [&](std::string why) {
        r.error = std::move(why);
        return r;
    };
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) return invalid("the request is not valid JSON");
    if (!j.is_object()) return invalid("the request is not a JSON object");
    if (const auto id = j.find("id"); id != j.end()) {
        if (!id->is_primitive()) return invalid("\"id\" must be a string, number or null");
        r.id = dump(*id);
    }
    const auto cmd = j.find("cmd");
    if (cmd == j.end() || !cmd->is_string())
        return invalid("\"cmd\" is missing; valid: status, stop, start, restart, signal, cancel, "
                       "wait, events");
    const auto& name = cmd->get_ref<const std::string&>();
    const auto it = std::find(std::begin(k_ops), std::end(k_ops), name);
    if (it == std::end(k_ops))
        return invalid(fmt::format("unknown cmd {}; valid: status, stop, start, restart, signal, "
                                   "cancel, wait, events",
                                   json_string(name)));
    r.op = static_cast<Op>(it - std::begin(k_ops));
    const auto allowed = [&](std::initializer_list<std::string_view> keys) -> std::string {
        for (const auto& [key, value] : j.items()) {
            if (key == "cmd" || key == "id") continue;
            if (std::find(keys.begin(), keys.end(), key) == keys.end())
                return fmt::format("unknown key {} for cmd {}", json_string(key), name);
        }
        return {};
    };
    const auto paths = [&](bool required) -> std::string {
        const auto p = j.find("paths");
        if (p == j.end())
            return required ? fmt::format("cmd {} needs \"paths\": a list of actor paths", name)
                            : std::string();
        if (!p->is_array()) return "\"paths\" must be a list of actor paths";
        if (required && p->empty())
            return fmt::format("cmd {} needs at least one actor path in \"paths\"", name);
        for (const auto& e : *p) {
            if (!e.is_string() || e.get_ref<const std::string&>().empty())
                return "\"paths\" must be a list of actor paths (non-empty strings)";
            r.paths.push_back(e.get<std::string>());
        }
        return {};
    };
    std::string why;
    switch (r.op) {
    case Op::status:
    case Op::cancel:
    case Op::events:
        why = allowed({});
        break;
    case Op::stop:
    case Op::start:
    case Op::restart:
        why = allowed({"paths"});
        if (why.empty()) why = paths(true);
        break;
    case Op::wait:
        why = allowed({"paths", "ready"});
        if (why.empty()) why = paths(false);
        if (why.empty() && j.contains("ready")) {
            if (!j["ready"].is_boolean())
                why = "\"ready\" must be true or false";
            else
                r.ready = j["ready"].get<bool>();
        }
        break;
    case Op::signal: {
        why = allowed({"path", "signal"});
        if (!why.empty()) break;
        const auto p = j.find("path");
        if (p == j.end() || !p->is_string() || p->get_ref<const std::string&>().empty()) {
            why = "cmd signal needs \"path\": an actor path";
            break;
        }
        r.paths.push_back(p->get<std::string>());
        const auto s = j.find("signal");
        std::optional<int> signo;
        if (s != j.end() && s->is_number_integer() && s->get<std::int64_t>() >= 1 &&
            s->get<std::int64_t>() <= 999)
            signo = parse_signal(std::to_string(s->get<std::int64_t>()));
        if (s != j.end() && s->is_string()) signo = parse_signal(s->get_ref<const std::string&>());
        if (!signo) {
            why = fmt::format("cmd signal needs \"signal\": {}", k_signal_help);
            break;
        }
        r.signo = *signo;
        break;
    }
    }
    if (!why.empty()) return invalid(std::move(why));
    return r;
}

std::string ok_reply(const std::string& id, std::string_view fields) {
    std::string out = "{\"ok\": true";
    if (!id.empty()) out += fmt::format(", \"id\": {}", id);
    if (!fields.empty()) out += fmt::format(", {}", fields);
    out += "}\n";
    return out;
}

std::string error_reply(const std::string& id, std::string_view error, std::string_view fields) {
    std::string out = "{\"ok\": false";
    if (!id.empty()) out += fmt::format(", \"id\": {}", id);
    out += fmt::format(", \"error\": {}", json_string(error));
    if (!fields.empty()) out += fmt::format(", {}", fields);
    out += "}\n";
    return out;
}

namespace {

template <typename T> std::optional<T> field(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if constexpr (std::is_same_v<T, std::string>) {
        if (!it->is_string()) return std::nullopt;
    } else if constexpr (std::is_same_v<T, bool>) {
        if (!it->is_boolean()) return std::nullopt;
    } else if constexpr (std::is_floating_point_v<T>) {
        if (!it->is_number()) return std::nullopt;
    } else {
        if (!it->is_number_unsigned() && !(std::is_signed_v<T> && it->is_number_integer()))
            return std::nullopt;
    }
    return it->get<T>();
}

} // namespace

std::optional<LiveActor> live_from_json(std::string_view text) {
    const json j = json::parse(text, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    LiveActor a;
    const auto path = field<std::string>(j, "path");
    const auto state = field<std::string>(j, "state");
    if (!path || !state) return std::nullopt;
    a.path = *path;
    a.state = *state;
    a.nursery = field<std::string>(j, "kind") == "nursery";
    a.pid = field<long>(j, "pid");
    a.outcome = field<std::string>(j, "outcome");
    a.cancel_reason = field<std::string>(j, "cancel_reason");
    a.restarts = static_cast<unsigned>(
        std::min<std::uint64_t>(field<std::uint64_t>(j, "restarts").value_or(0), UINT32_MAX));
    a.attempt = static_cast<unsigned>(
        std::min<std::uint64_t>(field<std::uint64_t>(j, "attempt").value_or(0), UINT32_MAX));
    a.ready = field<bool>(j, "ready").value_or(false);
    a.status_text = field<std::string>(j, "status_text");
    a.started_ms = field<double>(j, "started_ms");
    a.ended_ms = field<double>(j, "ended_ms");
    return a;
}

LiveTable::LiveTable(const spec::Actor& root) {
    add(root);
}

void LiveTable::add(const spec::Actor& nursery) {
    for (const auto& a : nursery.actors) {
        LiveActor live;
        live.path = a.path;
        live.nursery = a.kind == spec::Kind::nursery;
        m_index[live.path] = m_actors.size();
        m_actors.push_back(std::move(live));
        add(a);
    }
}

bool LiveTable::update(const LiveActor& a) {
    const auto it = m_index.find(a.path);
    if (it == m_index.end()) return false;
    LiveActor& entry = m_actors[it->second];
    if (entry == a) return false;
    entry = a;
    if (!a.nursery || a.state != "ended") return true;
    const std::string below = a.path + "/";
    for (std::size_t k = it->second + 1; k < m_actors.size() && m_actors[k].path.starts_with(below);
         ++k) {
        LiveActor& lost = m_actors[k];
        if (lost.state == "ended") continue;
        const bool ran = lost.state != "waiting" && lost.attempt > 0;
        lost.outcome = ran ? "killed" : "not_started";
        lost.cancel_reason =
            ran ? std::optional<std::string>("supervisor_killed") : a.cancel_reason;
        if (ran && !lost.ended_ms) lost.ended_ms = a.ended_ms;
        lost.state = "ended";
    }
    return true;
}

std::optional<std::size_t> LiveTable::index(std::string_view path) const {
    const auto it = m_index.find(std::string(path));
    if (it == m_index.end()) return std::nullopt;
    return it->second;
}

const LiveActor* LiveTable::find(std::string_view path) const {
    const auto i = index(path);
    return i ? &m_actors[*i] : nullptr;
}

std::vector<std::size_t> LiveTable::wait_targets(const std::vector<std::string>& paths,
                                                 std::string* unknown) const {
    std::vector<std::size_t> out;
    const auto commands_from = [&](std::size_t i) {
        // Depth-first: what is below entry i follows it, sharing its prefix.
        if (!m_actors[i].nursery) {
            out.push_back(i);
            return;
        }
        const std::string below = m_actors[i].path + "/";
        for (std::size_t k = i + 1; k < m_actors.size() && m_actors[k].path.starts_with(below); ++k)
            if (!m_actors[k].nursery) out.push_back(k);
    };
    if (paths.empty()) {
        for (std::size_t i = 0; i < m_actors.size(); ++i)
            if (!m_actors[i].nursery) out.push_back(i);
        return out;
    }
    for (const auto& p : paths) {
        const auto i = index(p);
        if (!i) {
            if (unknown) *unknown = p;
            return {};
        }
        commands_from(*i);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

WaitState LiveTable::wait_state(const std::vector<std::size_t>& targets, bool ready) const {
    bool all = true;
    for (const std::size_t i : targets) {
        const LiveActor& a = m_actors[i];
        const bool ended = a.state == "ended";
        if (ready) {
            if (a.state == "ready" || (ended && a.ready && a.outcome == "completed")) continue;
            if (ended)
                return {WaitState::Is::failed,
                        fmt::format("{} ended ({}) {}", a.path, a.outcome.value_or("?"),
                                    a.ready ? "after it was ready" : "before it was ready")};
            all = false;
            continue;
        }
        if (ended && (a.outcome == "failed" || a.outcome == "spawn_failed"))
            return {WaitState::Is::failed, fmt::format("{} {}", a.path, *a.outcome)};
        if (!ended) all = false;
    }
    return {all ? WaitState::Is::reached : WaitState::Is::pending, {}};
}

const LiveActor* LiveTable::ended_nursery_above(std::string_view path) const {
    std::string_view p = path;
    for (auto slash = p.rfind('/'); slash != std::string_view::npos; slash = p.rfind('/')) {
        p = p.substr(0, slash);
        const LiveActor* up = find(p);
        if (up && up->state == "ended") return up;
    }
    return nullptr;
}

namespace {

// `s` as a JSON string: copied as it is when nothing in it needs escaping
// (the usual path), else through the JSON library (escapes; invalid UTF-8
// replaced).
void put_string(std::string& out, std::string_view s) {
    const bool plain = std::all_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u < 0x7f && c != '"' && c != '\\';
    });
    if (plain) {
        out += '"';
        out += s;
        out += '"';
    } else {
        out += json_string(s);
    }
}

void put_optional(std::string& out, const std::optional<std::string>& s) {
    if (s)
        put_string(out, *s);
    else
        out += "null";
}

void put_ms(std::string& out, std::optional<double> ms) {
    if (ms)
        fmt::format_to(std::back_inserter(out), "{:.1f}", *ms);
    else
        out += "null";
}

// One actor's entry: in the status reply (with its runtime) and in the
// "live" channel message (without).
void put_live(std::string& out, const LiveActor& a, std::optional<double> runtime) {
    out += "{\"path\": ";
    put_string(out, a.path);
    out += a.nursery ? ", \"kind\": \"nursery\", \"pid\": " : ", \"kind\": \"cmd\", \"pid\": ";
    if (a.pid)
        fmt::format_to(std::back_inserter(out), "{}", *a.pid);
    else
        out += "null";
    out += ", \"state\": ";
    put_string(out, a.state);
    out += ", \"outcome\": ";
    put_optional(out, a.outcome);
    out += ", \"cancel_reason\": ";
    put_optional(out, a.cancel_reason);
    fmt::format_to(std::back_inserter(out), ", \"restarts\": {}, \"attempt\": {}, \"ready\": {}",
                   a.restarts, a.attempt, a.ready);
    out += ", \"status_text\": ";
    put_optional(out, a.status_text);
    out += ", \"started_ms\": ";
    put_ms(out, a.started_ms);
    out += ", \"ended_ms\": ";
    put_ms(out, a.ended_ms);
    out += ", \"runtime_ms\": ";
    put_ms(out, runtime);
    out += '}';
}

} // namespace

std::string live_json(const LiveActor& a) {
    std::string out;
    put_live(out, a, std::nullopt);
    return out;
}

std::string LiveTable::status_reply(const std::string& id, double now_ms) const {
    std::string out;
    out.reserve(64 + m_actors.size() * 256);
    out += "{\"ok\": true, ";
    if (!id.empty()) fmt::format_to(std::back_inserter(out), "\"id\": {}, ", id);
    fmt::format_to(std::back_inserter(out), "\"now_ms\": {:.1f}, \"actors\": [", now_ms);
    for (std::size_t i = 0; i < m_actors.size(); ++i) {
        const LiveActor& a = m_actors[i];
        std::optional<double> runtime;
        if (a.started_ms && a.ended_ms && a.state == "ended")
            runtime = *a.ended_ms - *a.started_ms;
        else if (a.started_ms && a.state != "ended" && a.state != "waiting" &&
                 a.state != "restarting")
            runtime = now_ms - *a.started_ms;
        if (i > 0) out += ", ";
        put_live(out, a, runtime);
    }
    out += "]}\n";
    return out;
}

} // namespace forkspawn::control
