// SPDX-License-Identifier: MIT
#include "forkspawn/cgroup.hpp"

#include "forkspawn/error.hpp"
#include "forkspawn/sys.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <vector>

namespace forkspawn::cgroup {

namespace {

using Clock = std::chrono::steady_clock;

// The lines of `text`, without their '\n'.
template <typename F> void each_line(std::string_view text, F&& f) {
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        f(text.substr(0, end));
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
    }
}

// The space-separated fields of a line (runs of spaces count as one).
std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ')
            ++i;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ')
            ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

// A path field of mountinfo as the kernel escapes it: a space, tab, newline
// or backslash is written as a backslash and three octal digits.
std::string unescape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '3' &&
            text[i + 2] >= '0' && text[i + 2] <= '7' && text[i + 3] >= '0' && text[i + 3] <= '7') {
            out.push_back(static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 +
                                            (text[i + 3] - '0')));
            i += 3;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.remove_suffix(1);
    return text;
}

// `name` in the directory open at `dir_fd`, read whole; nullopt with errno.
std::optional<std::string> read_at(int dir_fd, const char* name) {
    UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;
    errno = 0;
    std::string text = sys::read_all(fd.get());
    if (errno != 0) return std::nullopt;
    return text;
}

// Writes `text` to `name` in the directory open at `dir_fd`, in one write:
// a cgroup file takes each write as one command. 0, or -1 with errno.
int write_at(int dir_fd, const char* name, std::string_view text) {
    UniqueFd fd(::openat(dir_fd, name, O_WRONLY | O_CLOEXEC));
    if (!fd) return -1;
    const ssize_t n = sys::retry_eintr([&] { return ::write(fd.get(), text.data(), text.size()); });
    if (n < 0) return -1;
    if (static_cast<std::size_t>(n) != text.size()) {
        errno = EIO;
        return -1;
    }
    return 0;
}

// Reads the cgroup.events open at `fd` from its start: a read is also what
// re-arms POLLPRI on that fd (the kernel compares the file's change count
// with the one the fd last read).
std::optional<bool> read_populated(int fd) {
    char buf[256];
    const ssize_t n = sys::retry_eintr([&] { return ::pread(fd, buf, sizeof buf, 0); });
    if (n <= 0) return std::nullopt;
    return parse_populated(std::string_view(buf, static_cast<std::size_t>(n)));
}

// Whether this kernel's release (uname) is at least major.minor.
bool kernel_at_least(int major, int minor) {
    utsname u{};
    if (::uname(&u) < 0) return false;
    const std::string_view release(u.release);
    int have_major = 0, have_minor = 0;
    const char* end = release.data() + release.size();
    auto r = std::from_chars(release.data(), end, have_major);
    if (r.ec != std::errc() || r.ptr == end || *r.ptr != '.') return false;
    r = std::from_chars(r.ptr + 1, end, have_minor);
    if (r.ec != std::errc()) return false;
    return have_major > major || (have_major == major && have_minor >= minor);
}

bool valid_name(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
           name.find('\0') == std::string::npos;
}

std::string join_path(std::string_view parent, std::string_view name) {
    std::string path(parent);
    if (path.empty() || path.back() != '/') path += '/';
    path += name;
    return path;
}

// Whether `path` has a ".." component.
bool climbs(std::string_view path) {
    while (!path.empty()) {
        const std::size_t end = path.find('/');
        if (path.substr(0, end) == "..") return true;
        if (end == std::string_view::npos) break;
        path.remove_prefix(end + 1);
    }
    return false;
}

void set_err(int* err, int value) {
    if (err) *err = value;
}

// Waits, without spinning, for a reason to try the rmdir of the cgroup open
// at `dir_fd` again: for its cgroup.events to change while it is populated
// (the kernel notifies when its last process is gone), or a short while
// when it is not (the EBUSY came from a cgroup made below it meanwhile, to
// be found by the next pass). Never past `until`; at most a second, so a
// cgroup made below in the meantime is not waited on for long.
void wait_for_change(int dir_fd, Clock::time_point until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return;
    UniqueFd events(::openat(dir_fd, "cgroup.events", O_RDONLY | O_CLOEXEC));
    const std::optional<bool> populated = events ? read_populated(events.get()) : std::nullopt;
    const long cap = populated.value_or(false) ? 1000 : 10;
    const int timeout = static_cast<int>(std::min<long>(left.count(), cap));
    pollfd p{events.get(), POLLPRI, 0}; // fd -1 (no events file): a plain bounded wait
    sys::retry_eintr([&] { return ::poll(&p, 1, timeout); });
}

