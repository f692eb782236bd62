// Spec validation. It never stops at the first problem: every field of every
// actor is checked and each problem becomes one Diagnostic, so a user fixes a
// spec in one round trip. Only a JSON syntax error ends the walk, since
// nothing after it can be located reliably.
#include "forkspawn/spec.hpp"

#include "forkspawn/json_reader.hpp"
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

namespace {

using json::Type;
using json::Value;

constexpr std::string_view k_name_help = "letters, digits, '_', '.' and '-'";
constexpr std::string_view k_output_help = "\"prefix\", \"inherit\", \"null\" or {\"file\": PATH}";

// Fields by where they are allowed.
constexpr std::array k_all_fields{"name", "cmd",       "actors", "daemon", "stop",   "timeout",
                                  "env",  "env_clear", "cwd",    "stdin",  "output", "strategy"};
constexpr std::array k_command_only{"env", "env_clear", "cwd", "stdin"};

template <std::size_t N>
bool contains(const std::array<const char*, N>& set, std::string_view key) {
    return std::find(set.begin(), set.end(), key) != set.end();
}

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

class Validator {
  public:
    Validator(const Defaults& defaults, const Limits& limits)
        : m_defaults(defaults), m_limits(limits) {}

    std::vector<Diagnostic> errors;
    std::size_t actor_count = 0;

    Actor root(const Value& v) {
        Inherited inherited{m_defaults.stop, m_defaults.output};
        return actor(v, "", "", inherited, 0);
    }

  private:
    struct Inherited {
        StopSequence stop;
        Output output;
    };

    const Defaults& m_defaults;
    const Limits& m_limits;
    bool m_reported_too_many = false;

    void error(Position pos, std::string pointer, std::string message) {
        errors.push_back({pos, std::move(pointer), std::move(message)});
    }

    // Where each key of one object was first written. A lookup per key keeps
    // an object of many (duplicate) keys linear, not quadratic.
    using FirstKeys = std::map<std::string_view, Position>;

    // Records `m`'s key; false (and an error) when the object already had it.
    // The reader keeps duplicates; JSON parsers disagree on which one wins,
    // so a spec must not have them.
    bool first_key(FirstKeys& first, const json::Member& m, const std::string& mptr,
                   std::string_view what) {
        const auto [it, inserted] = first.emplace(m.key, m.key_pos);
        if (inserted) return true;
        error(m.key_pos, mptr,
              fmt::format("duplicate {} {} (first at line {}, column {})", what, quote_input(m.key),
                          it->second.line, it->second.column));
        return false;
    }

    void type_error(const Value& v, const std::string& ptr, std::string_view expected) {
        error(v.pos, ptr, fmt::format("must be {}, not {}", expected, json::type_name(v.type)));
    }

    // A string without NUL bytes (they cannot pass through execve).
    std::optional<std::string> plain_string(const Value& v, const std::string& ptr,
                                            std::string_view expected) {
        if (v.type != Type::string) {
            type_error(v, ptr, expected);
            return std::nullopt;
        }
        if (v.text.find('\0') != std::string::npos) {
            error(v.pos, ptr, "contains a NUL byte (\\u0000); it cannot be passed to a process");
            return std::nullopt;
        }
        return v.text;
    }

    std::optional<bool> boolean(const Value& v, const std::string& ptr) {
        if (v.type != Type::boolean) {
            type_error(v, ptr, "true or false");
            return std::nullopt;
        }
        return v.boolean;
    }

    std::optional<Duration> duration(const Value& v, const std::string& ptr) {
        if (v.type != Type::string) {
            type_error(v, ptr, fmt::format("a duration string ({})", k_duration_help));
            return std::nullopt;
        }
        std::string why;
        auto d = parse_duration(v.text, &why);
        if (!d) {
            error(v.pos, ptr, why);
            return std::nullopt;
        }
        if (d->count() == 0) {
            error(v.pos, ptr, "a timeout must be longer than 0s");
            return std::nullopt;
        }
        return d;
    }

    std::optional<StopSequence> stop(const Value& v, const std::string& ptr) {
        if (v.type != Type::array) {
            type_error(v, ptr, fmt::format("an array of {}", k_stop_help));
            return std::nullopt;
        }
        std::vector<StopToken> tokens;
        bool ok = true;
        for (std::size_t i = 0; i < v.items.size(); ++i) {
            const Value& item = v.items[i];
            if (item.type != Type::string) {
                type_error(item, fmt::format("{}/{}", ptr, i),
                           "a string: a signal name or a wait such as \"1.6s\"");
                ok = false;
                continue;
            }
            tokens.push_back({item.text, i});
        }
        if (!ok) return std::nullopt;
        std::vector<StopError> stop_errors;
        auto seq = parse_stop_tokens(tokens, stop_errors);
        for (const auto& e : stop_errors) {
            if (v.items.empty())
                error(v.pos, ptr, e.message);
            else
                error(v.items[e.index].pos, fmt::format("{}/{}", ptr, e.index), e.message);
        }
        return seq;
    }

