// SPDX-License-Identifier: MIT
#include "forkspawn/error.hpp"

#include <cstring>
#include <fmt/format.h>

namespace forkspawn {

std::string errno_text(int err) {
    const char* name = strerrorname_np(err); // glibc >= 2.32; nullptr if unknown
    return fmt::format("{} ({})", std::strerror(err), name ? name : fmt::format("errno {}", err));
}

} // namespace forkspawn
