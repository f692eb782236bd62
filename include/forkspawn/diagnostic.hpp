// SPDX-License-Identifier: MIT
// A message about the user's input, with where it is: `FILE:LINE:COL:
// /json/pointer: what is wrong; what is allowed`. Lines and columns count
// from 1; columns count characters (UTF-8 code points), as editors do.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace forkspawn {

struct Position {
    std::uint32_t line = 1;
    std::uint32_t column = 1;
    bool operator==(const Position&) const = default;
};

struct Diagnostic {
    Position pos;
    std::string pointer; // RFC 6901 JSON pointer, "" when there is none
    std::string message;
};

// "spec.json:3:14: /actors/0/cmd: must be a non-empty array of strings"
std::string format_diagnostic(std::string_view source, const Diagnostic& d);

// Escapes one reference token of a JSON pointer (RFC 6901: ~ -> ~0, / -> ~1).
std::string pointer_token(std::string_view key);

// A piece of the user's input, quoted for a message: 'text', control
// characters as \xNN, cut after 60 characters (never inside one) with "...",
// so a message stays one line of valid UTF-8 whatever the input holds.
std::string quote_input(std::string_view text);

} // namespace forkspawn
