// SPDX-License-Identifier: MIT
#include "forkspawn/channel.hpp"

#include <algorithm>
#include <climits>

#include <nlohmann/json.hpp>

namespace forkspawn::channel {

namespace {

using nlohmann::json;

// Invalid UTF-8 in a path or a report (an actor's name is the user's) is
// replaced, never a reason to lose the message.
std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The value at `key` when it has the wanted type.
template <typename T> std::optional<T> get(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end()) return std::nullopt;
    if constexpr (std::is_same_v<T, std::string>) {
        if (!it->is_string()) return std::nullopt;
    } else if constexpr (std::is_same_v<T, bool>) {
        if (!it->is_boolean()) return std::nullopt;
    } else if constexpr (std::is_floating_point_v<T>) {
        if (!it->is_number()) return std::nullopt;
    } else {
        if (!it->is_number_integer()) return std::nullopt;
        if constexpr (std::is_unsigned_v<T>) {
            if (!it->is_number_unsigned()) return std::nullopt;
        }
    }
    return it->get<T>();
}

json parse(std::string_view datagram) {
    auto j = json::parse(datagram, nullptr, false);
    return j.is_object() ? j : json();
}

} // namespace

std::string encode(const Up& message) {
    return std::visit(
        Overload{
            [](const Spawned& m) {
                return dump(json{{"t", "spawned"},
                                 {"path", m.path},
                                 {"kind", report::kind_name(m.kind)},
                                 {"pid", m.pid},
                                 {"started_ms", m.started_ms},
                                 {"start_ticks", m.start_ticks},
                                 {"attempt", m.attempt}});
            },
            [](const AttemptEnded& m) {
                json j{{"t", "attempt_ended"},   {"path", m.path},
                       {"attempt", m.attempt},   {"outcome", report::outcome_name(m.outcome)},
                       {"ended_ms", m.ended_ms}, {"delay_ms", m.delay_ms}};
                if (m.status) j["status"] = *m.status;
                return dump(j);
            },
            [](const Ready& m) {
                return dump(json{{"t", "ready"},
                                 {"path", m.path},
                                 {"attempt", m.attempt},
                                 {"ready_ms", m.ready_ms}});
            },
            [](const Reaped& m) {
                // actor_json is one JSON object already (valid UTF-8: its
                // dump replaces what is not): no parse and dump again.
                return R"({"t":"reaped","actor":)" + report::actor_json(m.actor) + "}";
            },
            [](const Failing&) {
                return dump(json{{"t", "failing"}});
            },
            [](const TerminalWant& m) {
                return dump(json{{"t", "terminal"}, {"want", m.want}});
            },
            [](const Exit& m) {
                return dump(json{{"t", "exit"}, {"output_dropped", m.output_dropped}});
            },
            [](const Live& m) {
                return R"({"t":"live","actor":)" + control::live_json(m.actor) + "}";
            },
            [](const Refused& m) {
                return dump(json{{"t", "refused"}, {"id", m.id}, {"error", m.error}});
            },
        },
        message);
}

std::string encode(const Down& message) {
    return std::visit(Overload{
                          [](const Cancel& m) {
                              return dump(json{{"t", "cancel"}, {"reason", m.reason}});
                          },
                          [](const Dump&) {
                              return dump(json{{"t", "dump"}});
                          },
                          [](const TerminalLent&) {
                              return dump(json{{"t", "terminal"}, {"lent", true}});
                          },
                          [](const Control& m) {
                              return dump(json{{"t", "control"},
                                               {"id", m.id},
                                               {"op", control::op_name(m.op)},
                                               {"path", m.path},
                                               {"signo", m.signo}});
                          },
                      },
                      message);
}

