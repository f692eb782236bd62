// SPDX-License-Identifier: MIT
// What a rendered table looks like on a terminal, for the tests of the
// run's table and of the live status table: its lines, without colour
// escapes, measured in visible columns.
#pragma once

#include <doctest/doctest.h>
#include <sstream>
#include <string>
#include <vector>

namespace forkspawn::test {

inline std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

// Drops CSI sequences ("\x1b[...m") so what remains is what the terminal shows.
inline std::string strip_ansi(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
            i = s.find('m', i);
            REQUIRE(i != std::string::npos);
            continue;
        }
        out += s[i];
    }
    return out;
}

// Columns on screen: one per UTF-8 code point (what the renderers promise).
inline std::size_t visible_columns(const std::string& s) {
    std::size_t n = 0;
    for (const char c : s)
        if ((static_cast<unsigned char>(c) & 0xc0U) != 0x80U) ++n;
    return n;
}

// The text that starts at visible column `col` of a line without escapes.
inline std::string from_visible_column(const std::string& plain, std::size_t col) {
    std::size_t seen = 0;
    for (std::size_t i = 0; i < plain.size(); ++i) {
        if ((static_cast<unsigned char>(plain[i]) & 0xc0U) == 0x80U) continue;
        if (seen == col) return plain.substr(i);
        ++seen;
    }
    return "";
}

} // namespace forkspawn::test
