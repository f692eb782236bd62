// SPDX-License-Identifier: MIT
// Restart arithmetic: policy names, backoff doubling and its cap, the
// intensity's syntax, and the window that decides when a nursery gives up.
// A fake clock: time points built from durations, nothing sleeps.
#include "forkspawn/restart.hpp"

#include <doctest/doctest.h>

using namespace forkspawn;
using namespace std::chrono_literals;

namespace {
TimePoint at(Duration d) {
    return TimePoint{} + d;
}
} // namespace

TEST_CASE("restart policy: the three names, and which endings restart") {
    CHECK(parse_restart_policy("never") == RestartPolicy::never);
    CHECK(parse_restart_policy("on_failure") == RestartPolicy::on_failure);
    CHECK(parse_restart_policy("always") == RestartPolicy::always);
    CHECK_FALSE(parse_restart_policy("permanent"));
    CHECK_FALSE(parse_restart_policy("Always"));
    CHECK_FALSE(parse_restart_policy(""));
    CHECK(restart_policy_name(RestartPolicy::on_failure) == "on_failure");
    CHECK_FALSE(restarts_after(RestartPolicy::never, true));
    CHECK_FALSE(restarts_after(RestartPolicy::never, false));
    CHECK(restarts_after(RestartPolicy::on_failure, true));
    CHECK_FALSE(restarts_after(RestartPolicy::on_failure, false));
    CHECK(restarts_after(RestartPolicy::always, true));
    CHECK(restarts_after(RestartPolicy::always, false));
}

TEST_CASE("backoff: doubles from initial, capped at max, never early") {
    const Backoff b{100ms, 1s};
    CHECK(b.delay(1) == 100ms);
    CHECK(b.delay(2) == 200ms);
    CHECK(b.delay(3) == 400ms);
    CHECK(b.delay(4) == 800ms);
    CHECK(b.delay(5) == 1s);
    CHECK(b.delay(6) == 1s);
    CHECK(b.delay(1000000) == 1s); // no overflow however many restarts
    const Backoff fixed{250ms, 250ms};
    CHECK(fixed.delay(1) == 250ms);
    CHECK(fixed.delay(7) == 250ms);
    const Backoff zero{0ms, 0ms};
    CHECK(zero.delay(3) == 0ms);
    CHECK(Backoff{}.delay(1) == 100ms); // the default: 100ms doubling to 10s
    CHECK(Backoff{}.delay(20) == 10s);
    // An attempt that ran at least max was stable: the count starts again.
    CHECK(b.stable(1s));
    CHECK(b.stable(2s));
    CHECK_FALSE(b.stable(999ms));
}

TEST_CASE("intensity: N/DUR or unlimited, errors say what is allowed") {
    CHECK(parse_intensity("5/10s") == Intensity{5, 10s, false});
    CHECK(parse_intensity("0/1m") == Intensity{0, 60s, false});
    CHECK(parse_intensity("3/1.5s") == Intensity{3, 1500ms, false});
    CHECK(parse_intensity("unlimited")->unlimited);
    CHECK(parse_intensity("5/10s")->to_string() == "5/10s");
    CHECK(parse_intensity("unlimited")->to_string() == "unlimited");
    for (const char* bad : {"5", "/10s", "five/10s", "-1/10s", "5/", "5/10", "5/0s", "5/10s/2",
                            " 5/10s", "2000000/1s", ""}) {
        std::string why;
        CAPTURE(bad);
        CHECK_FALSE(parse_intensity(bad, &why));
        CHECK_FALSE(why.empty());
    }
    std::string why;
    parse_intensity("x/10s", &why);
    CHECK(why.find("\"5/10s\"") != std::string::npos);
}

TEST_CASE("restart window: the (N+1)-th restart within DUR gives up, exactly") {
    RestartWindow w(Intensity{3, 10s, false});
    CHECK(w.admit(at(0s)));
    CHECK(w.admit(at(1s)));
    CHECK(w.admit(at(2s)));
    CHECK(w.recent(at(2s)) == 3);
    CHECK_FALSE(w.admit(at(9999ms))); // a 4th within 10s of the first
    CHECK(w.recent(at(9999ms)) == 3); // a refused restart is not counted
    // At 10s the first one has left the window: a 4th is admitted.
    CHECK(w.admit(at(10s)));
    CHECK(w.recent(at(10s)) == 3);
}

TEST_CASE("restart window: restarts spread out never reach the intensity") {
    RestartWindow w(Intensity{2, 1s, false});
    for (int k = 0; k < 100; ++k) {
        CAPTURE(k);
        CHECK(w.admit(at(k * 600ms))); // at most 2 in any second
    }
    RestartWindow none(Intensity{0, 1s, false});
    CHECK_FALSE(none.admit(at(0s))); // 0/DUR: the first restart gives up
    RestartWindow unlimited(Intensity{0, 0s, true});
    for (int k = 0; k < 1000; ++k)
        CHECK(unlimited.admit(at(0s)));
}