std::optional<Up> decode_up(std::string_view datagram) {
    const json j = parse(datagram);
    const auto t = get<std::string>(j, "t");
    if (!t) return std::nullopt;
    if (*t == "spawned") {
        Spawned m;
        const auto path = get<std::string>(j, "path");
        const auto pid = get<std::int64_t>(j, "pid");
        if (!path || !pid || *pid <= 0 || *pid > INT32_MAX) return std::nullopt;
        m.path = *path;
        m.pid = static_cast<pid_t>(*pid);
        m.kind = report::parse_kind(get<std::string>(j, "kind").value_or("cmd"))
                     .value_or(report::Kind::cmd);
        m.started_ms = get<double>(j, "started_ms").value_or(0);
        m.start_ticks = get<std::uint64_t>(j, "start_ticks").value_or(0);
        m.attempt = static_cast<unsigned>(
            std::clamp<std::uint64_t>(get<std::uint64_t>(j, "attempt").value_or(1), 1, UINT32_MAX));
        return m;
    }
    if (*t == "attempt_ended") {
        AttemptEnded m;
        const auto path = get<std::string>(j, "path");
        const auto outcome = get<std::string>(j, "outcome");
        if (!path || !outcome) return std::nullopt;
        m.path = *path;
        m.attempt = static_cast<unsigned>(
            std::clamp<std::uint64_t>(get<std::uint64_t>(j, "attempt").value_or(1), 1, UINT32_MAX));
        m.status = get<std::string>(j, "status");
        bool known = false;
        for (auto o : {report::Outcome::completed, report::Outcome::failed,
                       report::Outcome::cancelled, report::Outcome::killed})
            if (report::outcome_name(o) == *outcome) {
                m.outcome = o;
                known = true;
            }
        if (!known) return std::nullopt;
        m.ended_ms = get<double>(j, "ended_ms").value_or(0);
        m.delay_ms = get<double>(j, "delay_ms").value_or(0);
        return m;
    }
    if (*t == "ready") {
        const auto path = get<std::string>(j, "path");
        if (!path) return std::nullopt;
        return Ready{*path,
                     static_cast<unsigned>(std::clamp<std::uint64_t>(
                         get<std::uint64_t>(j, "attempt").value_or(1), 1, UINT32_MAX)),
                     get<double>(j, "ready_ms").value_or(0)};
    }
    if (*t == "reaped") {
        const auto it = j.find("actor");
        if (it == j.end()) return std::nullopt;
        auto actor = report::actor_from_json(*it);
        if (!actor) return std::nullopt;
        return Reaped{std::move(*actor)};
    }
    if (*t == "failing") return Failing{};
    if (*t == "terminal") return TerminalWant{get<bool>(j, "want").value_or(false)};
    if (*t == "exit") return Exit{get<std::uint64_t>(j, "output_dropped").value_or(0)};
    if (*t == "live") {
        const auto it = j.find("actor");
        if (it == j.end() || !it->is_object()) return std::nullopt;
        auto actor = control::live_from_json(it->dump());
        if (!actor) return std::nullopt;
        return Live{std::move(*actor)};
    }
    if (*t == "refused") {
        const auto id = get<std::uint64_t>(j, "id");
        if (!id) return std::nullopt;
        return Refused{*id, get<std::string>(j, "error").value_or("refused")};
    }
    return std::nullopt;
}

std::optional<Down> decode_down(std::string_view datagram) {
    const json j = parse(datagram);
    const auto t = get<std::string>(j, "t");
    if (!t) return std::nullopt;
    if (*t == "cancel") return Cancel{get<std::string>(j, "reason").value_or("parent_cancelled")};
    if (*t == "dump") return Dump{};
    if (*t == "terminal" && get<bool>(j, "lent").value_or(false)) return TerminalLent{};
    if (*t == "control") {
        const auto id = get<std::uint64_t>(j, "id");
        const auto op = get<std::string>(j, "op");
        const auto path = get<std::string>(j, "path");
        if (!id || !op || !path) return std::nullopt;
        Control m{*id, control::Op::stop, *path, get<int>(j, "signo").value_or(0)};
        bool known = false;
        for (auto o :
             {control::Op::stop, control::Op::start, control::Op::restart, control::Op::signal})
            if (control::op_name(o) == *op) {
                m.op = o;
                known = true;
            }
        if (!known) return std::nullopt;
        return m;
    }
    return std::nullopt;
}

} // namespace forkspawn::channel
