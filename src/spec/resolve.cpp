// SPDX-License-Identifier: MIT
// What a parsed spec means where it runs: `${NAME}` in env values from
// forkspawn's environment, and relative paths from the spec's directory
// (DESIGN "The spec"). Kept out of parse(), which is the same everywhere
// (a re-executed sub-supervisor parses an already resolved subtree).
#include "forkspawn/spec.hpp"

#include <fmt/format.h>

namespace forkspawn::spec {

namespace {

bool name_start(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

bool name_char(char c) {
    return name_start(c) || (c >= '0' && c <= '9');
}

std::string join(const std::string& dir, std::string_view path) {
    if (path.empty() || path.front() == '/') return std::string(path);
    while (path.starts_with("./"))
        path.remove_prefix(2);
    return dir.ends_with('/') ? dir + std::string(path) : dir + "/" + std::string(path);
}

void resolve_actor(Actor& a, const std::string& base_dir, const EnvLookup& lookup) {
    if (a.output.mode == Output::Mode::file) a.output.path = join(base_dir, a.output.path);
    if (a.cwd) a.cwd = join(base_dir, *a.cwd);
    // A program path with a slash is relative to where the actor runs: its
    // own cwd when it has one, else the spec's directory.
    if (!a.argv.empty() && a.argv.front().find('/') != std::string::npos)
        a.argv.front() = join(a.cwd.value_or(base_dir), a.argv.front());
    for (auto& [name, value] : a.env)
        value = *expand_env(value, lookup, nullptr); // checked by parse()
    for (Actor& child : a.actors)
        resolve_actor(child, base_dir, lookup);
}

} // namespace

std::optional<std::string> expand_env(std::string_view value, const EnvLookup& lookup,
                                      std::string* why) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (c != '$' || i + 1 == value.size() || (value[i + 1] != '$' && value[i + 1] != '{')) {
            out += c; // a lone '$' is itself
            continue;
        }
        if (value[i + 1] == '$') {
            out += '$';
            ++i;
            continue;
        }
        const std::size_t close = value.find('}', i + 2);
        const std::string_view name = close == std::string_view::npos
                                          ? value.substr(i + 2)
                                          : value.substr(i + 2, close - i - 2);
        bool valid = close != std::string_view::npos && !name.empty() && name_start(name.front());
        for (const char n : name)
            valid = valid && name_char(n);
        if (!valid) {
            if (why)
                *why = close == std::string_view::npos
                           ? fmt::format("'${{' at offset {} has no closing '}}'", i)
                           : fmt::format("'${{{}}}' is not a variable name; use ${{NAME}} with "
                                         "letters, digits and '_' (not first a digit), or $$ for "
                                         "a '$'",
                                         name);
            return std::nullopt;
        }
        out += lookup(name).value_or("");
        i = close;
    }
    return out;
}

void resolve(Spec& spec, const std::string& base_dir, const EnvLookup& lookup) {
    resolve_actor(spec.root, base_dir, lookup);
}

} // namespace forkspawn::spec
