// SPDX-License-Identifier: MIT
// The execution fields of a command actor: kill mode, user and group, umask,
// nice and resource limits (execution.hpp), and their checks in the spec.
#include "validator.hpp"

#include "forkspawn/duration.hpp"
#include "forkspawn/execution.hpp"

#include <charconv>
#include <sys/resource.h>

namespace forkspawn::spec {

std::string_view kill_mode_name(KillMode m) {
    switch (m) {
    case KillMode::group:
        return "group";
    case KillMode::main:
        return "main";
    case KillMode::mixed:
        return "mixed";
    }
    return "group";
}

std::optional<KillMode> parse_kill_mode(std::string_view text) {
    for (KillMode m : {KillMode::group, KillMode::main, KillMode::mixed})
        if (kill_mode_name(m) == text) return m;
    return std::nullopt;
}

std::string Principal::to_string() const {
    return id ? std::to_string(*id) : name;
}

const std::vector<RlimitName>& rlimit_names() {
    static const std::vector<RlimitName> names{
        {"as", RLIMIT_AS, RlimitName::bytes},
        {"core", RLIMIT_CORE, RlimitName::bytes},
        {"cpu", RLIMIT_CPU, RlimitName::seconds},
        {"data", RLIMIT_DATA, RlimitName::bytes},
        {"fsize", RLIMIT_FSIZE, RlimitName::bytes},
        {"locks", RLIMIT_LOCKS, RlimitName::count},
        {"memlock", RLIMIT_MEMLOCK, RlimitName::bytes},
        {"msgqueue", RLIMIT_MSGQUEUE, RlimitName::bytes},
        {"nice", RLIMIT_NICE, RlimitName::count},
        {"nofile", RLIMIT_NOFILE, RlimitName::count},
        {"nproc", RLIMIT_NPROC, RlimitName::count},
        {"rss", RLIMIT_RSS, RlimitName::bytes},
        {"rtprio", RLIMIT_RTPRIO, RlimitName::count},
        {"rttime", RLIMIT_RTTIME, RlimitName::microseconds},
        {"sigpending", RLIMIT_SIGPENDING, RlimitName::count},
        {"stack", RLIMIT_STACK, RlimitName::bytes},
    };
    return names;
}

const RlimitName* find_rlimit(std::string_view name) {
    for (const auto& r : rlimit_names())
        if (name == r.name) return &r;
    return nullptr;
}

const RlimitName* find_rlimit(int resource) {
    for (const auto& r : rlimit_names())
        if (resource == r.resource) return &r;
    return nullptr;
}

std::string rlimit_help() {
    std::string out;
    for (const auto& r : rlimit_names())
        out += fmt::format("{}{}", out.empty() ? "" : ", ", r.name);
    return out;
}

namespace {

constexpr std::uint64_t k_infinity = RLIM_INFINITY;

// Whole number, all of `text`.
std::optional<std::uint64_t> whole(std::string_view text) {
    std::uint64_t n = 0;
    const char* end = text.data() + text.size();
    const auto [last, ec] = std::from_chars(text.data(), end, n);
    if (ec != std::errc() || last != end || text.empty()) return std::nullopt;
    return n;
}

constexpr std::string_view k_units = "KMGT";

} // namespace

std::optional<std::uint64_t> parse_rlimit_value(const RlimitName& limit, std::string_view text,
                                                bool is_number, std::string* why) {
    const auto fail = [&](std::string message) -> std::optional<std::uint64_t> {
        if (why) *why = std::move(message);
        return std::nullopt;
    };
    std::string_view allowed;
    switch (limit.unit) {
    case RlimitName::bytes:
        allowed = "a number of bytes, a size such as \"512M\" or \"2G\" (K, M, G, T), or "
                  "\"infinity\"";
        break;
    case RlimitName::seconds:
        allowed = "a number of seconds, a duration such as \"10m\", or \"infinity\"";
        break;
    case RlimitName::microseconds:
        allowed = "a number of microseconds, or \"infinity\"";
        break;
    case RlimitName::count:
        allowed = "a whole number, or \"infinity\"";
        break;
    }
    if (!is_number && (text == "infinity" || text == "unlimited")) {
        // The kernel caps open files at fs.nr_open: setrlimit refuses more.
        if (limit.resource == RLIMIT_NOFILE)
            return fail("nofile cannot be unlimited (the kernel caps it at fs.nr_open, see "
                        "/proc/sys/fs/nr_open); give a number");
        return k_infinity;
    }
    if (auto n = whole(text)) {
        if (*n >= k_infinity) return fail(fmt::format("{} is too large; use \"infinity\"", text));
        return n;
    }
    if (!is_number && limit.unit == RlimitName::bytes && text.size() > 1) {
        const auto unit = k_units.find(text.back());
        const auto n = whole(text.substr(0, text.size() - 1));
        if (unit != std::string_view::npos && n) {
            const unsigned shift = 10 * (static_cast<unsigned>(unit) + 1);
            if (*n > (k_infinity >> shift))
                return fail(fmt::format("{} is too large; use \"infinity\"", text));
            return *n << shift;
        }
    }
    if (!is_number && limit.unit == RlimitName::seconds) {
        std::string duration_why;
        if (auto d = parse_duration(text, &duration_why)) {
            const auto s = std::chrono::duration_cast<std::chrono::seconds>(*d);
            if (s != *d)
                return fail(fmt::format("{} is not a whole number of seconds, which a cpu limit "
                                        "counts in",
                                        text));
            return static_cast<std::uint64_t>(s.count());
        }
    }
    return fail(fmt::format("invalid {} limit {}; allowed: {}", limit.name,
                            is_number ? std::string(text) : quote_input(text), allowed));
}

std::string format_rlimit_value(const RlimitName& limit, std::uint64_t value) {
    if (value == k_infinity) return "infinity";
    if (limit.unit == RlimitName::bytes && value > 0)
        for (std::size_t u = k_units.size(); u-- > 0;) {
            const unsigned shift = 10 * (static_cast<unsigned>(u) + 1);
            if (value % (std::uint64_t{1} << shift) == 0)
                return fmt::format("{}{}", value >> shift, k_units[u]);
        }
    return std::to_string(value);
}

std::optional<mode_t> parse_umask(std::string_view text) {
    if (text.empty() || text.size() > 4) return std::nullopt;
    mode_t mask = 0;
    for (char c : text) {
        if (c < '0' || c > '7') return std::nullopt;
        mask = static_cast<mode_t>(mask * 8 + static_cast<mode_t>(c - '0'));
    }
    if (mask > 0777) return std::nullopt; // a leading digit beyond permissions
    return mask;
}

std::string format_umask(mode_t mask) {
    return fmt::format("{:04o}", mask);
}

// ---- the spec's checks ------------------------------------------------------

std::optional<KillMode> Validator::kill_mode(const Value& v, const std::string& ptr) {
    if (v.type != Type::string) {
        type_error(v, ptr, k_kill_mode_help);
        return std::nullopt;
    }
    if (auto m = parse_kill_mode(v.text)) return m;
    error(v.pos, ptr,
          fmt::format("unknown kill mode {}; allowed: {} (systemd's KillMode)", quote_input(v.text),
                      k_kill_mode_help));
    return std::nullopt;
}

// A user or group: a name as useradd(8) allows it, or a number below
// 2^32 - 1 (which is the kernel's "no id").
std::optional<Principal> Validator::principal(const Value& v, const std::string& ptr,
                                              std::string_view what) {
    const std::string help = fmt::format("a {} name or a number", what);
    if (v.type == Type::number) {
        const auto n = whole(v.text);
        if (!n || *n >= 0xffffffffu) {
            error(v.pos, ptr,
                  fmt::format("{} is not a {} id; allowed: 0 to 4294967294", v.text, what));
            return std::nullopt;
        }
        return Principal{{}, static_cast<std::uint32_t>(*n)};
    }
    auto s = plain_string(v, ptr, help);
    if (!s) return std::nullopt;
    if (s->empty()) {
        error(v.pos, ptr, fmt::format("the {} name is empty; give {}", what, help));
        return std::nullopt;
    }
    if (auto n = whole(*s)) {
        if (*n < 0xffffffffu) return Principal{{}, static_cast<std::uint32_t>(*n)};
        error(v.pos, ptr, fmt::format("{} is not a {} id; allowed: 0 to 4294967294", *s, what));
        return std::nullopt;
    }
    const bool valid =
        s->front() != '-' && s->size() <= 256 && std::all_of(s->begin(), s->end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-' || c == '.' || c == '$';
        });
    if (!valid) {
        error(v.pos, ptr,
              fmt::format("invalid {} name {}; names use letters, digits, '_', '-', '.' and do "
                          "not start with '-'",
                          what, quote_input(*s)));
        return std::nullopt;
    }
    return Principal{*s, std::nullopt};
}

