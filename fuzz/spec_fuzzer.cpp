// SPDX-License-Identifier: MIT
// libFuzzer target for the spec layer: the JSON reader, spec validation and
// normalization, and the text forms of durations and stop sequences, built
// with ASan and UBSan (fuzz/CMakeLists.txt). Besides crashes, leaks, hangs and
// undefined behaviour it checks properties that must hold for every input:
//
// - parse() gives a spec exactly when it gives no errors; errors come in text
//   order, each one line of valid UTF-8 without control characters (messages
//   quote the input, which may hold any character); a JSON syntax error is
//   the only error reported.
// - A valid spec survives subtree_json(): every nursery, written out and
//   parsed again (as a re-executed sub-supervisor does with the trio and
//   mp_forkserver backends), normalizes to the same tree.
// - A stop sequence's total grace fits a deadline: no overflow when the
//   supervisor adds up the waits (UBSan catches the signed overflow).
// - Durations and stop sequences print in a form that parses back to them.
//
// A property violation prints what differs and aborts, so libFuzzer saves the
// input like any crash. Replay one: build-fuzz/fuzz/forkspawn_spec_fuzzer FILE.
#include "forkspawn/duration.hpp"
#include "forkspawn/json_reader.hpp"
#include "forkspawn/spec.hpp"
#include "forkspawn/stop_sequence.hpp"

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <tuple>

using namespace forkspawn;

namespace {

[[noreturn]] void violated(const char* what, std::string_view a = {}, std::string_view b = {}) {
    std::fprintf(stderr, "spec_fuzzer: property violated: %s\n", what);
    if (!a.empty()) std::fprintf(stderr, "--- got:\n%.*s\n", int(a.size()), a.data());
    if (!b.empty()) std::fprintf(stderr, "--- expected:\n%.*s\n", int(b.size()), b.data());
    std::abort();
}

// Lead bytes and continuation bytes in the right places; enough to catch a
// character cut in half.
bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t extra = c < 0x80                 ? 0
                                  : c >= 0xC2 && c <= 0xDF ? 1
                                  : c >= 0xE0 && c <= 0xEF ? 2
                                  : c >= 0xF0 && c <= 0xF4 ? 3
                                                           : 4;
        if (extra == 4 || s.size() - i <= extra) return false;
        for (std::size_t k = 1; k <= extra; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += extra + 1;
    }
    return true;
}

void check_errors(const spec::ParseResult& r, bool json_ok) {
    if (r.spec.has_value() == !r.errors.empty())
        violated("a spec exactly when there are no errors");
    if (!json_ok && r.errors.size() != 1) violated("a JSON syntax error is the only error");
    for (std::size_t i = 0; i < r.errors.size(); ++i) {
        const Diagnostic& d = r.errors[i];
        const std::string line = format_diagnostic("f.json", d);
        if (d.message.empty()) violated("every error has a message", line);
        if (!valid_utf8(line)) violated("error messages are valid UTF-8", line);
        if (std::any_of(line.begin(), line.end(),
                        [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
            violated("an error is one line without control characters", line);
        if (d.pos.line == 0 || d.pos.column == 0) violated("positions count from 1", line);
        if (i > 0) {
            const Position& p = r.errors[i - 1].pos;
            if (std::tie(p.line, p.column) > std::tie(d.pos.line, d.pos.column))
                violated("errors come in text order", line);
        }
    }
}

// Environment order does not matter for distinct names; a JSON object does
// not keep it.
void sort_env(spec::Actor& a) {
    std::sort(a.env.begin(), a.env.end());
    for (auto& c : a.actors)
        sort_env(c);
}

void check_stop(const StopSequence& seq) {
    if (seq.steps.empty() || seq.steps.back().signo != SIGKILL)
        violated("a stop sequence ends in SIGKILL");
    const Duration grace = seq.grace(); // UBSan: signed overflow
    if (grace > k_max_duration) violated("a stop sequence's grace is at most k_max_duration");
    std::string why;
    const auto again = parse_stop_sequence(seq.to_string(), &why);
    if (!again || !(*again == seq)) violated("a stop sequence parses back", seq.to_string(), why);
}

void check_actor(const spec::Actor& a) {
    check_stop(a.stop);
    if (a.timeout) {
        const auto again = parse_duration(format_duration(*a.timeout));
        if (!again || *again != *a.timeout) violated("a timeout parses back");
    }
    if (a.kind == spec::Kind::nursery) {
        // What a re-executed sub-supervisor reads: the subtree, fully resolved.
        spec::Actor expected = a;
        expected.daemon = false;  // the parent's business, not in the subtree
        expected.timeout.reset(); // idem
        expected.after.clear();   // idem
        expected.ready = {};      // idem
        spec::set_paths(expected, expected.name);
        sort_env(expected);
        const std::string text = spec::subtree_json(a);
        auto again = spec::parse(text);
        if (!again.spec) {
            std::string errors;
            for (const auto& d : again.errors)
                errors += format_diagnostic("subtree", d) + "\n";
            violated("a nursery's subtree_json() parses", errors, text);
        }
        sort_env(again.spec->root);
        const std::string want = spec::format_tree(spec::Spec{expected, 0});
        const std::string got = spec::format_tree(*again.spec);
        if (got != want) violated("a nursery's subtree_json() gives the same tree", got, want);
    }
    for (const auto& c : a.actors)
        check_actor(c);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    Diagnostic syntax;
    const bool json_ok = json::parse(text, syntax).has_value();

    const auto r = spec::parse(text);
    check_errors(r, json_ok);
    if (r.spec) {
        if (spec::format_tree(*r.spec).empty()) violated("a valid spec prints a tree");
        check_actor(r.spec->root);
    }

    // The same text against small limits, to reach the limit paths.
    spec::Limits small;
    small.max_actors = 4;
    small.max_depth = 2;
    small.max_name_length = 3;
    check_errors(spec::parse(text, {}, small), json_ok);

    // The command-line forms (--stop, --timeout) on short inputs.
    if (size <= 256) {
        if (const auto d = parse_duration(text)) {
            const auto again = parse_duration(format_duration(*d));
            if (!again || *again != *d) violated("a duration parses back", format_duration(*d));
        }
        if (const auto seq = parse_stop_sequence(text, nullptr)) check_stop(*seq);
    }
    return 0;
}
