// SPDX-License-Identifier: MIT
// The `after`, `ready` and `watchdog` fields, and what can only be checked
// on the whole nursery: every `after` names a sibling, and no dependencies
// go round in a cycle (spelled out where it starts).
#include "validator.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <re2/re2.h>

namespace forkspawn {

std::string_view after_condition_name(AfterCondition c) {
    switch (c) {
    case AfterCondition::started:
        return "started";
    case AfterCondition::ready:
        return "ready";
    case AfterCondition::completed:
        return "completed";
    case AfterCondition::ended:
        return "ended";
    }
    return "ready";
}

std::optional<AfterCondition> parse_after_condition(std::string_view text) {
    for (auto c : {AfterCondition::started, AfterCondition::ready, AfterCondition::completed,
                   AfterCondition::ended})
        if (text == after_condition_name(c)) return c;
    return std::nullopt;
}

std::string_view ready_source_name(Ready::Source s) {
    switch (s) {
    case Ready::Source::none:
        return "started";
    case Ready::Source::notify:
        return "notify";
    case Ready::Source::fd:
        return "fd";
    case Ready::Source::output:
        return "output";
    case Ready::Source::exec:
        return "exec";
    case Ready::Source::tcp:
        return "tcp";
    }
    return "started";
}

bool parse_tcp_address(std::string_view text, std::string& host, std::uint16_t& port,
                       std::string* why) {
    const auto fail = [&](std::string message) {
        if (why) *why = std::move(message);
        return false;
    };
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
        return fail("no port; write \"HOST:PORT\", e.g. \"127.0.0.1:8000\"");
    std::string_view h = text.substr(0, colon);
    const std::string_view p = text.substr(colon + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || value == 0 || value > 65535)
        return fail(fmt::format("invalid port {}; a port is 1 to 65535", quote_input(p)));
    const bool bracketed = h.size() >= 2 && h.front() == '[' && h.back() == ']';
    if (bracketed) h = h.substr(1, h.size() - 2);
    std::string candidate(h == "localhost" ? "127.0.0.1" : h);
    unsigned char buf[sizeof(in6_addr)];
    const bool v4 = !bracketed && ::inet_pton(AF_INET, candidate.c_str(), buf) == 1;
    const bool v6 = bracketed && ::inet_pton(AF_INET6, candidate.c_str(), buf) == 1;
    if (!v4 && !v6)
        return fail(fmt::format("invalid host {}; give a numeric IPv4 address, [an IPv6 address] "
                                "or localhost (names are not looked up)",
                                quote_input(h)));
    host = std::move(candidate);
    port = static_cast<std::uint16_t>(value);
    return true;
}

namespace spec {

// {"sibling": CONDITION, ...} or ["a", "b"] (each: ready). The names are
// checked against the siblings in dependencies().
void Validator::after(const Value& v, const std::string& ptr, Actor& a) {
    if (v.type == Type::array) {
        for (std::size_t i = 0; i < v.items.size(); ++i) {
            const auto name =
                plain_string(v.items[i], fmt::format("{}/{}", ptr, i), "a sibling's name");
            if (name) a.after.push_back({*name, 0, AfterCondition::ready});
        }
        return;
    }
    if (v.type != Type::object) {
        type_error(v, ptr,
                   fmt::format("{{\"sibling\": CONDITION}} (CONDITION: {}) or an array of "
                               "siblings' names (each: \"ready\")",
                               k_after_help));
        return;
    }
    FirstKeys first;
    for (const auto& m : v.members) {
        const std::string mptr = ptr + "/" + pointer_token(m.key);
        if (!first_key(first, m, mptr, "sibling")) continue;
        if (m.value.type != Type::string) {
            type_error(m.value, mptr, k_after_help);
            continue;
        }
        const auto c = parse_after_condition(m.value.text);
        if (!c) {
            error(m.value.pos, mptr,
                  fmt::format("unknown condition {}; allowed: {}", quote_input(m.value.text),
                              k_after_help));
            continue;
        }
        a.after.push_back({m.key, 0, *c});
    }
}

// One source (notify, fd, output, exec, tcp), with "interval" for exec
// and tcp, and "timeout" for any.
void Validator::ready(const Value& v, const std::string& ptr, Actor& a) {
    constexpr std::string_view help =
        R"(an object with one of "notify": true, "fd": N, "output": REGEX, "exec": ARGV, "tcp": "HOST:PORT", and optionally "interval" (exec, tcp) and "timeout")";
    if (v.type != Type::object) {
        type_error(v, ptr, help);
        return;
    }
    constexpr std::array sources{"notify", "fd", "output", "exec", "tcp"};
    FirstKeys first;
    Ready r;
    const json::Member* source = nullptr;
    const json::Member* interval = nullptr;
    for (const auto& m : v.members) {
        const std::string mptr = ptr + "/" + pointer_token(m.key);
        if (!first_key(first, m, mptr, "field")) continue;
        if (contains(sources, m.key)) {
            if (source) {
                error(
                    m.key_pos, mptr,
                    fmt::format("\"ready\" takes one source; it has \"{}\" already", source->key));
                continue;
            }
            source = &m;
        } else if (m.key == "interval") {
            interval = &m;
        } else if (m.key == "timeout") {
            if (auto d = duration(m.value, mptr)) r.timeout = *d;
        } else {
            error(m.key_pos, mptr,
                  fmt::format("unknown field {} of \"ready\"; allowed: \"notify\", \"fd\", "
                              "\"output\", \"exec\", \"tcp\", \"interval\", \"timeout\"",
                              quote_input(m.key)));
        }
    }
    if (!source) {
        error(v.pos, ptr, fmt::format("no readiness source; give {}", help));
        return;
    }
    const Value& s = source->value;
    const std::string sptr = ptr + "/" + source->key;
    const bool command = a.kind == Kind::command;
    if (!command && source->key != "exec" && source->key != "tcp") {
        error(source->key_pos, sptr,
              fmt::format("\"{}\" readiness applies to command actors only; a nursery can be "
                          "probed with \"exec\" or \"tcp\"",
                          source->key));
        return;
    }
    if (source->key == "notify") {
        auto b = boolean(s, sptr);
        if (b && !*b) error(s.pos, sptr, "must be true (leave \"ready\" out for none)");
        if (b && *b) r.source = Ready::Source::notify;
    } else if (source->key == "fd") {
        int n = -1;
        const char* end = s.text.data() + s.text.size();
        if (s.type != Type::number || std::from_chars(s.text.data(), end, n).ptr != end ||
            n < k_min_ready_fd || n > k_max_ready_fd) {
            error(s.pos, sptr,
                  fmt::format("must be an fd number from {} to {} (the notification fd the "
                              "actor writes a newline to)",
                              k_min_ready_fd, k_max_ready_fd));
        } else {
            r.source = Ready::Source::fd;
            r.fd = n;
        }
    } else if (source->key == "output") {
        if (auto p = plain_string(s, sptr, "a regular expression (RE2 syntax)")) {
            const RE2 re(*p, RE2::Quiet);
            if (!re.ok())
                error(s.pos, sptr,
                      fmt::format("invalid regular expression: {} (RE2 syntax: no "
                                  "backreferences or lookaround)",
                                  re.error()));
            else if (p->empty())
                error(s.pos, sptr, "the regular expression is empty; it would match any line");
            else {
                r.source = Ready::Source::output;
                r.pattern = std::move(*p);
            }
        }
    } else if (source->key == "exec") {
        Actor probe;
        const std::size_t before = errors.size();
        argv(s, sptr, probe);
        if (errors.size() == before) {
            r.source = Ready::Source::exec;
            r.argv = std::move(probe.argv);
        }
    } else if (source->key == "tcp") {
        if (auto t = plain_string(s, sptr, "\"HOST:PORT\"")) {
            std::string why;
            if (parse_tcp_address(*t, r.host, r.port, &why))
                r.source = Ready::Source::tcp;
            else
                error(s.pos, sptr, why);
        }
    }
    if (interval) {
        const std::string iptr = ptr + "/interval";
        if (source->key != "exec" && source->key != "tcp")
            error(interval->key_pos, iptr,
                  fmt::format("\"interval\" applies to \"exec\" and \"tcp\", not \"{}\"",
                              source->key));
        else if (auto d = duration(interval->value, iptr))
            r.interval = *d;
    } else {
        r.interval = source->key == "exec" ? k_exec_interval : k_tcp_interval;
    }
    if (r.source != Ready::Source::none) a.ready = std::move(r);
}

// What one actor's readiness needs of its other fields.
void Validator::readiness_needs(const Value& v, const std::string& ptr, const Actor& a) {
    if (a.watchdog && a.ready.source != Ready::Source::notify) {
        const json::Member* w = v.member("watchdog");
        if (w)
            error(w->key_pos, ptr + "/watchdog",
                  "\"watchdog\" needs \"ready\": {\"notify\": true} (WATCHDOG=1 comes over "
                  "NOTIFY_SOCKET)");
    }
    if (a.ready.source == Ready::Source::output && a.output.mode == Output::Mode::inherit) {
        const json::Member* r = v.member("ready");
        if (r)
            error(r->key_pos, ptr + "/ready/output",
                  "\"ready\": {\"output\": ...} needs the actor's output to pass through "
                  "forkspawn; its \"output\" is \"inherit\" (use \"prefix\", \"null\" or a file)");
    }
}

// Every `after` names a sibling other than itself; the graph has no cycle.
void Validator::dependencies(const Value& v, const std::string& ptr, Actor& parent) {
    std::map<std::string_view, std::size_t> index;
    for (std::size_t i = 0; i < parent.actors.size(); ++i)
        if (!parent.actors[i].name.empty()) index.emplace(parent.actors[i].name, i);
    const auto after_ptr = [&](std::size_t i) { return fmt::format("{}/{}/after", ptr, i); };
    const auto entry_pos = [&](std::size_t i, std::size_t k, const std::string& name) {
        const json::Member* m = v.items[i].member("after");
        if (!m) return std::pair{v.items[i].pos, after_ptr(i)};
        if (m->value.type == Type::array && k < m->value.items.size())
            return std::pair{m->value.items[k].pos, fmt::format("{}/{}", after_ptr(i), k)};
        if (const json::Member* e = m->value.member(name))
            return std::pair{e->key_pos, after_ptr(i) + "/" + pointer_token(name)};
        return std::pair{m->key_pos, after_ptr(i)};
    };
    constexpr std::size_t unresolved = static_cast<std::size_t>(-1);
    for (std::size_t i = 0; i < parent.actors.size(); ++i) {
        Actor& a = parent.actors[i];
        for (std::size_t k = 0; k < a.after.size(); ++k) {
            After& dep = a.after[k];
            const auto it = index.find(dep.sibling);
            const auto [pos, where] = entry_pos(i, k, dep.sibling);
            dep.index = unresolved;
            if (it == index.end()) {
                std::string names;
                for (const auto& s : parent.actors)
                    if (&s != &a && !s.name.empty())
                        names += (names.empty() ? "" : ", ") + quote_input(s.name);
                error(pos, where,
                      fmt::format("{} is not a sibling of {}; its siblings: {}",
                                  quote_input(dep.sibling), quote_input(a.name),
                                  names.empty() ? "none" : names));
            } else if (it->second == i) {
                error(pos, where, fmt::format("{} depends on itself", quote_input(a.name)));
            } else {
                dep.index = it->second;
            }
        }
    }
    // Depth-first, three colours; a grey sibling met again closes a cycle,
    // reported once, at the `after` of the actor where it was entered.
    enum Colour { white, grey, black };
    std::vector<Colour> colour(parent.actors.size(), white);
    std::vector<std::size_t> stack;
    const auto visit = [&](auto& self, std::size_t i) -> void {
        colour[i] = grey;
        stack.push_back(i);
        for (const After& dep : parent.actors[i].after) {
            if (dep.index == unresolved) continue; // reported above
            if (colour[dep.index] == grey) {
                const auto from = std::find(stack.begin(), stack.end(), dep.index);
                std::string cycle;
                for (auto it = from; it != stack.end(); ++it)
                    cycle += quote_input(parent.actors[*it].name) + " -> ";
                cycle += quote_input(parent.actors[dep.index].name);
                const std::size_t at = *from;
                const json::Member* m = v.items[at].member("after");
                error(m ? m->key_pos : v.items[at].pos, after_ptr(at),
                      fmt::format("dependency cycle: {} (each waits for the next: none could "
                                  "start)",
                                  cycle));
            } else if (colour[dep.index] == white) {
                self(self, dep.index);
            }
        }
        stack.pop_back();
        colour[i] = black;
    };
    for (std::size_t i = 0; i < parent.actors.size(); ++i)
        if (colour[i] == white) visit(visit, i);
}

} // namespace spec
} // namespace forkspawn