bool remove_one(int parent_fd, const char* name, int dir_fd, Clock::time_point until);

// Removes every cgroup directory below the one open at `dir_fd`, deepest
// first. Only directories on the same file system are entered (no mount
// point is crossed), each opened O_NOFOLLOW through its parent's fd.
bool remove_below(int dir_fd, Clock::time_point until) {
    struct stat self {};
    if (::fstat(dir_fd, &self) < 0) return false;
    // The names first, the directory stream closed before recursing: one fd
    // per level of the tree, whatever its width.
    std::vector<std::string> names;
    {
        const int dup = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
        if (dup < 0) return false;
        DIR* dir = ::fdopendir(dup);
        if (!dir) {
            ::close(dup);
            return false;
        }
        ::rewinddir(dir); // the dup shares its offset with dir_fd's earlier reads
        errno = 0;
        while (const dirent* entry = ::readdir(dir)) {
            const std::string_view name(entry->d_name);
            if (name == "." || name == "..") continue;
            if (entry->d_type == DT_DIR || entry->d_type == DT_UNKNOWN) names.emplace_back(name);
        }
        const int err = errno;
        ::closedir(dir);
        if (err != 0) {
            errno = err;
            return false;
        }
    }
    bool all = true;
    for (const std::string& name : names) {
        UniqueFd child(
            ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!child) {
            if (errno == ENOENT || errno == ENOTDIR) continue; // gone, or not a directory
            all = false;
            continue;
        }
        struct stat st {};
        if (::fstat(child.get(), &st) < 0 || st.st_dev != self.st_dev) {
            all = false; // something mounted inside: not ours to remove
            continue;
        }
        if (!remove_one(dir_fd, name.c_str(), child.get(), until)) all = false;
    }
    return all;
}

// Removes the cgroup `name` in the directory `parent_fd` (AT_FDCWD with a
// path for the top of a tree), whose own fd is `dir_fd`, after everything
// below it; retried while the kernel refuses with EBUSY, until `until`.
bool remove_one(int parent_fd, const char* name, int dir_fd, Clock::time_point until) {
    for (;;) {
        // A cgroup below that could not be removed (its own time ran out,
        // or it is not a cgroup of ours) keeps this one from going too.
        if (!remove_below(dir_fd, until)) return false;
        if (::unlinkat(parent_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) return true;
        if (errno != EBUSY || Clock::now() >= until) return false;
        wait_for_change(dir_fd, until);
    }
}

} // namespace

std::optional<Mode> parse_mode(std::string_view text) {
    if (text == "auto") return Mode::automatic;
    if (text == "on") return Mode::on;
    if (text == "off") return Mode::off;
    return std::nullopt;
}

std::string_view mode_name(Mode m) {
    switch (m) {
    case Mode::automatic:
        return "auto";
    case Mode::on:
        return "on";
    case Mode::off:
        return "off";
    }
    return "auto";
}

Where locate(std::string_view mountinfo, std::string_view self_cgroup) {
    struct Mount {
        std::string root, point;
    };
    std::vector<Mount> mounts;
    each_line(mountinfo, [&](std::string_view line) {
        // ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
        const std::vector<std::string_view> f = fields(line);
        for (std::size_t i = 6; i + 1 < f.size(); ++i) {
            if (f[i] != "-") continue;
            if (f[i + 1] == "cgroup2") mounts.push_back({unescape(f[3]), unescape(f[4])});
            break;
        }
    });
    if (mounts.empty())
        return {"", "no cgroup2 file system is mounted (none in /proc/self/mountinfo)"};

    std::optional<std::string_view> path;
    each_line(self_cgroup, [&](std::string_view line) {
        if (!path && line.starts_with("0::")) path = line.substr(3);
    });
    if (!path)
        return {"", "/proc/self/cgroup has no \"0::\" line (this process is in no cgroup of the "
                    "unified hierarchy)"};
    constexpr std::string_view deleted = " (deleted)";
    if (path->ends_with(deleted))
        return {"", fmt::format("this process's cgroup {} has been removed (\"(deleted)\" in "
                                "/proc/self/cgroup)",
                                path->substr(0, path->size() - deleted.size()))};
    if (!path->starts_with('/'))
        return {"", fmt::format("the \"0::\" line of /proc/self/cgroup has no absolute path: {}",
                                *path)};

    for (const Mount& m : mounts) {
        // The root field is where the mount starts in the hierarchy, seen
        // from this process's cgroup namespace, like the path: a container
        // that bind-mounts /docker/abc shows it as the root, and the path
        // /docker/abc/sub is then "sub" below the mount point.
        std::string_view rest;
        if (m.root == "/") {
            rest = *path;
        } else if (*path == m.root) {
            rest = "";
        } else if (path->starts_with(m.root) && (*path)[m.root.size()] == '/') {
            rest = path->substr(m.root.size());
        } else {
            continue;
        }
        while (rest.starts_with('/'))
            rest.remove_prefix(1);
        // A process moved out of its cgroup namespace sees its path start
        // with "/..": below this mount point that would name a directory
        // outside the mount.
        if (climbs(rest)) continue;
        std::string dir = m.point;
        if (!rest.empty()) dir = join_path(dir, rest);
        while (dir.size() > 1 && dir.back() == '/')
            dir.pop_back();
        return {dir, ""};
    }
    std::string roots;
    for (const Mount& m : mounts)
        roots += (roots.empty() ? "" : ", ") + m.root;
    return {"", fmt::format("this process's cgroup {} is outside every cgroup2 mount (whose "
                            "roots are {})",
                            *path, roots)};
}

