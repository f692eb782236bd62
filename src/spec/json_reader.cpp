// SPDX-License-Identifier: MIT
#include "forkspawn/json_reader.hpp"

#include <fmt/format.h>

namespace forkspawn {

std::string format_diagnostic(std::string_view source, const Diagnostic& d) {
    if (d.pointer.empty())
        return fmt::format("{}:{}:{}: {}", source, d.pos.line, d.pos.column, d.message);
    return fmt::format("{}:{}:{}: {}: {}", source, d.pos.line, d.pos.column, d.pointer, d.message);
}

std::string pointer_token(std::string_view key) {
    std::string out;
    for (char c : key) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            out += fmt::format("\\u{:04x}", c);
        else
            out += c;
    }
    return out;
}

std::string quote_input(std::string_view text) {
    constexpr std::size_t k_max_chars = 60;
    std::string out = "'";
    std::size_t chars = 0;
    std::size_t i = 0;
    for (; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if ((c & 0xC0) != 0x80 && chars++ == k_max_chars) break; // a character starts here
        if (c < 0x20 || c == 0x7f)
            out += fmt::format("\\x{:02x}", c);
        else
            out += static_cast<char>(c);
    }
    if (i < text.size()) out += "...";
    return out + "'";
}

} // namespace forkspawn

namespace forkspawn::json {

const Value* Value::find(std::string_view key) const {
    for (const auto& m : members)
        if (m.key == key) return &m.value;
    return nullptr;
}

const Member* Value::member(std::string_view key) const {
    for (const auto& m : members)
        if (m.key == key) return &m;
    return nullptr;
}

std::string_view type_name(Type t) {
    switch (t) {
    case Type::null:
        return "null";
    case Type::boolean:
        return "a boolean";
    case Type::number:
        return "a number";
    case Type::string:
        return "a string";
    case Type::array:
        return "an array";
    case Type::object:
        return "an object";
    }
    return "a value";
}

namespace {

// Thrown inside the parser only; parse() turns it into a Diagnostic.
struct SyntaxError {
    Position pos;
    std::string message;
};

class Parser {
  public:
    Parser(std::string_view text, const Limits& limits) : m_text(text), m_limits(limits) {}

    Value document() {
        if (m_text.substr(0, 3) == "\xEF\xBB\xBF") m_i = 3; // UTF-8 byte order mark
        skip_space();
        Value v = value(0);
        skip_space();
        if (m_i != m_text.size()) fail("unexpected " + describe_here() + " after the document");
        return v;
    }

  private:
    std::string_view m_text;
    const Limits& m_limits;
    std::size_t m_i = 0;
    Position m_pos;

    static Value make(Type type, Position pos) {
        Value v;
        v.type = type;
        v.pos = pos;
        return v;
    }

    [[noreturn]] void fail(std::string message) { fail_at(m_pos, std::move(message)); }
    [[noreturn]] static void fail_at(Position pos, std::string message) {
        throw SyntaxError{pos, "JSON syntax error: " + std::move(message)};
    }

    bool at_end() const { return m_i >= m_text.size(); }
    unsigned char peek() const { return static_cast<unsigned char>(m_text[m_i]); }

    void advance() {
        const unsigned char c = peek();
        ++m_i;
        if (c == '\n') {
            ++m_pos.line;
            m_pos.column = 1;
        } else if ((c & 0xC0) != 0x80) {
            ++m_pos.column;
        }
    }

    std::string describe_here() const {
        if (at_end()) return "end of input";
        const unsigned char c = peek();
        if (c >= 0x20 && c < 0x7f) return fmt::format("'{}'", static_cast<char>(c));
        return fmt::format("byte 0x{:02x}", c);
    }

    void skip_space() {
        while (!at_end()) {
            const unsigned char c = peek();
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
            advance();
        }
    }

    void expect(char c, std::string_view what) {
        if (at_end() || peek() != static_cast<unsigned char>(c))
            fail(fmt::format("expected {}, found {}", what, describe_here()));
        advance();
    }

