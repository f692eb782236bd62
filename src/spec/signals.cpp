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

} // namespace

std::optional<int> parse_signal(std::string_view name) {
    if (name.size() > 3 && equal_upper(name.substr(0, 3), "SIG")) name.remove_prefix(3);
    for (const auto& entry : k_signals)
        if (equal_upper(name, entry.name)) return entry.signo;
    return std::nullopt;
}

std::string signal_name(int signo) {
    for (const auto& entry : k_signals)
        if (entry.signo == signo) return fmt::format("SIG{}", entry.name);
    return fmt::format("SIG{}", signo);
}

} // namespace forkspawn