std::optional<mode_t> Validator::umask(const Value& v, const std::string& ptr) {
    constexpr std::string_view help =
        "an octal string of 1 to 4 digits such as \"0027\" or \"022\", at most \"0777\"";
    if (v.type != Type::string) {
        type_error(v, ptr, help);
        return std::nullopt;
    }
    auto m = parse_umask(v.text);
    if (!m)
        error(v.pos, ptr, fmt::format("invalid umask {}; allowed: {}", quote_input(v.text), help));
    return m;
}

std::optional<int> Validator::nice(const Value& v, const std::string& ptr) {
    constexpr std::string_view help = "a whole number from -20 (most favourable) to 19";
    int n = 0;
    const char* end = v.text.data() + v.text.size();
    if (v.type != Type::number) {
        type_error(v, ptr, help);
        return std::nullopt;
    }
    const auto [last, ec] = std::from_chars(v.text.data(), end, n);
    if (ec != std::errc() || last != end || n < -20 || n > 19) {
        error(v.pos, ptr, fmt::format("{} is not {}", v.text, help));
        return std::nullopt;
    }
    return n;
}

void Validator::rlimits(const Value& v, const std::string& ptr, Actor& a) {
    if (v.type != Type::object) {
        type_error(v, ptr,
                   "an object of limits such as {\"nofile\": 1024, \"core\": 0, \"as\": \"2G\"}");
        return;
    }
    std::vector<Rlimit> out;
    FirstKeys first;
    for (const auto& m : v.members) {
        const std::string mptr = ptr + "/" + pointer_token(m.key);
        if (!first_key(first, m, mptr, "limit")) continue;
        const RlimitName* limit = find_rlimit(m.key);
        if (!limit) {
            error(m.key_pos, mptr,
                  fmt::format("unknown limit {}; allowed: {}", quote_input(m.key), rlimit_help()));
            continue;
        }
        // One value (soft = hard) or [soft, hard].
        const auto value = [&](const Value& x, const std::string& xptr) {
            if (x.type != Type::number && x.type != Type::string) {
                type_error(x, xptr, "a number or a string such as \"infinity\"");
                return std::optional<std::uint64_t>();
            }
            std::string why;
            auto n = parse_rlimit_value(*limit, x.text, x.type == Type::number, &why);
            if (!n) error(x.pos, xptr, why);
            return n;
        };
        Rlimit r{limit->resource, 0, 0};
        if (m.value.type == Type::array) {
            if (m.value.items.size() != 2) {
                error(m.value.pos, mptr, "give one value (soft = hard) or [soft, hard]");
                continue;
            }
            const auto soft = value(m.value.items[0], mptr + "/0");
            const auto hard = value(m.value.items[1], mptr + "/1");
            if (!soft || !hard) continue;
            if (*soft > *hard) {
                error(m.value.pos, mptr,
                      fmt::format("the soft limit ({}) is above the hard limit ({})",
                                  format_rlimit_value(*limit, *soft),
                                  format_rlimit_value(*limit, *hard)));
                continue;
            }
            r.soft = *soft;
            r.hard = *hard;
        } else {
            const auto both = value(m.value, mptr);
            if (!both) continue;
            r.soft = r.hard = *both;
        }
        out.push_back(r);
    }
    std::sort(out.begin(), out.end(), [](const Rlimit& x, const Rlimit& y) {
        return std::string_view(find_rlimit(x.resource)->name) <
               std::string_view(find_rlimit(y.resource)->name);
    });
    a.execution.rlimits = std::move(out);
}

} // namespace forkspawn::spec
