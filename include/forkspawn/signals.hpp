// SPDX-License-Identifier: MIT
// Signal names, both ways. Names are accepted with or without the `SIG`
// prefix and in any letter case (`TERM`, `sigterm`, `SIGTERM`), and so are
// real-time signals (`SIGRTMIN+3`) and numbers (`15`); they are always
// printed in the canonical `SIGTERM` / `SIGRTMIN+3` form.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace forkspawn {

inline constexpr std::string_view k_signal_help =
    "a signal name such as SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 or SIGKILL "
    "(the SIG prefix is optional), a real-time signal (SIGRTMIN+3, SIGRTMAX-1) or a number "
    "(15)";

// A name (any case, SIG optional), SIGRTMIN+N / SIGRTMAX-N, or a number of
// a named or real-time signal; nullopt for anything else (0, 32, 33, 65).
std::optional<int> parse_signal(std::string_view name);

// "SIGTERM" for 15; "SIGRTMIN+3" for a real-time signal; "SIG<n>" else.
std::string signal_name(int signo);

} // namespace forkspawn