Where locate() {
    std::string texts[2];
    const char* files[2] = {"/proc/self/mountinfo", "/proc/self/cgroup"};
    for (int i = 0; i < 2; ++i) {
        UniqueFd fd(::open(files[i], O_RDONLY | O_CLOEXEC));
        if (fd) {
            errno = 0;
            texts[i] = sys::read_all(fd.get());
        }
        if (!fd || errno != 0)
            return {"", fmt::format("cannot read {}: {}", files[i], errno_text(errno))};
    }
    return locate(texts[0], texts[1]);
}

std::optional<std::string> unusable(const std::string& dir) {
    if (dir.empty() || dir.front() != '/')
        return fmt::format("\"{}\" is not an absolute cgroup directory", dir);
    if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) < 0)
        return fmt::format("{} is not writable: {}", dir, errno_text(errno));
    const std::string procs = join_path(dir, "cgroup.procs");
    if (::faccessat(AT_FDCWD, procs.c_str(), W_OK, AT_EACCESS) < 0)
        return fmt::format("{} is not writable: {}", procs, errno_text(errno));

    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) return fmt::format("cannot open {}: {}", dir, errno_text(errno));
    // The root of the hierarchy has no cgroup.type (nor cgroup.kill): the
    // kernel shows neither there.
    const std::optional<std::string> type = read_at(dir_fd.get(), "cgroup.type");
    const bool root = !type && errno == ENOENT;
    if (type && trim(*type) == "threaded")
        return fmt::format("{} is a threaded cgroup (the cgroups below it can hold threads only)",
                           dir);
    if (::faccessat(dir_fd.get(), "cgroup.kill", F_OK, AT_EACCESS) == 0) return std::nullopt;
    if (errno != ENOENT) return fmt::format("{}/cgroup.kill: {}", dir, errno_text(errno));
    if (root && kernel_at_least(5, 14)) return std::nullopt;
    return fmt::format("{} has no cgroup.kill (Linux 5.14 or later is needed to kill a cgroup)",
                       dir);
}

std::optional<bool> parse_populated(std::string_view events) {
    std::optional<bool> populated;
    bool seen = false; // only the first "populated" line counts, well-formed or not
    each_line(events, [&](std::string_view line) {
        const std::vector<std::string_view> f = fields(line);
        if (seen || f.empty() || f[0] != "populated") return;
        seen = true;
        if (f.size() == 2 && f[1] == "0") populated = false;
        if (f.size() == 2 && f[1] == "1") populated = true;
    });
    return populated;
}

Usage parse_cpu_stat(std::string_view cpu_stat) {
    Usage usage;
    each_line(cpu_stat, [&](std::string_view line) {
        const std::vector<std::string_view> f = fields(line);
        if (f.size() != 2) return;
        std::optional<double>* field = f[0] == "user_usec"     ? &usage.cpu_user_ms
                                       : f[0] == "system_usec" ? &usage.cpu_system_ms
                                                               : nullptr;
        if (!field || *field) return;
        if (const auto usec = parse_u64(f[1])) *field = static_cast<double>(*usec) / 1000.0;
    });
    return usage;
}

