// SPDX-License-Identifier: MIT
// Parsing a spec in the unit tests of its fields: one that must be valid,
// the errors of one that must not be (as people see them), and a search
// among those errors.
#pragma once

#include "forkspawn/spec.hpp"

#include <doctest/doctest.h>
#include <string>
#include <string_view>
#include <vector>

namespace forkspawn::test {

inline spec::Spec ok(std::string_view text) {
    auto r = spec::parse(text);
    for (const auto& e : r.errors)
        INFO(format_diagnostic("t", e));
    REQUIRE(r.errors.empty());
    return std::move(*r.spec);
}

inline std::vector<std::string> errors(std::string_view text) {
    auto r = spec::parse(text);
    CHECK_FALSE(r.spec);
    std::vector<std::string> out;
    for (const auto& e : r.errors)
        out.push_back(format_diagnostic("t.json", e));
    return out;
}

inline bool has(const std::vector<std::string>& errs, std::string_view text) {
    for (const auto& e : errs)
        if (e.find(text) != std::string::npos) return true;
    return false;
}

} // namespace forkspawn::test
