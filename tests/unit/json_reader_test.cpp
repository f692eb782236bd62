// SPDX-License-Identifier: MIT
#include "forkspawn/json_reader.hpp"

#include <doctest/doctest.h>

using namespace forkspawn;

namespace {
Diagnostic syntax_error(std::string_view text, json::Limits limits = {}) {
    Diagnostic d;
    CHECK_FALSE(json::parse(text, d, limits));
    return d;
}
} // namespace

TEST_CASE("values remember their line and column") {
    Diagnostic d;
    const auto v = json::parse("{\n  \"a\": [1, \"x\"],\n\t\"b\": true }", d);
    REQUIRE(v);
    CHECK(v->type == json::Type::object);
    CHECK(v->pos == Position{1, 1});
    REQUIRE(v->members.size() == 2);
    CHECK(v->members[0].key_pos == Position{2, 3});
    CHECK(v->members[0].value.pos == Position{2, 8});
    CHECK(v->members[0].value.items[1].pos == Position{2, 12});
    CHECK(v->members[0].value.items[1].text == "x");
    CHECK(v->members[1].key_pos == Position{3, 2});
    CHECK(v->members[1].value.boolean);
}

TEST_CASE("columns count characters, not bytes") {
    Diagnostic d;
    const auto v = json::parse("[\"\xc3\xa9\xe2\x82\xac\", 1]", d); // "é€"
    REQUIRE(v);
    CHECK(v->items[0].text == "\xc3\xa9\xe2\x82\xac");
    CHECK(v->items[1].pos == Position{1, 8});
}

TEST_CASE("escapes decode, surrogate pairs included") {
    Diagnostic d;
    const auto v = json::parse(R"(["a\"b\\\/\n\t", "\u00e9", "\ud83d\ude00", "x\u0000y"])", d);
    REQUIRE(v);
    CHECK(v->items[0].text == "a\"b\\/\n\t");
    CHECK(v->items[1].text == "\xc3\xa9");
    CHECK(v->items[2].text == "\xf0\x9f\x98\x80");
    CHECK(v->items[3].text == std::string("x\0y", 3));
}

TEST_CASE("syntax errors carry line, column and what was expected") {
    auto d = syntax_error("{\"a\": 1,\n }");
    CHECK(d.pos == Position{2, 2});
    CHECK(d.message == "JSON syntax error: expected a key in double quotes, found '}'");
    d = syntax_error("[1 2]");
    CHECK(d.pos == Position{1, 4});
    CHECK(d.message.find("expected ',' or ']'") != std::string::npos);
    d = syntax_error("{\"a\" 1}");
    CHECK(d.message.find("expected ':'") != std::string::npos);
    d = syntax_error("[True]");
    CHECK(d.message == "JSON syntax error: expected a value, found 'True'");
    d = syntax_error("");
    CHECK(d.message.find("end of input") != std::string::npos);
    d = syntax_error("{} x");
    CHECK(d.message.find("after the document") != std::string::npos);
    d = syntax_error("[01]");
    CHECK(d.message.find("leading zeros") != std::string::npos);
    d = syntax_error("[1.]");
    d = syntax_error("[\"abc");
    CHECK(d.message.find("not closed") != std::string::npos);
    CHECK(d.pos == Position{1, 2});
    d = syntax_error("[\"a\nb\"]");
    CHECK(d.message.find("control character U+000A") != std::string::npos);
    d = syntax_error(R"(["\x"])");
    CHECK(d.message.find("invalid escape") != std::string::npos);
    d = syntax_error("[1,]");
    CHECK(d.message.find("expected a value") != std::string::npos);
    d = syntax_error("// comment\n{}");
}

TEST_CASE("strings must be valid UTF-8") {
    CHECK(syntax_error("[\"\xff\"]").message.find("invalid UTF-8") != std::string::npos);
    CHECK(syntax_error("[\"\xc3\"]").message.find("truncated") != std::string::npos);
    CHECK(syntax_error("[\"\xc0\xaf\"]").message.find("invalid UTF-8") != std::string::npos);
    CHECK(syntax_error("[\"\xed\xa0\x80\"]").message.find("surrogate") != std::string::npos);
    CHECK(syntax_error("[\"\xf4\x90\x80\x80\"]").message.find("invalid UTF-8") !=
          std::string::npos);
    CHECK(syntax_error(R"(["\udc00"])").message.find("lone low surrogate") != std::string::npos);
    CHECK(syntax_error(R"(["\ud800x"])").message.find("without its low half") != std::string::npos);
    Diagnostic d;
    CHECK(json::parse("\xEF\xBB\xBF{}", d)); // a byte order mark is allowed
}

TEST_CASE("nesting and size limits are enforced without recursion blow-up") {
    json::Limits limits;
    limits.max_depth = 8;
    Diagnostic d;
    CHECK(json::parse("[[[[[[[[1]]]]]]]]", d, limits));
    CHECK(syntax_error("[[[[[[[[[1]]]]]]]]]", limits).message.find("deeper than 8") !=
          std::string::npos);
    // A hostile document a million levels deep fails fast at the default limit.
    const std::string deep(1'000'000, '[');
    CHECK(syntax_error(deep).message.find("deeper than 128") != std::string::npos);
    limits.max_bytes = 10;
    CHECK(syntax_error("[1,2,3,4,5,6]", limits).message.find("limit is 10 bytes") !=
          std::string::npos);
}
