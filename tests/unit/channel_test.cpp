// SPDX-License-Identifier: MIT
// The parent <-> sub-supervisor messages: every type survives the wire, and
// a datagram that is not a message decodes to nothing (never a throw).
#include "forkspawn/channel.hpp"

#include <doctest/doctest.h>
#include <string>

using namespace forkspawn;
using namespace forkspawn::channel;

TEST_CASE("channel: every message up survives encode and decode") {
    const auto spawned =
        decode_up(encode(Spawned{"root/n/a", report::Kind::nursery, 4242, 12.5, 987654321}));
    REQUIRE(spawned);
    const auto& s = std::get<Spawned>(*spawned);
    CHECK(s.path == "root/n/a");
    CHECK(s.kind == report::Kind::nursery);
    CHECK(s.pid == 4242);
    CHECK(s.started_ms == 12.5);
    CHECK(s.start_ticks == 987654321);
    CHECK(s.attempt == 1);
    const auto again = decode_up(encode(Spawned{"root/n/a", report::Kind::cmd, 4243, 80.0, 1, 3}));
    REQUIRE(again);
    CHECK(std::get<Spawned>(*again).attempt == 3);

    const auto ended = decode_up(
        encode(AttemptEnded{"root/n/a", 2, "signal=SIGSEGV", report::Outcome::failed, 50.5, 400}));
    REQUIRE(ended);
    const auto& e = std::get<AttemptEnded>(*ended);
    CHECK(e.path == "root/n/a");
    CHECK(e.attempt == 2);
    CHECK(e.status == "signal=SIGSEGV");
    CHECK(e.outcome == report::Outcome::failed);
    CHECK(e.ended_ms == 50.5);
    CHECK(e.delay_ms == 400);
    // Stopped for a sibling's restart: cancelled or killed. An outcome an
    // attempt that ran cannot have is not a message.
    CHECK(
        std::get<AttemptEnded>(*decode_up(R"({"t":"attempt_ended","path":"x","outcome":"killed"})"))
            .outcome == report::Outcome::killed);
    CHECK_FALSE(decode_up(R"({"t":"attempt_ended","path":"x","outcome":"not_started"})"));
    CHECK_FALSE(decode_up(R"({"t":"attempt_ended","path":"x"})"));

    report::ActorReport r;
    r.path = "root/n/a";
    r.name = "a";
    r.pid = 4242;
    r.exit_code = 3;
    r.status = "rc=3";
    r.outcome = report::Outcome::failed;
    r.error = "quoted \"text\"\nwith a newline";
    const auto reaped = decode_up(encode(Reaped{r}));
    REQUIRE(reaped);
    const auto& back = std::get<Reaped>(*reaped).actor;
    CHECK(back.path == r.path);
    CHECK(back.pid == r.pid);
    CHECK(back.exit_code == 3);
    CHECK(back.outcome == report::Outcome::failed);
    CHECK(back.error == r.error);

    CHECK(std::holds_alternative<Failing>(*decode_up(encode(Failing{}))));
    CHECK(std::get<TerminalWant>(*decode_up(encode(TerminalWant{true}))).want);
    CHECK_FALSE(std::get<TerminalWant>(*decode_up(encode(TerminalWant{false}))).want);
    CHECK(std::get<Exit>(*decode_up(encode(Exit{77}))).output_dropped == 77);
}

TEST_CASE("channel: every message down survives encode and decode") {
    CHECK(std::get<Cancel>(*decode_down(encode(Cancel{"sibling_failed"}))).reason ==
          "sibling_failed");
    CHECK(std::holds_alternative<Dump>(*decode_down(encode(Dump{}))));
    CHECK(std::holds_alternative<TerminalLent>(*decode_down(encode(TerminalLent{}))));
}

TEST_CASE("channel: invalid UTF-8 in a path is replaced, the message still goes") {
    const auto m = decode_up(encode(Spawned{"root/\xff\xfe", report::Kind::cmd, 7, 0, 0}));
    REQUIRE(m);
    CHECK(std::get<Spawned>(*m).path.starts_with("root/"));
}

TEST_CASE("channel: what is not a message decodes to nothing") {
    for (const std::string& bad : {
             std::string(""), std::string("not json"), std::string("[1,2]"), std::string("{}"),
             std::string(R"({"t":5})"), std::string(R"({"t":"unknown"})"),
             std::string(R"({"t":"spawned"})"),
             std::string(R"({"t":"spawned","path":"p","pid":"12"})"),
             std::string(R"({"t":"spawned","path":"p","pid":-1})"),
             std::string(R"({"t":"spawned","path":"p","pid":0})"),
             std::string(R"({"t":"spawned","path":"p","pid":1e300})"),
             std::string(R"({"t":"spawned","path":"p","pid":99999999999})"),
             std::string(R"({"t":"reaped"})"),
             std::string(R"({"t":"reaped","actor":{"name":"no path"}})"),
             std::string(R"({"t":"reaped","actor":[]})"), std::string("\x00\x01\x02\xff", 4),
             std::string(R"({"t":"cancel"})"), // a down message is not an up one
         }) {
        CAPTURE(bad);
        CHECK_FALSE(decode_up(bad));
    }
    for (const std::string& bad :
         {std::string("{"), std::string(R"({"t":"spawned"})"), std::string(R"({"t":"terminal"})"),
          std::string(R"({"t":"terminal","lent":"yes"})")}) {
        CAPTURE(bad);
        CHECK_FALSE(decode_down(bad));
    }
    // A report's fields of the wrong type, or out of range, are left out;
    // nothing throws.
    const auto r =
        decode_up(R"({"t":"reaped","actor":{"path":"root/a","pid":1e300,"exit_code":-7.5,)"
                  R"("stop":{"escalated":"yes","exit_after_ms":"soon","sent":[1,"SIGTERM"]}}})");
    REQUIRE(r);
    const auto& actor = std::get<Reaped>(*r).actor;
    CHECK_FALSE(actor.pid);
    CHECK_FALSE(actor.exit_code);
    REQUIRE(actor.stop);
    CHECK_FALSE(actor.stop->escalated);
    CHECK(actor.stop->sent == std::vector<std::string>{"SIGTERM"});
    // Fields of the wrong type fall back to their defaults, never throw.
    const auto m = decode_up(R"({"t":"spawned","path":"p","pid":5,"kind":3,"start_ticks":-4})");
    REQUIRE(m);
    CHECK(std::get<Spawned>(*m).kind == report::Kind::cmd);
    CHECK(std::get<Spawned>(*m).start_ticks == 0);
    CHECK(std::get<Cancel>(*decode_down(R"({"t":"cancel","reason":[]})")).reason ==
          "parent_cancelled");
}

TEST_CASE("channel: ready travels up with its path, attempt and time") {
    using namespace forkspawn::channel;
    const auto m = decode_up(encode(Up{Ready{"root/n/db", 3, 12.5}}));
    REQUIRE(m);
    const auto* r = std::get_if<Ready>(&*m);
    REQUIRE(r);
    CHECK(r->path == "root/n/db");
    CHECK(r->attempt == 3);
    CHECK(r->ready_ms == 12.5);
    CHECK_FALSE(decode_up(R"({"t":"ready"})")); // no path: not a message
}
