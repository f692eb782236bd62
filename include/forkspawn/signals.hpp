// Signal names, both ways. Names are accepted with or without the `SIG`
// prefix and in any letter case (`TERM`, `sigterm`, `SIGTERM`); they are
// always printed in the canonical `SIGTERM` form.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace forkspawn {

inline constexpr std::string_view k_signal_help =
    "a signal name such as SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 or SIGKILL "
    "(the SIG prefix is optional)";

std::optional<int> parse_signal(std::string_view name);

// "SIGTERM" for 15; "SIG<n>" for a number without a name (e.g. real-time signals).
std::string signal_name(int signo);

} // namespace forkspawn
