// SPDX-License-Identifier: MIT
// The values of spec fields: each parser checks one value, reports every
// problem at its JSON pointer with what is allowed, and returns what it
// could read.
#include "validator.hpp"

#include "forkspawn/signals.hpp"

#include <charconv>

namespace forkspawn::spec {

// A string without NUL bytes (they cannot pass through execve).
std::optional<std::string> Validator::plain_string(const Value& v, const std::string& ptr,
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

std::optional<bool> Validator::boolean(const Value& v, const std::string& ptr) {
    if (v.type != Type::boolean) {
        type_error(v, ptr, "true or false");
        return std::nullopt;
    }
    return v.boolean;
}

std::optional<Duration> Validator::duration(const Value& v, const std::string& ptr,
                                            bool allow_zero) {
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
    if (d->count() == 0 && !allow_zero) {
        error(v.pos, ptr, "a timeout must be longer than 0s");
        return std::nullopt;
    }
    return d;
}

std::optional<StopSequence> Validator::stop(const Value& v, const std::string& ptr) {
    // "TERM" or "SIGTERM, 5s, SIGKILL": written as --stop takes it.
    if (v.type == Type::string) {
        std::string why;
        auto seq = parse_stop_sequence(v.text, &why);
        if (!seq) error(v.pos, ptr, why);
        return seq;
    }
    if (v.type != Type::array) {
        type_error(v, ptr, fmt::format("an array (or a string) of {}", k_stop_help));
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

std::optional<Output> Validator::output(const Value& v, const std::string& ptr) {
    if (v.type == Type::string) {
        if (v.text == "prefix") return Output{Output::Mode::prefix, {}};
        if (v.text == "inherit") return Output{Output::Mode::inherit, {}};
        if (v.text == "null") return Output{Output::Mode::null, {}};
        error(v.pos, ptr,
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
        error(v.pos, ptr, fmt::format("output object needs \"file\"; allowed: {}", k_output_help));
        return std::nullopt;
    }
    return Output{Output::Mode::file, *path};
}

void Validator::argv(const Value& v, const std::string& ptr, Actor& a) {
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

void Validator::env(const Value& v, const std::string& ptr, Actor& a) {
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
        if (!value) continue;
        std::string why;
        if (!expand_env(
                *value, [](std::string_view) { return std::nullopt; }, &why)) {
            error(m.value.pos, mptr, why);
            continue;
        }
        a.env.emplace_back(m.key, std::move(*value));
    }
}

namespace {

// One of a set of names: `parse` knows them, `help` lists them for errors.
template <typename T, typename Parse>
std::optional<T> one_of(Validator& v, const Value& value, const std::string& ptr, Parse parse,
                        std::string_view what, std::string_view help, std::string_view note) {
    if (value.type != Type::string) {
        v.type_error(value, ptr, help);
        return std::nullopt;
    }
    if (auto t = parse(value.text)) return t;
    v.error(value.pos, ptr,
            fmt::format("unknown {} {}; allowed: {}{}", what, quote_input(value.text), help, note));
    return std::nullopt;
}

} // namespace

std::optional<Strategy> Validator::strategy(const Value& v, const std::string& ptr) {
    return one_of<Strategy>(*this, v, ptr, parse_strategy, "strategy", k_strategy_help, "");
}

std::optional<RestartPolicy> Validator::restart(const Value& v, const std::string& ptr) {
    return one_of<RestartPolicy>(*this, v, ptr, parse_restart_policy, "restart policy",
                                 k_restart_help, " (OTP's temporary, transient, permanent)");
}

// One duration (a fixed delay) or {"initial": DUR, "max": DUR}; a part left
// out takes its default, and initial may not exceed max.
std::optional<Backoff> Validator::backoff(const Value& v, const std::string& ptr) {
    constexpr std::string_view help =
        R"(a duration (a fixed delay) or {"initial": DUR, "max": DUR} (doubling))";
    if (v.type == Type::string) {
        auto d = duration(v, ptr, true);
        if (!d) return std::nullopt;
        return Backoff{*d, *d};
    }
    if (v.type != Type::object) {
        type_error(v, ptr, help);
        return std::nullopt;
    }
    Backoff b;
    std::optional<Duration> initial, max;
    bool ok = true;
    FirstKeys first;
    for (const auto& m : v.members) {
        const std::string mptr = ptr + "/" + pointer_token(m.key);
        if (!first_key(first, m, mptr, "field")) {
            ok = false;
        } else if (m.key == "initial") {
            ok &= (initial = duration(m.value, mptr, true)).has_value();
        } else if (m.key == "max") {
            ok &= (max = duration(m.value, mptr, true)).has_value();
        } else {
            error(m.key_pos, mptr,
                  fmt::format("unknown field {} in backoff; allowed: initial, max",
                              quote_input(m.key)));
            ok = false;
        }
    }
    if (!ok) return std::nullopt;
    if (initial) b.initial = *initial;
    if (max) b.max = *max;
    if (initial && !max && b.initial > b.max) b.max = b.initial;
    if (max && !initial && b.initial > b.max) b.initial = b.max;
    if (b.initial > b.max) {
        error(v.pos, ptr,
              fmt::format("initial ({}) is longer than max ({}); the delay doubles from initial "
                          "up to max",
                          format_duration(b.initial), format_duration(b.max)));
        return std::nullopt;
    }
    return b;
}

std::optional<Intensity> Validator::intensity(const Value& v, const std::string& ptr) {
    if (v.type != Type::string) {
        type_error(v, ptr, k_intensity_help);
        return std::nullopt;
    }
    std::string why;
    auto i = parse_intensity(v.text, &why);
    if (!i) error(v.pos, ptr, fmt::format("invalid intensity {}: {}", quote_input(v.text), why));
    return i;
}

// A whole number from 1 up, written as a JSON number.
std::optional<std::size_t> Validator::max_running(const Value& v, const std::string& ptr) {
    constexpr std::string_view help = "a whole number of children, at least 1";
    std::size_t n = 0;
    const char* begin = v.text.data();
    const char* end = begin + v.text.size();
    if (v.type != Type::number) {
        type_error(v, ptr, help);
        return std::nullopt;
    }
    const auto [last, ec] = std::from_chars(begin, end, n);
    if (ec != std::errc() || last != end || n == 0 || n > 1'000'000) {
        error(v.pos, ptr, fmt::format("{} is not {} (and at most 1000000)", v.text, help));
        return std::nullopt;
    }
    return n;
}

// A non-empty array of exit codes 0..255, each at most once.
void Validator::success_exit_codes(const Value& v, const std::string& ptr, Actor& a) {
    if (v.type != Type::array || v.items.empty()) {
        if (v.type == Type::array)
            error(v.pos, ptr, "is empty; list the exit codes that mean success, e.g. [0, 2]");
        else
            type_error(v, ptr, "an array of exit codes 0 to 255, e.g. [0, 2]");
        return;
    }
    std::vector<int> codes;
    for (std::size_t i = 0; i < v.items.size(); ++i) {
        const Value& item = v.items[i];
        const std::string iptr = fmt::format("{}/{}", ptr, i);
        int code = -1;
        const char* end = item.text.data() + item.text.size();
        if (item.type != Type::number || std::from_chars(item.text.data(), end, code).ptr != end ||
            code < 0 || code > 255) {
            error(item.pos, iptr,
                  fmt::format("{} is not an exit code; allowed: whole numbers 0 to 255",
                              item.type == Type::number ? item.text
                                                        : std::string(json::type_name(item.type))));
            continue;
        }
        if (std::find(codes.begin(), codes.end(), code) != codes.end()) {
            error(item.pos, iptr, fmt::format("exit code {} is listed twice", code));
            continue;
        }
        codes.push_back(code);
    }
    std::sort(codes.begin(), codes.end());
    a.success_exit_codes = std::move(codes);
}

} // namespace forkspawn::spec
