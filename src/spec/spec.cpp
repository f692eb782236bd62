// SPDX-License-Identifier: MIT
// Spec validation. It never stops at the first problem: every field of every
// actor is checked and each problem becomes one Diagnostic, so a user fixes a
// spec in one round trip. Only a JSON syntax error ends the walk, since
// nothing after it can be located reliably.
#include "validator.hpp"

#include "forkspawn/signals.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <map>
#include <set>

namespace forkspawn::spec {

std::string Output::to_string() const {
    switch (mode) {
    case Mode::prefix:
        return "prefix";
    case Mode::inherit:
        return "inherit";
    case Mode::null:
        return "null";
    case Mode::file:
        return "file:" + path;
    }
    return "?";
}

std::string_view strategy_name(Strategy s) {
    switch (s) {
    case Strategy::one_for_all:
        return "one_for_all";
    case Strategy::one_for_one:
        return "one_for_one";
    case Strategy::rest_for_one:
        return "rest_for_one";
    }
    return "one_for_all";
}

std::optional<Strategy> parse_strategy(std::string_view text) {
    for (auto s : {Strategy::one_for_all, Strategy::one_for_one, Strategy::rest_for_one})
        if (text == strategy_name(s)) return s;
    return std::nullopt;
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
            diag = up;
        }
    }
    return row[b.size()];
}

bool valid_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '.' || c == '-';
    });
}

} // namespace

void Validator::unknown_field(const json::Member& m, const std::string& mptr) {
    std::string suggestion;
    std::size_t best = 3;
    for (const char* field : k_all_fields) {
        const std::size_t d = edit_distance(m.key, field);
        if (d < best) {
            best = d;
            suggestion = field;
        }
    }
    std::string allowed;
    for (const char* field : k_all_fields)
        allowed += (allowed.empty() ? "" : ", ") + std::string(field);
    error(m.key_pos, mptr,
          fmt::format("unknown field {}{}; allowed: {}", quote_input(m.key),
                      suggestion.empty() ? "" : fmt::format(" (did you mean '{}'?)", suggestion),
                      allowed));
}