    Value value(std::size_t depth) {
        if (at_end()) fail("expected a value, found end of input");
        switch (peek()) {
        case '{':
            return object(depth + 1);
        case '[':
            return array(depth + 1);
        case '"': {
            Value v = make(Type::string, m_pos);
            v.text = string();
            return v;
        }
        case 't':
            return literal("true", Type::boolean, true);
        case 'f':
            return literal("false", Type::boolean, false);
        case 'n':
            return literal("null", Type::null, false);
        default:
            if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return number();
            fail(fmt::format("expected a value, found {}", describe_token(m_i)));
        }
    }

    void check_depth(std::size_t depth) {
        if (depth > m_limits.max_depth)
            fail(fmt::format("arrays and objects nested deeper than {} levels; the limit is {}",
                             m_limits.max_depth, m_limits.max_depth));
    }

    Value object(std::size_t depth) {
        check_depth(depth);
        Value v = make(Type::object, m_pos);
        advance(); // {
        skip_space();
        if (!at_end() && peek() == '}') {
            advance();
            return v;
        }
        for (;;) {
            skip_space();
            if (at_end() || peek() != '"')
                fail(fmt::format("expected a key in double quotes, found {}", describe_here()));
            Member m;
            m.key_pos = m_pos;
            m.key = string();
            skip_space();
            expect(':', "':' after the key");
            skip_space();
            m.value = value(depth);
            v.members.push_back(std::move(m));
            skip_space();
            if (!at_end() && peek() == ',') {
                advance();
                continue;
            }
            expect('}', "',' or '}' after an object member");
            return v;
        }
    }

    Value array(std::size_t depth) {
        check_depth(depth);
        Value v = make(Type::array, m_pos);
        advance(); // [
        skip_space();
        if (!at_end() && peek() == ']') {
            advance();
            return v;
        }
        for (;;) {
            skip_space();
            v.items.push_back(value(depth));
            skip_space();
            if (!at_end() && peek() == ',') {
                advance();
                continue;
            }
            expect(']', "',' or ']' after an array element");
            return v;
        }
    }

    Value literal(std::string_view word, Type type, bool boolean) {
        const std::size_t start = m_i;
        Value v = make(type, m_pos);
        v.boolean = boolean;
        for (char c : word) {
            if (at_end() || peek() != static_cast<unsigned char>(c))
                fail_at(v.pos, fmt::format("expected a value, found {}", describe_token(start)));
            advance();
        }
        return v;
    }

    // The rest of an unquoted word, for messages about `True` or `undefined`.
    std::string describe_token(std::size_t start) const {
        std::size_t end = start;
        while (end < m_text.size() && end - start < 20) {
            const char c = m_text[end];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) break;
            ++end;
        }
        if (end == start) return describe_here();
        return fmt::format("'{}'", m_text.substr(start, end - start));
    }

    Value number() {
        Value v = make(Type::number, m_pos);
        const std::size_t start = m_i;
        auto digits = [&] {
            std::size_t n = 0;
            while (!at_end() && peek() >= '0' && peek() <= '9') {
                advance();
                ++n;
            }
            return n;
        };
        if (peek() == '-') advance();
        if (!at_end() && peek() == '0') {
            advance();
            if (!at_end() && peek() >= '0' && peek() <= '9')
                fail("a number must not start with 0 (leading zeros are not JSON)");
        } else if (digits() == 0) {
            fail(fmt::format("expected digits, found {}", describe_here()));
        }
        if (!at_end() && peek() == '.') {
            advance();
            if (digits() == 0)
                fail(fmt::format("expected digits after '.', found {}", describe_here()));
        }
        if (!at_end() && (peek() == 'e' || peek() == 'E')) {
            advance();
            if (!at_end() && (peek() == '+' || peek() == '-')) advance();
            if (digits() == 0)
                fail(fmt::format("expected digits in the exponent, found {}", describe_here()));
        }
        v.text = std::string(m_text.substr(start, m_i - start));
        return v;
    }

    unsigned hex4() {
        unsigned code = 0;
        for (int k = 0; k < 4; ++k) {
            if (at_end()) fail("expected 4 hex digits after \\u, found end of input");
            const unsigned char c = peek();
            unsigned digit;
            if (c >= '0' && c <= '9')
                digit = c - '0';
            else if (c >= 'a' && c <= 'f')
                digit = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                digit = c - 'A' + 10;
            else
                fail(fmt::format("expected 4 hex digits after \\u, found {}", describe_here()));
            code = code * 16 + digit;
            advance();
        }
        return code;
    }

