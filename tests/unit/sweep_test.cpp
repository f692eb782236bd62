// The tree marker's value: a nested forkspawn's id comes first, then the ids
// of the trees around it, so every enclosing tree's sweep still finds it.
#include "forkspawn/sweep.hpp"

#include <doctest/doctest.h>
#include <string>

using namespace forkspawn::supervise;

namespace {
const std::string a(32, 'a'), b(32, 'b'), c(32, 'c');
}

TEST_CASE("tree_value: a tree's own id, then the well-formed ids around it") {
    CHECK(tree_value(a, nullptr) == a);
    CHECK(tree_value(a, "") == a);
    CHECK(tree_value(a, b.c_str()) == a + ":" + b);
    CHECK(tree_value(a, (b + ":" + c).c_str()) == a + ":" + b + ":" + c);
    // A value that no forkspawn made is not carried on.
    CHECK(tree_value(a, "from-outside") == a);
    CHECK(tree_value(a, ("x:" + b + "::" + std::string(31, 'c')).c_str()) == a + ":" + b);
    CHECK(tree_value(a, (a + ":" + b).c_str()) == a + ":" + b); // never twice
}

TEST_CASE("tree_value: the chain is cut at k_tree_max_depth ids") {
    std::string deep;
    for (std::size_t i = 0; i < 40; ++i)
        deep += (deep.empty() ? "" : ":") + std::string(32, "0123456789abcdef"[i % 16]);
    const std::string v = tree_value(a, deep.c_str());
    CHECK(v.size() == k_tree_max_depth * 33 - 1);
    CHECK(v.starts_with(a + ":"));
}

TEST_CASE("tree_value_has: whole ids only") {
    CHECK(tree_value_has(a, a));
    CHECK(tree_value_has(a + ":" + b, b));
    CHECK(tree_value_has(a + ":" + b + ":" + c, b));
    CHECK_FALSE(tree_value_has(a + ":" + b, c));
    CHECK_FALSE(tree_value_has(a, a.substr(1)));
    CHECK_FALSE(tree_value_has(a + "x", a));
    CHECK_FALSE(tree_value_has("", ""));
    CHECK_FALSE(tree_value_has(a, ""));
}