Actor Validator::actor(const Value& v, const std::string& ptr, const std::string& parent_path,
                       const Inherited& inherited, std::size_t depth) {
    const bool is_root = parent_path.empty();
    const std::string where = ptr.empty() ? "" : ptr;
    Actor a;
    a.pos = v.pos;
    a.stop = inherited.stop;
    a.output = inherited.output;
    a.backoff = inherited.backoff;
    a.kill = inherited.kill;
    if (v.type != Type::object) {
        type_error(v, where,
                   is_root ? "an object (the root nursery, with \"actors\")"
                           : "an object with \"name\" and \"cmd\" or \"actors\"");
        return a;
    }

    // Keys first: duplicates and unknown fields.
    FirstKeys first;
    for (const auto& m : v.members) {
        const std::string mptr = where + "/" + pointer_token(m.key);
        if (!first_key(first, m, mptr, "field")) continue;
        if (!contains(k_all_fields, m.key)) unknown_field(m, mptr);
    }

    const Value* name = v.find("name");
    const Value* cmd = v.find("cmd");
    const Value* actors = v.find("actors");
    auto field_ptr = [&](std::string_view key) { return where + "/" + std::string(key); };

    if (name) {
        auto s = plain_string(*name, field_ptr("name"), "a string");
        if (s && !valid_name(*s)) {
            error(name->pos, field_ptr("name"),
                  s->empty()
                      ? fmt::format("name is empty; use {}", k_name_help)
                      : fmt::format("invalid name {}; use {}", quote_input(*s), k_name_help));
        } else if (s && s->size() > m_limits.max_name_length) {
            error(name->pos, field_ptr("name"),
                  fmt::format("name is {} characters long; the limit is {}", s->size(),
                              m_limits.max_name_length));
        } else if (s) {
            a.name = *s;
        }
    } else if (is_root) {
        a.name = "root";
    } else {
        error(v.pos, where,
              "actor has no \"name\"; every actor needs one (" + std::string(k_name_help) + ")");
    }
    a.path = is_root ? a.name : parent_path + "/" + a.name;

    if (is_root) {
        if (cmd)
            error(v.member("cmd")->key_pos, field_ptr("cmd"),
                  "the root is a nursery: it takes \"actors\", not \"cmd\"");
        if (v.find("daemon"))
            error(v.member("daemon")->key_pos, field_ptr("daemon"),
                  "not allowed on the root: the root nursery is the whole run");
        if (!actors) error(v.pos, where, "the root needs \"actors\": an array of actors to run");
        cmd = nullptr;
    } else if (cmd && actors) {
        error(v.member("actors")->key_pos, field_ptr("actors"),
              "an actor has either \"cmd\" (a command) or \"actors\" (a nursery), not both");
    } else if (!cmd && !actors) {
        error(v.pos, where,
              "actor has neither \"cmd\" nor \"actors\"; give \"cmd\": [program, args...] "
              "or \"actors\": [...]");
    }
    a.kind = cmd && !actors ? Kind::command : Kind::nursery;

    for (const auto& m : v.members) {
        const std::string mptr = where + "/" + pointer_token(m.key);
        const Value& f = m.value;
        if (actors && !cmd && contains(k_command_only, m.key)) {
            error(m.key_pos, mptr,
                  fmt::format("\"{}\" applies to command actors only (this is a nursery)", m.key));
            continue;
        }
        if (m.key == "daemon") {
            if (!is_root)
                if (auto b = boolean(f, mptr)) a.daemon = *b;
        } else if (m.key == "stop") {
            if (auto s = stop(f, mptr)) a.stop = *s;
        } else if (m.key == "timeout") {
            a.timeout = duration(f, mptr);
        } else if (m.key == "output") {
            if (auto o = output(f, mptr)) a.output = *o;
        } else if (m.key == "env") {
            env(f, mptr, a);
        } else if (m.key == "env_clear") {
            if (auto b = boolean(f, mptr)) a.env_clear = *b;
        } else if (m.key == "cwd") {
            if (auto s = plain_string(f, mptr, "a directory path")) {
                if (s->empty())
                    error(f.pos, mptr, "the directory path is empty");
                else
                    a.cwd = std::move(*s);
            }
        } else if (m.key == "stdin") {
            if (f.type == Type::string && f.text == "null")
                a.stdin_mode = StdinMode::null;
            else if (f.type == Type::string && f.text == "inherit")
                a.stdin_mode = StdinMode::inherit;
            else if (f.type == Type::string)
                error(f.pos, mptr,
                      fmt::format("unknown stdin {}; allowed: \"null\", \"inherit\"",
                                  quote_input(f.text)));
            else
                type_error(f, mptr, "\"null\" or \"inherit\"");
        } else if (m.key == "restart") {
            if (auto r = restart(f, mptr)) a.restart = *r;
        } else if (m.key == "backoff") {
            if (auto b = backoff(f, mptr)) a.backoff = *b;
        } else if (m.key == "success_exit_codes") {
            success_exit_codes(f, mptr, a);
        } else if (m.key == "after") {
            if (is_root)
                error(m.key_pos, mptr, "not allowed on the root: it has no siblings");
            else
                after(f, mptr, a);
        } else if (m.key == "ready") {
            if (is_root)
                error(m.key_pos, mptr, "not allowed on the root: nothing waits for it");
            else
                ready(f, mptr, a);
        } else if (m.key == "watchdog") {
            a.watchdog = duration(f, mptr);
        } else if (m.key == "kill") {
            if (auto k = kill_mode(f, mptr)) a.kill = *k;
        } else if (m.key == "user") {
            a.execution.user = principal(f, mptr, "user");
        } else if (m.key == "group") {
            a.execution.group = principal(f, mptr, "group");
        } else if (m.key == "umask") {
            a.execution.umask = umask(f, mptr);
        } else if (m.key == "nice") {
            a.execution.nice = nice(f, mptr);
        } else if (m.key == "rlimits") {
            rlimits(f, mptr, a);
        } else if (contains(k_nursery_only, m.key) && (a.kind != Kind::nursery || cmd != nullptr)) {
            error(m.key_pos, mptr, fmt::format("\"{}\" applies to nurseries only", m.key));
        } else if (m.key == "strategy") {
            if (auto st = strategy(f, mptr)) a.strategy = *st;
        } else if (m.key == "intensity") {
            if (auto i = intensity(f, mptr)) a.intensity = *i;
        } else if (m.key == "max_running") {
            if (auto n = max_running(f, mptr)) a.max_running = *n;
        }
    }
    if (is_root && !a.max_running) a.max_running = m_defaults.max_running;

    if (cmd && !actors) argv(*cmd, field_ptr("cmd"), a);
    readiness_needs(v, where, a);
    if (actors && (!cmd || is_root)) children(*actors, field_ptr("actors"), a, depth);
    return a;
}

