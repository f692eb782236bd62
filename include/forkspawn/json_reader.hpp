// SPDX-License-Identifier: MIT
// A strict JSON reader that remembers where every value and key was written,
// so spec errors can name FILE:LINE:COL. It accepts RFC 8259 JSON only (no
// comments, no trailing commas), checks that every string is valid UTF-8, and
// refuses input beyond the limits below instead of recursing or allocating
// without bound. Duplicate keys are kept in order; the spec layer rejects them.
#pragma once

#include "forkspawn/diagnostic.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace forkspawn::json {

enum class Type { null, boolean, number, string, array, object };

struct Member;

struct Value {
    Type type = Type::null;
    Position pos;
    bool boolean = false;
    std::string text; // the decoded string, or a number's literal text
    std::vector<Value> items;
    std::vector<Member> members;

    const Value* find(std::string_view key) const;    // first member named key
    const Member* member(std::string_view key) const; // same, with its key
};

struct Member {
    std::string key;
    Position key_pos;
    Value value;
};

struct Limits {
    std::size_t max_bytes = 16u << 20;
    std::size_t max_depth = 128; // arrays and objects nested in each other
};

// "a string", "an array", ... for messages.
std::string_view type_name(Type t);

// Parses a whole document. On failure returns nullopt and sets `error` (one
// error: after a syntax error nothing further is reliable).
std::optional<Value> parse(std::string_view text, Diagnostic& error, const Limits& limits = {});

} // namespace forkspawn::json
