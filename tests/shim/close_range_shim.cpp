// SPDX-License-Identifier: MIT
// Fault injection for the tests, loaded with LD_PRELOAD: forkspawn (and
// everything it starts) sees the close_range of an older kernel.
// FORKSPAWN_TEST_KERNEL, read once when the shim is loaded:
//   "5.9"          close_range without CLOSE_RANGE_CLOEXEC: that flag is
//                  EINVAL (Linux 5.9 and 5.10)
//   "5.4"          no close_range at all: ENOSYS (before 5.9)
//   "5.4-no-proc"  as 5.4, and /proc/self/fd cannot be opened (ENOENT)
// forkspawn calls close_range through syscall(2), so syscall is interposed
// (every other number is passed on with its arguments), and close_range(2)
// and open(2) as well. Everything here may run between fork and execve:
// the real functions are looked up at load time, not on a call.
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

using SyscallFn = long (*)(long, ...);
using OpenFn = int (*)(const char*, int, ...);

bool g_no_cloexec = false;     // CLOSE_RANGE_CLOEXEC is EINVAL
bool g_no_close_range = false; // close_range is ENOSYS
bool g_no_proc_fd = false;     // /proc/self/fd is ENOENT
SyscallFn g_syscall = nullptr;
OpenFn g_open = nullptr;
OpenFn g_open64 = nullptr;

__attribute__((constructor)) void load() {
    g_syscall = reinterpret_cast<SyscallFn>(::dlsym(RTLD_NEXT, "syscall"));
    g_open = reinterpret_cast<OpenFn>(::dlsym(RTLD_NEXT, "open"));
    g_open64 = reinterpret_cast<OpenFn>(::dlsym(RTLD_NEXT, "open64"));
    const char* kernel = std::getenv("FORKSPAWN_TEST_KERNEL");
    if (!kernel) return;
    g_no_cloexec = std::strcmp(kernel, "5.9") == 0;
    g_no_close_range = std::strncmp(kernel, "5.4", 3) == 0;
    g_no_proc_fd = std::strcmp(kernel, "5.4-no-proc") == 0;
}

// The errno an old kernel gives close_range with these flags, or 0.
int close_range_error(unsigned flags) {
    if (g_no_close_range) return ENOSYS;
    if (g_no_cloexec && (flags & CLOSE_RANGE_CLOEXEC)) return EINVAL;
    return 0;
}

int open_with(OpenFn real, const char* path, int flags, va_list ap) {
    if (g_no_proc_fd && std::strcmp(path, "/proc/self/fd") == 0) {
        errno = ENOENT;
        return -1;
    }
    // The mode is there only with O_CREAT or O_TMPFILE; reading it anyway
    // is what every wrapper of open does.
    const auto mode = static_cast<mode_t>(va_arg(ap, unsigned));
    return real(path, flags, mode);
}

} // namespace

extern "C" long syscall(long number, ...) noexcept {
    // Up to six arguments, all passed in registers as longs: reading more
    // than the caller passed is harmless, and passing them all on is exact.
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (long& arg : a)
        arg = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_close_range) {
        if (const int err = close_range_error(static_cast<unsigned>(a[2]))) {
            errno = err;
            return -1;
        }
    }
    return g_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

extern "C" int close_range(unsigned first, unsigned last, int flags) noexcept {
    if (const int err = close_range_error(static_cast<unsigned>(flags))) {
        errno = err;
        return -1;
    }
    return static_cast<int>(g_syscall(SYS_close_range, first, last, flags));
}

extern "C" int open(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const int fd = open_with(g_open, path, flags, ap);
    va_end(ap);
    return fd;
}

extern "C" int open64(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const int fd = open_with(g_open64, path, flags, ap);
    va_end(ap);
    return fd;
}
