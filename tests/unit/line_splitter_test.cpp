// SPDX-License-Identifier: MIT
// The output line splitter: bytes in, lines out.
#include "forkspawn/line_splitter.hpp"

#include <doctest/doctest.h>
#include <string>
#include <vector>

using forkspawn::LineSplitter;

namespace {

struct Collect {
    std::vector<std::string>* out;
    void operator()(std::string_view line) const { out->emplace_back(line); }
};

std::vector<std::string> split(std::size_t limit, const std::vector<std::string>& chunks,
                               bool flush = true) {
    LineSplitter s(limit);
    std::vector<std::string> out;
    for (const auto& c : chunks)
        s.feed(c, Collect{&out});
    if (flush) s.flush(Collect{&out});
    return out;
}

} // namespace

TEST_CASE("line splitter: lines across chunks, empty lines kept, no newline in a line") {
    CHECK(split(100, {"a\nb", "c\n\nd"}) == std::vector<std::string>{"a", "bc", "", "d"});
    CHECK(split(100, {"a\n", "b\n"}, false) == std::vector<std::string>{"a", "b"});
    CHECK(split(100, {""}).empty());
}

TEST_CASE("line splitter: an unfinished line is held until it ends or is flushed") {
    LineSplitter s(100);
    std::vector<std::string> out;
    s.feed("partial", Collect{&out});
    CHECK(out.empty());
    CHECK(s.held() == 7);
    s.feed(" line\nnext", Collect{&out});
    CHECK(out == std::vector<std::string>{"partial line"});
    CHECK(s.held() == 4);
    s.flush(Collect{&out});
    CHECK(out == std::vector<std::string>{"partial line", "next"});
    CHECK(s.held() == 0);
}

TEST_CASE("line splitter: a line longer than the limit comes out in pieces of the limit") {
    // Without its end: pieces as soon as they are full, never more held.
    LineSplitter s(4);
    std::vector<std::string> out;
    s.feed("abcdefghij", Collect{&out});
    CHECK(out == std::vector<std::string>{"abcd", "efgh"});
    CHECK(s.held() == 2);
    s.feed("k\n", Collect{&out});
    CHECK(out == std::vector<std::string>{"abcd", "efgh", "ijk"});
    // A line of exactly the limit is one line, not a piece and an empty one.
    CHECK(split(4, {"abcd\n"}) == std::vector<std::string>{"abcd"});
    CHECK(split(4, {"abcdefgh\n"}) == std::vector<std::string>{"abcd", "efgh"});
    CHECK(split(4, {"abcdefghi\n"}) == std::vector<std::string>{"abcd", "efgh", "i"});
    // One byte at a time gives the same lines.
    const std::string text = "0123456789\nab\n\nxyz";
    std::vector<std::string> bytes;
    for (char c : text)
        bytes.emplace_back(1, c);
    CHECK(split(4, bytes) == split(4, {text}));
}