Cgroup Cgroup::make(int parent_fd, const std::string& parent_path, const std::string& name,
                    int* err, bool hold_parent) {
    if (!valid_name(name)) {
        set_err(err, EINVAL);
        return {};
    }
    Cgroup c;
    if (hold_parent) c.m_parent.reset(::fcntl(parent_fd, F_DUPFD_CLOEXEC, 0));
    if (hold_parent && !c.m_parent) {
        set_err(err, errno);
        return {};
    }
    // The mode is what a delegated hierarchy's owner would want; cgroupfs
    // honours it like any directory's.
    if (::mkdirat(parent_fd, name.c_str(), 0755) < 0) {
        set_err(err, errno);
        return {};
    }
    c.m_fd.reset(
        ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!c.m_fd) {
        const int e = errno;
        ::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR); // made a moment ago: still empty
        set_err(err, e);
        return {};
    }
    c.m_path = join_path(parent_path, name);
    c.m_name = name;
    c.m_made_here = true;
    set_err(err, 0);
    return c;
}

Cgroup Cgroup::open_existing(const std::string& path, int* err) {
    if (path.empty() || path.front() != '/') {
        set_err(err, EINVAL);
        return {};
    }
    Cgroup c;
    c.m_fd.reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!c.m_fd) {
        set_err(err, errno);
        return {};
    }
    c.m_path = path;
    while (c.m_path.size() > 1 && c.m_path.back() == '/')
        c.m_path.pop_back();
    set_err(err, 0);
    return c;
}

UniqueFd Cgroup::open_procs() const {
    if (!m_fd) {
        errno = EBADF;
        return UniqueFd();
    }
    return UniqueFd(::openat(m_fd.get(), "cgroup.procs", O_WRONLY | O_CLOEXEC));
}

UniqueFd Cgroup::open_events() const {
    if (!m_fd) {
        errno = EBADF;
        return UniqueFd();
    }
    return UniqueFd(::openat(m_fd.get(), "cgroup.events", O_RDONLY | O_CLOEXEC));
}

std::optional<bool> Cgroup::populated() const {
    if (!m_fd) return std::nullopt;
    const std::optional<std::string> text = read_at(m_fd.get(), "cgroup.events");
    return text ? parse_populated(*text) : std::nullopt;
}

int Cgroup::kill() const {
    if (!m_fd || !m_made_here) {
        errno = EPERM;
        return -1;
    }
    return write_at(m_fd.get(), "cgroup.kill", "1");
}

std::string Cgroup::enable_controllers() const {
    if (!m_fd || !m_made_here) return "";
    const std::optional<std::string> offered = read_at(m_fd.get(), "cgroup.controllers");
    if (!offered) return "";
    const std::vector<std::string_view> have = fields(trim(*offered));
    std::string enabled;
    // One write each: a write naming several is refused whole when one of
    // them cannot be enabled.
    for (const std::string_view name : {"memory", "pids", "cpu"}) {
        if (std::find(have.begin(), have.end(), name) == have.end()) continue;
        if (write_at(m_fd.get(), "cgroup.subtree_control", fmt::format("+{}", name)) < 0) continue;
        if (!enabled.empty()) enabled += ' ';
        enabled += name;
    }
    return enabled;
}

Usage Cgroup::usage() const {
    Usage usage;
    if (!m_fd) return usage;
    if (const auto cpu = read_at(m_fd.get(), "cpu.stat")) usage = parse_cpu_stat(*cpu);
    if (const auto peak = read_at(m_fd.get(), "memory.peak"))
        usage.memory_peak_bytes = parse_u64(trim(*peak));
    return usage;
}

int Cgroup::remove() {
    return remove_in(m_parent.get());
}

int Cgroup::remove_in(int parent_fd) {
    if (!m_fd || !m_made_here || parent_fd < 0) {
        errno = EPERM;
        return -1;
    }
    if (::unlinkat(parent_fd, m_name.c_str(), AT_REMOVEDIR) < 0) return -1;
    *this = Cgroup();
    return 0;
}

bool remove_tree(const std::string& path, std::chrono::steady_clock::time_point until) {
    UniqueFd top(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!top) return errno == ENOENT;
    // rmdir on any other file system would remove empty directories that
    // have nothing to do with cgroups: a wrong path must remove nothing.
    struct statfs fs {};
    if (::fstatfs(top.get(), &fs) < 0) return false;
    if (fs.f_type != CGROUP2_SUPER_MAGIC) {
        errno = EXDEV;
        return false;
    }
    return remove_one(AT_FDCWD, path.c_str(), top.get(), until);
}

FORKSPAWN_CHILD_SIDE int join(int procs_fd) noexcept {
    // A plain loop, not sys::retry_eintr: its lambda would be a separate,
    // instrumented function (see FORKSPAWN_CHILD_SIDE).
    ssize_t n;
    while ((n = ::write(procs_fd, "0", 1)) < 0 && errno == EINTR) {
    }
    if (n == 1) return 0;
    if (n >= 0) errno = EIO;
    return -1;
}

} // namespace forkspawn::cgroup
