// SPDX-License-Identifier: MIT
// The one exception type: a fatal error for the user, caught once in
// cli::run, printed as `forkspawn: error: ...` and turned into an exit code.
// Recoverable problems are returned as values, never thrown.
#pragma once

#include <stdexcept>
#include <string>

namespace forkspawn {

// Exit codes of DESIGN.md.
inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_failed = 1;
inline constexpr int k_exit_usage = 2;
inline constexpr int k_exit_internal = 70; // EX_SOFTWARE: the tree was killed at once
inline constexpr int k_exit_io = 74;       // EX_IOERR: the report could not be written
inline constexpr int k_exit_timeout = 124;

class Error : public std::runtime_error {
  public:
    explicit Error(const std::string& message, int exit_code = k_exit_usage)
        : std::runtime_error(message), m_exit_code(exit_code) {}
    int exit_code() const { return m_exit_code; }

  private:
    int m_exit_code;
};

// "open(/x): No such file or directory (ENOENT)"
std::string errno_text(int err);

} // namespace forkspawn
