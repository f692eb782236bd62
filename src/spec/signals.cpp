// SPDX-License-Identifier: MIT
#include "forkspawn/signals.hpp"

#include <array>
#include <csignal>
#include <fmt/format.h>

namespace forkspawn {

namespace {

struct SignalEntry {
    std::string_view name; // without the SIG prefix
    int signo;
};

// The standard Linux signals (signal(7)). SIGIOT and SIGPOLL are aliases that
// parse, but SIGABRT and SIGIO are the names printed.
constexpr std::array k_signals{
    SignalEntry{"HUP", SIGHUP},   SignalEntry{"INT", SIGINT},
    SignalEntry{"QUIT", SIGQUIT}, SignalEntry{"ILL", SIGILL},
    SignalEntry{"TRAP", SIGTRAP}, SignalEntry{"ABRT", SIGABRT},
    SignalEntry{"BUS", SIGBUS},   SignalEntry{"FPE", SIGFPE},
    SignalEntry{"KILL", SIGKILL}, SignalEntry{"USR1", SIGUSR1},
    SignalEntry{"SEGV", SIGSEGV}, SignalEntry{"USR2", SIGUSR2},
    SignalEntry{"PIPE", SIGPIPE}, SignalEntry{"ALRM", SIGALRM},
    SignalEntry{"TERM", SIGTERM}, SignalEntry{"STKFLT", SIGSTKFLT},
    SignalEntry{"CHLD", SIGCHLD}, SignalEntry{"CONT", SIGCONT},
    SignalEntry{"STOP", SIGSTOP}, SignalEntry{"TSTP", SIGTSTP},
    SignalEntry{"TTIN", SIGTTIN}, SignalEntry{"TTOU", SIGTTOU},
    SignalEntry{"URG", SIGURG},   SignalEntry{"XCPU", SIGXCPU},
    SignalEntry{"XFSZ", SIGXFSZ}, SignalEntry{"VTALRM", SIGVTALRM},
    SignalEntry{"PROF", SIGPROF}, SignalEntry{"WINCH", SIGWINCH},
    SignalEntry{"IO", SIGIO},     SignalEntry{"PWR", SIGPWR},
    SignalEntry{"SYS", SIGSYS},   SignalEntry{"IOT", SIGIOT},
    SignalEntry{"POLL", SIGPOLL},
};

char upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool equal_upper(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (upper(a[i]) != b[i]) return false;
    return true;
}

// A whole number of at most 3 digits: a signal number or an offset.
std::optional<int> small_number(std::string_view digits) {
    if (digits.empty() || digits.size() > 3 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos)
        return std::nullopt;
    int n = 0;
    for (const char c : digits)
        n = n * 10 + (c - '0');
    return n;
}

bool real_time(int signo) {
    return signo >= SIGRTMIN && signo <= SIGRTMAX;
}

bool named(int signo) {
    for (const auto& entry : k_signals)
        if (entry.signo == signo) return true;
    return false;
}

} // namespace

std::optional<int> parse_signal(std::string_view name) {
    // 15: a number the C library leaves to programs (not 32 and 33, which
    // its threads use).
    if (const auto n = small_number(name)) {
        if (named(*n) || real_time(*n)) return *n;
        return std::nullopt;
    }
    if (name.size() > 3 && equal_upper(name.substr(0, 3), "SIG")) name.remove_prefix(3);
    for (const auto& entry : k_signals)
        if (equal_upper(name, entry.name)) return entry.signo;
    // RTMIN, RTMIN+3, RTMAX-2: real-time signals, as kill(1) names them.
    if (name.size() >= 5 &&
        (equal_upper(name.substr(0, 5), "RTMIN") || equal_upper(name.substr(0, 5), "RTMAX"))) {
        const bool from_min = upper(name[3]) == 'I';
        std::string_view rest = name.substr(5);
        int offset = 0;
        if (!rest.empty()) {
            if (rest.front() != (from_min ? '+' : '-')) return std::nullopt;
            const auto n = small_number(rest.substr(1));
            if (!n) return std::nullopt;
            offset = from_min ? *n : -*n;
        }
        const int signo = (from_min ? SIGRTMIN : SIGRTMAX) + offset;
        if (real_time(signo)) return signo;
    }
    return std::nullopt;
}

std::string signal_name(int signo) {
    for (const auto& entry : k_signals)
        if (entry.signo == signo) return fmt::format("SIG{}", entry.name);
    if (signo == SIGRTMIN) return "SIGRTMIN";
    if (real_time(signo)) return fmt::format("SIGRTMIN+{}", signo - SIGRTMIN);
    return fmt::format("SIG{}", signo);
}

} // namespace forkspawn