void Validator::children(const Value& v, const std::string& ptr, Actor& parent, std::size_t depth) {
    if (v.type != Type::array) {
        type_error(v, ptr, "an array of actors");
        return;
    }
    if (depth + 1 > m_limits.max_depth) {
        error(v.pos, ptr,
              fmt::format("nurseries nested deeper than {} levels; the limit is {}",
                          m_limits.max_depth, m_limits.max_depth));
        return;
    }
    const Inherited inherited{parent.stop, parent.output, parent.backoff, parent.kill};
    std::set<std::string> names;
    for (std::size_t i = 0; i < v.items.size(); ++i) {
        if (++actor_count > m_limits.max_actors) {
            if (!m_reported_too_many)
                error(v.items[i].pos, fmt::format("{}/{}", ptr, i),
                      fmt::format("more than {} actors in the tree; the limit is {}",
                                  m_limits.max_actors, m_limits.max_actors));
            m_reported_too_many = true;
            return;
        }
        const std::string iptr = fmt::format("{}/{}", ptr, i);
        Actor child = actor(v.items[i], iptr, parent.path, inherited, depth + 1);
        if (!child.name.empty() && !names.insert(child.name).second) {
            const Value* name = v.items[i].find("name");
            error(name ? name->pos : v.items[i].pos, iptr + "/name",
                  fmt::format("duplicate name {}; sibling names must be unique",
                              quote_input(child.name)));
        }
        parent.actors.push_back(std::move(child));
    }
    if (parent.actors.size() == v.items.size()) dependencies(v, ptr, parent);
    // Under one_for_all a restart stops and restarts every sibling too (OTP's
    // meaning): said once per child that asks for restarts, where it asks.
    if (parent.strategy != Strategy::one_for_all || parent.actors.size() < 2) return;
    for (std::size_t i = 0; i < parent.actors.size() && i < v.items.size(); ++i) {
        const Actor& c = parent.actors[i];
        const json::Member* restart = v.items[i].member("restart");
        if (c.restart == RestartPolicy::never || !restart) continue;
        warnings.push_back(
            {restart->key_pos, fmt::format("{}/{}/restart", ptr, i),
             fmt::format("warning: a restart of {} under one_for_all stops and restarts its {} "
                         "sibling{} too; for independent children give {} \"strategy\": "
                         "\"one_for_one\"",
                         quote_input(c.name), parent.actors.size() - 1,
                         parent.actors.size() == 2 ? "" : "s", quote_input(parent.path))});
    }
}

ParseResult parse(std::string_view text, const Defaults& defaults, const Limits& limits) {
    ParseResult result;
    Diagnostic syntax;
    json::Limits json_limits;
    json_limits.max_bytes = limits.max_bytes;
    auto doc = json::parse(text, syntax, json_limits);
    if (!doc) {
        result.errors.push_back(std::move(syntax));
        return result;
    }
    Validator validator(defaults, limits);
    Spec spec{validator.root(*doc), 0};
    spec.actor_count = validator.actor_count;
    result.errors = std::move(validator.errors);
    result.warnings = std::move(validator.warnings);
    const auto in_text_order = [](const Diagnostic& a, const Diagnostic& b) {
        return std::tie(a.pos.line, a.pos.column) < std::tie(b.pos.line, b.pos.column);
    };
    std::stable_sort(result.errors.begin(), result.errors.end(), in_text_order);
    std::stable_sort(result.warnings.begin(), result.warnings.end(), in_text_order);
    if (result.errors.empty()) result.spec = std::move(spec);
    return result;
}

} // namespace forkspawn::spec