    std::optional<Output> output(const Value& v, const std::string& ptr) {
        if (v.type == Type::string) {
            if (v.text == "prefix") return Output{Output::Mode::prefix, {}};
            if (v.text == "inherit") return Output{Output::Mode::inherit, {}};
            if (v.text == "null") return Output{Output::Mode::null, {}};
            error(
                v.pos, ptr,
                fmt::format("unknown output {}; allowed: {}", quote_input(v.text), k_output_help));
            return std::nullopt;
        }
        if (v.type != Type::object) {
            type_error(v, ptr, k_output_help);
            return std::nullopt;
        }
        std::optional<std::string> path;
        bool ok = true;
        FirstKeys first;
        for (const auto& m : v.members) {
            const std::string mptr = ptr + "/" + pointer_token(m.key);
            if (!first_key(first, m, mptr, "field")) {
                ok = false;
                continue;
            }
            if (m.key != "file") {
                error(m.key_pos, mptr,
                      fmt::format("unknown field {} in output; allowed: file", quote_input(m.key)));
                ok = false;
                continue;
            }
            path = plain_string(m.value, mptr, "a file path");
            if (path && path->empty()) {
                error(m.value.pos, mptr, "the file path is empty");
                path.reset();
            }
            if (!path) ok = false;
        }
        if (!ok) return std::nullopt;
        if (!path) {
            error(v.pos, ptr,
                  fmt::format("output object needs \"file\"; allowed: {}", k_output_help));
            return std::nullopt;
        }
        return Output{Output::Mode::file, *path};
    }

    void argv(const Value& v, const std::string& ptr, Actor& a) {
        if (v.type != Type::array || v.items.empty()) {
            if (v.type == Type::array)
                error(v.pos, ptr,
                      "is empty; give the program and its arguments, e.g. "
                      "[\"sleep\", \"5\"]");
            else
                type_error(v, ptr, "a non-empty array of strings (program and arguments)");
            return;
        }
        for (std::size_t i = 0; i < v.items.size(); ++i) {
            auto s = plain_string(v.items[i], fmt::format("{}/{}", ptr, i), "a string");
            if (s) a.argv.push_back(std::move(*s));
        }
        if (!a.argv.empty() && a.argv.front().empty())
            error(v.items[0].pos, ptr + "/0", "the program name is empty");
    }

    void env(const Value& v, const std::string& ptr, Actor& a) {
        if (v.type != Type::object) {
            type_error(v, ptr, "an object of NAME: \"value\" strings");
            return;
        }
        FirstKeys first;
        for (const auto& m : v.members) {
            const std::string mptr = ptr + "/" + pointer_token(m.key);
            if (!first_key(first, m, mptr, "variable")) continue;
            if (m.key.empty() || m.key.find('=') != std::string::npos ||
                m.key.find('\0') != std::string::npos) {
                error(m.key_pos, mptr,
                      fmt::format("invalid variable name {}; names are non-empty, without '=' "
                                  "or NUL",
                                  quote_input(m.key)));
                continue;
            }
            auto value = plain_string(m.value, mptr, "a string");
            if (value) a.env.emplace_back(m.key, std::move(*value));
        }
    }

    void unknown_field(const json::Member& m, const std::string& mptr) {
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
        error(
            m.key_pos, mptr,
            fmt::format("unknown field {}{}; allowed: {}", quote_input(m.key),
                        suggestion.empty() ? "" : fmt::format(" (did you mean '{}'?)", suggestion),
                        allowed));
    }

    Actor actor(const Value& v, const std::string& ptr, const std::string& parent_path,
                const Inherited& inherited, std::size_t depth) {
        const bool is_root = parent_path.empty();
        const std::string where = ptr.empty() ? "" : ptr;
        Actor a;
        a.pos = v.pos;
        a.stop = inherited.stop;
        a.output = inherited.output;
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
                  "actor has no \"name\"; every actor needs one (" + std::string(k_name_help) +
                      ")");
        }
        a.path = is_root ? a.name : parent_path + "/" + a.name;

        if (is_root) {
            if (cmd)
                error(v.member("cmd")->key_pos, field_ptr("cmd"),
                      "the root is a nursery: it takes \"actors\", not \"cmd\"");
            if (v.find("daemon"))
                error(v.member("daemon")->key_pos, field_ptr("daemon"),
                      "not allowed on the root: the root nursery is the whole run");
            if (!actors)
                error(v.pos, where, "the root needs \"actors\": an array of actors to run");
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
                      fmt::format("\"{}\" applies to command actors only (this is a nursery)",
                                  m.key));
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
            } else if (m.key == "strategy") {
                if (a.kind != Kind::nursery || cmd != nullptr)
                    error(m.key_pos, mptr, "\"strategy\" applies to nurseries only");
                else if (f.type == Type::string && f.text == "one_for_all")
                    a.strategy = Strategy::one_for_all;
                else if (f.type == Type::string)
                    error(f.pos, mptr,
                          fmt::format("unknown strategy {}; allowed: \"one_for_all\"",
                                      quote_input(f.text)));
                else
                    type_error(f, mptr, "\"one_for_all\"");
            }
        }

        if (cmd && !actors) argv(*cmd, field_ptr("cmd"), a);
        if (actors && (!cmd || is_root)) children(*actors, field_ptr("actors"), a, depth);
        return a;
    }

    void children(const Value& v, const std::string& ptr, Actor& parent, std::size_t depth) {
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
        const Inherited inherited{parent.stop, parent.output};
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
    }
};

} // namespace

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
    std::stable_sort(
        result.errors.begin(), result.errors.end(), [](const Diagnostic& a, const Diagnostic& b) {
            return std::tie(a.pos.line, a.pos.column) < std::tie(b.pos.line, b.pos.column);
        });
    if (result.errors.empty()) result.spec = std::move(spec);
    return result;
}

} // namespace forkspawn::spec
