// SPDX-License-Identifier: MIT
#include "forkspawn/process_handle.hpp"

#include "forkspawn/sys.hpp"

#include <cerrno>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace forkspawn {

int ProcessHandle::signal(int signo) const {
    if (!m_pidfd) {
        errno = ESRCH;
        return -1;
    }
    return sys::pidfd_send_signal(m_pidfd.get(), signo);
}

bool ProcessHandle::leads_group() const {
    return m_pidfd && ::getpgid(m_pid) == m_pid;
}

pid_t ProcessHandle::group() const {
    return m_pidfd ? ::getpgid(m_pid) : -1;
}

int ProcessHandle::signal_group(int signo) const {
    if (!m_pidfd) {
        errno = ESRCH;
        return -1;
    }
    return ::kill(-m_pid, signo);
}

bool ProcessHandle::exited() const {
    if (!m_pidfd) return false;
    siginfo_t info{};
    return ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(m_pidfd.get()), &info,
                    WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid != 0;
}

std::optional<ExitStatus> ProcessHandle::reap(bool* lost) {
    if (lost) *lost = false;
    if (!m_pidfd) return std::nullopt;
    siginfo_t info{};
    rusage usage{};
    // The raw call: glibc's waitid has no rusage argument.
    const int rc = sys::retry_eintr([&] {
        return static_cast<int>(
            ::syscall(SYS_waitid, P_PIDFD, m_pidfd.get(), &info, WEXITED | WNOHANG, &usage));
    });
    ExitStatus status;
    if (rc < 0 && errno == ECHILD) {
        if (lost) *lost = true;
        status.signal = SIGKILL;
    } else if (rc < 0 || info.si_pid == 0) {
        return std::nullopt; // not yet waitable
    } else if (info.si_code == CLD_EXITED) {
        status.exit_code = info.si_status;
        status.usage = usage;
    } else {
        status.signal = info.si_status;
        status.usage = usage;
    }
    m_pidfd.reset();
    return status;
}

} // namespace forkspawn