    static void append_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    // One UTF-8 encoded character starting at a byte >= 0x80, checked for
    // overlong forms, surrogates and the U+10FFFF ceiling (RFC 3629).
    void utf8_char(std::string& out) {
        const Position start = m_pos;
        const unsigned char lead = peek();
        int extra;
        unsigned cp;
        unsigned min;
        if (lead >= 0xC2 && lead <= 0xDF)
            extra = 1, cp = lead & 0x1F, min = 0x80;
        else if (lead >= 0xE0 && lead <= 0xEF)
            extra = 2, cp = lead & 0x0F, min = 0x800;
        else if (lead >= 0xF0 && lead <= 0xF4)
            extra = 3, cp = lead & 0x07, min = 0x10000;
        else
            fail_at(start,
                    fmt::format("invalid UTF-8 (byte 0x{:02x}); strings must be UTF-8", lead));
        out += static_cast<char>(lead);
        m_i++; // a lead byte counts as one column
        m_pos.column++;
        for (int k = 0; k < extra; ++k) {
            if (at_end() || (peek() & 0xC0) != 0x80)
                fail_at(start, "invalid UTF-8 (truncated character); strings must be UTF-8");
            cp = (cp << 6) | (peek() & 0x3F);
            out += static_cast<char>(peek());
            m_i++;
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            fail_at(start, "invalid UTF-8 (overlong form or surrogate); strings must be UTF-8");
    }

    std::string string() {
        const Position start = m_pos;
        advance(); // opening quote
        std::string out;
        for (;;) {
            if (at_end()) fail_at(start, "string is not closed (missing '\"')");
            const unsigned char c = peek();
            if (c == '"') {
                advance();
                return out;
            }
            if (c < 0x20)
                fail(fmt::format("control character U+{:04X} inside a string; escape it (\\n, "
                                 "\\t, \\u00XX)",
                                 c));
            if (c >= 0x80) {
                utf8_char(out);
                continue;
            }
            if (c != '\\') {
                out += static_cast<char>(c);
                advance();
                continue;
            }
            const Position escape = m_pos;
            advance();
            if (at_end()) fail_at(start, "string is not closed (missing '\"')");
            const char e = static_cast<char>(peek());
            advance();
            switch (e) {
            case '"':
                out += '"';
                break;
            case '\\':
                out += '\\';
                break;
            case '/':
                out += '/';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case 'u': {
                unsigned cp = hex4();
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    fail_at(escape, "\\u escape is a lone low surrogate; it is not a character");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (m_text.substr(m_i, 2) != "\\u")
                        fail_at(escape, "\\u escape is a high surrogate without its low half");
                    advance();
                    advance();
                    const unsigned low = hex4();
                    if (low < 0xDC00 || low > 0xDFFF)
                        fail_at(escape, "\\u escape is a high surrogate without its low half");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                append_utf8(out, cp);
                break;
            }
            default: {
                // Quote the byte only when it is printable ASCII: the
                // message must stay one line of valid UTF-8.
                const auto b = static_cast<unsigned char>(e);
                fail_at(escape, fmt::format("invalid escape {} in a string; allowed: \\\" \\\\ "
                                            "\\/ \\b \\f \\n \\r \\t \\uXXXX",
                                            b >= 0x20 && b < 0x7f
                                                ? fmt::format("'\\{}'", e)
                                                : fmt::format("'\\' + byte 0x{:02x}", b)));
            }
            }
        }
    }
};

} // namespace

std::optional<Value> parse(std::string_view text, Diagnostic& error, const Limits& limits) {
    if (text.size() > limits.max_bytes) {
        error = {
            {},
            "",
            fmt::format("input is {} bytes; the limit is {} bytes", text.size(), limits.max_bytes)};
        return std::nullopt;
    }
    try {
        return Parser(text, limits).document();
    } catch (const SyntaxError& e) {
        error = {e.pos, "", e.message};
        return std::nullopt;
    }
}

} // namespace forkspawn::json
