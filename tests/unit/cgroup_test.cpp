// SPDX-License-Identifier: MIT
// cgroup v2: finding this process's cgroup from mountinfo and
// /proc/self/cgroup (injected text: hybrid, pure v2, containers, escapes),
// the parsers of cgroup.events and cpu.stat, and then the real hierarchy:
// cgroups made, joined by a forked child, watched, killed (a fork storm
// included) and removed. The real cases skip, with a message, where there
// is no usable cgroup2 hierarchy; each cleans up its cgroups through a
// guard, however it ends.
#include "forkspawn/cgroup.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sstream>
#include <string>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace forkspawn;
using namespace forkspawn::cgroup;
using namespace std::chrono_literals;

namespace {

// The lines of a hybrid layout, as on the machines CI runs on.
constexpr std::string_view k_hybrid_mountinfo =
    "22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr std::string_view k_hybrid_cgroup = "9:name=systemd:/\n"
                                             "4:memory:/process_api/6d7b0a12\n"
                                             "1:cpu:/\n"
                                             "0::/\n";

std::string read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "";
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0)
        text.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return text;
}

// The "0::" path of /proc/<pid>/cgroup ("self" for this process).
std::string v2_path(const std::string& pid) {
    std::istringstream lines(read_file("/proc/" + pid + "/cgroup"));
    for (std::string line; std::getline(lines, line);)
        if (line.starts_with("0::")) return line.substr(3);
    return "";
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// The directory to make cgroups in, or "" (and a MESSAGE saying why) when
// this machine has no usable cgroup2 hierarchy: the caller returns.
std::string usable_dir() {
    const Where where = locate();
    if (where.dir.empty()) {
        MESSAGE("skipped: no cgroup2 hierarchy: " << where.why);
        return "";
    }
    if (const auto why = unusable(where.dir)) {
        MESSAGE("skipped: cgroups unusable: " << *why);
        return "";
    }
    return where.dir;
}

// Cleans up after a case however it ends: kills whatever is left in the
// run's cgroup (directly through cgroup.kill, not through the code under
// test), kills and reaps the children the case started and did not reap,
// and removes the run's cgroup with everything below it.
struct Guard {
    std::string run_path;
    std::vector<pid_t> children;

    Guard() = default;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() {
        if (!run_path.empty()) {
            const int fd = ::open((run_path + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
            if (fd >= 0) {
                [[maybe_unused]] const ssize_t n = ::write(fd, "1", 1);
                ::close(fd);
            }
        }
        for (const pid_t pid : children) {
            ::kill(pid, SIGKILL); // one that never got into the cgroup
            ::waitpid(pid, nullptr, 0);
        }
        if (!run_path.empty() && !remove_tree(run_path, std::chrono::steady_clock::now() + 10s))
            MESSAGE("could not remove " << run_path);
    }
    // Reaps a child the case started (blocking): its wait status, or -1.
    int reap(pid_t pid) {
        int status = 0;
        const pid_t got = ::waitpid(pid, &status, 0);
        children.erase(std::remove(children.begin(), children.end(), pid), children.end());
        return got == pid ? status : -1;
    }
};

// This case's run cgroup under `dir`, named after the case and this
// process, and recorded in the guard before anything else can fail.
Cgroup make_run(const std::string& dir, const char* tag, Guard& guard) {
    int err = 0;
    Cgroup parent = Cgroup::open_existing(dir, &err);
    REQUIRE_MESSAGE(parent, "open " << dir << ": " << err);
    const std::string name = fmt::format("forkspawn-cgtest-{}-{}", ::getpid(), tag);
    Cgroup run = Cgroup::make(parent.fd(), parent.path(), name, &err);
    REQUIRE_MESSAGE(run, "mkdir " << name << ": " << err);
    guard.run_path = run.path();
    return run;
}

Cgroup make_in(const Cgroup& parent, const char* name) {
    int err = 0;
    Cgroup c = Cgroup::make(parent.fd(), parent.path(), name, &err);
    REQUIRE_MESSAGE(c, "mkdir " << name << ": " << err);
    CHECK(c.path() == parent.path() + "/" + name);
    return c;
}

// Forks a child that joins the cgroup (join() on its cgroup.procs, opened
// here before the fork), reports the outcome on a pipe, then runs `body`
// (which does not return). Returns once the child is in the cgroup.
template <typename F> pid_t start_in(const Cgroup& cg, Guard& guard, F body) {
    UniqueFd procs = cg.open_procs();
    REQUIRE(procs);
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        const unsigned char result = join(procs.get()) == 0 ? 0 : static_cast<unsigned char>(errno);
        if (::write(p[1], &result, 1) != 1 || result != 0) ::_exit(2);
        ::close(p[1]);
        body();
        ::_exit(3);
    }
    ::close(p[1]);
    REQUIRE(pid > 0);
    guard.children.push_back(pid);
    pollfd pf{p[0], POLLIN, 0};
    unsigned char result = 255;
    const bool heard = ::poll(&pf, 1, 10000) == 1 && ::read(p[0], &result, 1) == 1;
    ::close(p[0]);
    REQUIRE(heard);
    REQUIRE_MESSAGE(result == 0, "join: errno " << int(result));
    return pid;
}

[[noreturn]] void wait_forever() {
    for (;;)
        ::pause();
}

// Waits on a cgroup.events fd (open_events()) until the cgroup holds no
// process, reading the file before each wait (a read re-arms POLLPRI).
// False when `bound` passes first.
bool wait_unpopulated(int events_fd, std::chrono::milliseconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    for (;;) {
        char buf[256];
        const ssize_t n = ::pread(events_fd, buf, sizeof buf, 0);
        if (n > 0 && parse_populated(std::string_view(buf, static_cast<std::size_t>(n))) == false)
            return true;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{events_fd, POLLPRI, 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
    }
}

// The errno of a call that returned `rc`, read before anything else can
// change it; 0 when the call did not fail.
int failed_with(int rc) {
    return rc == -1 ? errno : 0;
}

bool killed_by(int status, int signo) {
    return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == signo;
}

} // namespace

TEST_CASE("cgroup: --cgroup modes") {
    CHECK(parse_mode("auto") == Mode::automatic);
    CHECK(parse_mode("on") == Mode::on);
    CHECK(parse_mode("off") == Mode::off);
    CHECK_FALSE(parse_mode("AUTO"));
    CHECK_FALSE(parse_mode(""));
    CHECK_FALSE(parse_mode("automatic"));
    for (const Mode m : {Mode::automatic, Mode::on, Mode::off})
        CHECK(parse_mode(mode_name(m)) == m);
}

TEST_CASE("cgroup: locate in a hybrid layout finds the cgroup2 mount, not the v1 ones") {
    const Where w = locate(k_hybrid_mountinfo, k_hybrid_cgroup);
    CHECK(w.dir == "/sys/fs/cgroup/unified");
    CHECK(w.why.empty());
    // Deeper in the hierarchy.
    CHECK(locate(k_hybrid_mountinfo, "0::/a/b\n").dir == "/sys/fs/cgroup/unified/a/b");
}

TEST_CASE("cgroup: locate in a pure v2 layout") {
    const std::string_view mountinfo =
        "24 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
        "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 master:1 - cgroup2 "
        "cgroup2 rw,nsdelegate,memory_recursiveprot\n";
    const Where w = locate(mountinfo, "0::/user.slice/user-1000.slice/user@1000.service/"
                                      "app.slice/x.scope\n");
    CHECK(w.dir == "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/"
                   "x.scope");
    CHECK(locate(mountinfo, "0::/").dir == "/sys/fs/cgroup"); // no trailing newline either
}

TEST_CASE("cgroup: locate in a container whose cgroup2 mount root is not /") {
    const std::string_view mountinfo =
        "1000 900 0:26 /docker/abc /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 "
        "cgroup rw\n";
    CHECK(locate(mountinfo, "0::/docker/abc/sub\n").dir == "/sys/fs/cgroup/sub");
    CHECK(locate(mountinfo, "0::/docker/abc\n").dir == "/sys/fs/cgroup");
    // A sibling whose name merely starts like the root is not below it.
    const Where outside = locate(mountinfo, "0::/docker/abcd\n");
    CHECK(outside.dir.empty());
    CHECK(outside.why.find("outside every cgroup2 mount") != std::string::npos);
    CHECK(outside.why.find("/docker/abc") != std::string::npos);
    // A mount made before this process entered its cgroup namespace shows
    // a root above the namespace's: a path below that root is reachable.
    const std::string_view above = "60 1 0:26 /.. /mnt/host rw - cgroup2 cgroup2 rw\n";
    CHECK(locate(above, "0::/../x\n").dir == "/mnt/host/x");
}

TEST_CASE("cgroup: locate takes the first cgroup2 mount whose root holds the path") {
    const std::string_view mountinfo = "50 1 0:26 /docker/abc /a rw - cgroup2 cgroup2 rw\n"
                                       "51 1 0:26 / /b rw - cgroup2 cgroup2 rw\n"
                                       "52 1 0:26 / /c rw - cgroup2 cgroup2 rw\n";
    CHECK(locate(mountinfo, "0::/docker/abc/x\n").dir == "/a/x");
    CHECK(locate(mountinfo, "0::/other\n").dir == "/b/other");
}

TEST_CASE("cgroup: locate unescapes mount points and reads the type after the separator") {
    const std::string_view mountinfo =
        // A tmpfs whose source is named "cgroup2" is not a cgroup2 mount.
        "39 30 0:36 / /decoy rw - tmpfs cgroup2 rw\n"
        "40 30 0:37 / /sys/fs/cgroup\\040x rw,relatime shared:9 - cgroup2 cgroup2 rw\n";
    CHECK(locate(mountinfo, "0::/a\\040b\n").dir == "/sys/fs/cgroup x/a\\040b");
    const std::string_view root_escaped =
        "40 30 0:37 /my\\134dir /mnt/cg rw - cgroup2 cgroup2 rw\n";
    CHECK(locate(root_escaped, "0::/my\\dir/y\n").dir == "/mnt/cg/y");
}

TEST_CASE("cgroup: locate says why there is no cgroup") {
    SUBCASE("no cgroup2 mount") {
        const std::string_view v1_only = "31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw\n";
        const Where w = locate(v1_only, k_hybrid_cgroup);
        CHECK(w.dir.empty());
        CHECK(w.why.find("no cgroup2") != std::string::npos);
    }
    SUBCASE("no 0:: line") {
        const Where w = locate(k_hybrid_mountinfo, "9:name=systemd:/\n1:cpu:/\n");
        CHECK(w.dir.empty());
        CHECK(w.why.find("\"0::\"") != std::string::npos);
    }
    SUBCASE("the cgroup was removed") {
        const Where w = locate(k_hybrid_mountinfo, "0::/gone (deleted)\n");
        CHECK(w.dir.empty());
        CHECK(w.why.find("/gone has been removed") != std::string::npos);
    }
    SUBCASE("the cgroup is outside this process's cgroup namespace") {
        const Where w = locate(k_hybrid_mountinfo, "0::/../../elsewhere\n");
        CHECK(w.dir.empty());
        CHECK(w.why.find("outside every cgroup2 mount") != std::string::npos);
    }
    SUBCASE("empty texts") {
        CHECK(locate("", "").why.find("no cgroup2") != std::string::npos);
    }
}

TEST_CASE("cgroup: parse cgroup.events") {
    CHECK(parse_populated("populated 0\nfrozen 0\n") == false);
    CHECK(parse_populated("populated 1\nfrozen 0\n") == true);
    CHECK(parse_populated("frozen 1\npopulated 1") == true);
    CHECK_FALSE(parse_populated(""));
    CHECK_FALSE(parse_populated("frozen 0\n"));
    CHECK_FALSE(parse_populated("populated\n"));
    CHECK_FALSE(parse_populated("populated 2\n"));
    CHECK_FALSE(parse_populated("populated 1 0\n"));
    CHECK_FALSE(parse_populated("populatedx 1\n"));
    // Only the first populated line counts, even when it is malformed.
    CHECK_FALSE(parse_populated("populated x\npopulated 1\n"));
}

TEST_CASE("cgroup: parse cpu.stat") {
    const Usage with_cpu = parse_cpu_stat("usage_usec 51234\n"
                                          "user_usec 40000\n"
                                          "system_usec 11234\n"
                                          "nr_periods 0\n"
                                          "nr_throttled 0\n"
                                          "throttled_usec 0\n");
    REQUIRE(with_cpu.cpu_user_ms);
    REQUIRE(with_cpu.cpu_system_ms);
    CHECK(*with_cpu.cpu_user_ms == doctest::Approx(40.0));
    CHECK(*with_cpu.cpu_system_ms == doctest::Approx(11.234));
    CHECK_FALSE(with_cpu.memory_peak_bytes);

    const Usage malformed = parse_cpu_stat("user_usec -5\nsystem_usec 12x\n");
    CHECK_FALSE(malformed.cpu_user_ms);
    CHECK_FALSE(malformed.cpu_system_ms);
    const Usage partial = parse_cpu_stat("usage_usec 7\nsystem_usec 3000");
    CHECK_FALSE(partial.cpu_user_ms);
    CHECK(partial.cpu_system_ms == doctest::Approx(3.0));
    CHECK_FALSE(parse_cpu_stat("").cpu_user_ms);
}

TEST_CASE("cgroup: unusable says why") {
    CHECK(unusable("relative/dir").value_or("").find("not an absolute") != std::string::npos);
    const auto missing = unusable("/nonexistent-forkspawn-cgtest");
    REQUIRE(missing);
    CHECK(missing->find("/nonexistent-forkspawn-cgtest is not writable") != std::string::npos);
    CHECK(missing->find("ENOENT") != std::string::npos);
    // A directory that is not a cgroup has no cgroup.procs.
    char tmp[] = "/tmp/forkspawn-cgtest-XXXXXX";
    REQUIRE(::mkdtemp(tmp));
    const auto plain = unusable(tmp);
    ::rmdir(tmp);
    REQUIRE(plain);
    CHECK(plain->find("cgroup.procs is not writable") != std::string::npos);
}

TEST_CASE("cgroup: remove_tree removes nothing that is not a cgroup") {
    char tmp[] = "/tmp/forkspawn-cgtest-XXXXXX";
    REQUIRE(::mkdtemp(tmp));
    const std::string top = tmp;
    REQUIRE(::mkdir((top + "/empty").c_str(), 0700) == 0);
    CHECK_FALSE(remove_tree(top, std::chrono::steady_clock::now() + 1s));
    CHECK(exists(top + "/empty"));
    ::rmdir((top + "/empty").c_str());
    ::rmdir(tmp);
    // Nothing there: nothing left to remove.
    CHECK(remove_tree(top, std::chrono::steady_clock::now() + 1s));
}

TEST_CASE("cgroup: a child joins, is seen, is killed, and its cgroups are removed") {
    const std::string dir = usable_dir();
    if (dir.empty()) return;
    Guard guard;
    Cgroup run = make_run(dir, "basic", guard);
    CHECK(run.made_here());
    const std::string enabled = run.enable_controllers();
    for (const std::string_view name : {"memory", "pids", "cpu"})
        if (enabled.find(name) != std::string::npos)
            CHECK(read_file(run.path() + "/cgroup.subtree_control").find(name) !=
                  std::string::npos);
    Cgroup actor = make_in(run, "actor");
    const std::string actor_path = actor.path();
    CHECK(actor.populated() == false);

    const pid_t pid = start_in(actor, guard, [] { wait_forever(); });
    CHECK(actor.populated() == true);
    CHECK(run.populated() == true); // populated counts the processes below, too
    std::string self = v2_path("self");
    if (self.ends_with('/')) self.pop_back();
    CHECK(v2_path(std::to_string(pid)) ==
          self + "/" + fmt::format("forkspawn-cgtest-{}-basic", ::getpid()) + "/actor");
    const Usage usage = actor.usage();
    CHECK(usage.cpu_user_ms);
    CHECK(usage.cpu_system_ms);
    if (enabled.find("memory") != std::string::npos) CHECK(usage.memory_peak_bytes);

    // The events fd, opened and read before the kill, wakes when it ends.
    UniqueFd events = actor.open_events();
    REQUIRE(events);
    CHECK(actor.kill() == 0);
    CHECK(killed_by(guard.reap(pid), SIGKILL));
    CHECK(wait_unpopulated(events.get(), 10s));
    CHECK(actor.populated() == false);
    CHECK(run.populated() == false);

    CHECK(failed_with(run.remove()) == EBUSY); // the actor's cgroup is still below it
    CHECK(actor.remove() == 0);
    CHECK_FALSE(actor);
    CHECK(actor.fd() == -1);
    CHECK(actor.path().empty());
    CHECK_FALSE(exists(actor_path));
    const std::string run_path = run.path();
    CHECK(run.remove() == 0);
    CHECK_FALSE(exists(run_path));
    CHECK(failed_with(run.remove()) == EPERM); // empty now: nothing to remove
}

TEST_CASE("cgroup: kill leaves nothing of a fork storm") {
    const std::string dir = usable_dir();
    if (dir.empty()) return;
    Guard guard;
    Cgroup run = make_run(dir, "storm", guard);
    Cgroup actor = make_in(run, "actor");
    int started[2];
    REQUIRE(::pipe2(started, O_CLOEXEC) == 0);
    // The child becomes the subreaper of what it starts and reaps it; each
    // of its chains forks a child and exits at once, over and over, so its
    // pid never stays the same (what a kill by pid cannot catch), and says
    // so on `started` once it is well under way.
    const pid_t pid = start_in(actor, guard, [&] {
        ::close(started[0]);
        ::prctl(PR_SET_CHILD_SUBREAPER, 1);
        for (int chain = 0; chain < 3; ++chain) {
            if (::fork() != 0) continue;
            for (int generation = 0;;) {
                const pid_t next = ::fork();
                if (next > 0) ::_exit(0);
                if (next == 0 && ++generation == 200) {
                    [[maybe_unused]] const ssize_t n = ::write(started[1], "s", 1);
                }
            }
        }
        ::close(started[1]);
        for (;;)
            if (::waitpid(-1, nullptr, 0) < 0 && errno == ECHILD) ::pause();
    });
    ::close(started[1]);
    pollfd p{started[0], POLLIN, 0};
    char byte = 0;
    const bool storming = ::poll(&p, 1, 10000) == 1 && ::read(started[0], &byte, 1) == 1;
    REQUIRE(storming);

    UniqueFd events = actor.open_events();
    REQUIRE(events);
    CHECK(actor.populated() == true);
    CHECK(actor.kill() == 0);
    CHECK(killed_by(guard.reap(pid), SIGKILL));
    CHECK(wait_unpopulated(events.get(), 10s));
    CHECK(read_file(actor.path() + "/cgroup.procs").empty());
    ::close(started[0]);
    CHECK(actor.remove() == 0);
    CHECK(run.remove() == 0);
}

TEST_CASE("cgroup: remove_tree removes nested cgroups right after a kill") {
    const std::string dir = usable_dir();
    if (dir.empty()) return;
    Guard guard;
    Cgroup run = make_run(dir, "tree", guard);
    Cgroup a = make_in(run, "a");
    Cgroup b = make_in(a, "b");
    Cgroup c = make_in(b, "c");
    const pid_t deep = start_in(c, guard, [] { wait_forever(); });
    const pid_t middle = start_in(a, guard, [] { wait_forever(); });
    CHECK(run.populated() == true);
    const std::string run_path = run.path();

    // While its processes live, remove_tree waits for them until its time
    // is up (bounded, however busy the cgroups stay), removing what it can
    // meanwhile: an empty cgroup beside them goes, theirs stay.
    Cgroup empty = make_in(a, "empty");
    const std::string empty_path = empty.path();
    const auto before = std::chrono::steady_clock::now();
    CHECK_FALSE(remove_tree(run_path, before + 200ms));
    const auto took = std::chrono::steady_clock::now() - before;
    CHECK(took >= 200ms);
    CHECK(took < 5s);
    CHECK_FALSE(exists(empty_path));
    CHECK(exists(c.path()));
    CHECK(c.populated() == true);

    CHECK(run.kill() == 0);
    // Not waiting for the processes to go: remove_tree waits for each
    // cgroup the kernel still refuses to remove.
    CHECK(remove_tree(run_path, std::chrono::steady_clock::now() + 10s));
    CHECK_FALSE(exists(run_path));
    CHECK(killed_by(guard.reap(deep), SIGKILL));
    CHECK(killed_by(guard.reap(middle), SIGKILL));
    // The objects' cgroups are gone from under them.
    CHECK(failed_with(c.remove()) == ENOENT);
    // Gone already: nothing to do, and success.
    CHECK(remove_tree(run_path, std::chrono::steady_clock::now() + 1s));
}

TEST_CASE("cgroup: make refuses an existing name and names that are not one component") {
    const std::string dir = usable_dir();
    if (dir.empty()) return;
    Guard guard;
    Cgroup run = make_run(dir, "names", guard);
    Cgroup x = make_in(run, "x");
    int err = 0;
    CHECK_FALSE(Cgroup::make(run.fd(), run.path(), "x", &err));
    CHECK(err == EEXIST);
    for (const char* bad : {"", ".", "..", "a/b", "/x"}) {
        err = 0;
        CHECK_FALSE(Cgroup::make(run.fd(), run.path(), bad, &err));
        CHECK(err == EINVAL);
    }
    CHECK_FALSE(Cgroup::make(-1, "/nowhere", "y", &err));
    CHECK(err == EBADF);
    CHECK(x.remove() == 0);
    CHECK(run.remove() == 0);
}

TEST_CASE("cgroup: a cgroup not made here is never removed, killed or changed") {
    const std::string dir = usable_dir();
    if (dir.empty()) return;
    Guard guard;
    Cgroup run = make_run(dir, "existing", guard);
    int err = 0;
    Cgroup opened = Cgroup::open_existing(run.path() + "/", &err);
    REQUIRE(opened);
    CHECK(err == 0);
    CHECK(opened.path() == run.path());
    CHECK_FALSE(opened.made_here());
    CHECK(failed_with(opened.remove()) == EPERM);
    CHECK(failed_with(opened.kill()) == EPERM);
    CHECK(opened.enable_controllers().empty());
    CHECK(opened); // still open, and the directory still there
    CHECK(exists(run.path()));
    CHECK(opened.populated() == false);
    CHECK_FALSE(unusable(opened.path())); // a cgroup below the root has cgroup.kill
    // A parent to make cgroups in all the same.
    Cgroup below = Cgroup::make(opened.fd(), opened.path(), "below", &err);
    REQUIRE(below);
    CHECK(below.made_here());
    CHECK(below.remove() == 0);

    CHECK_FALSE(Cgroup::open_existing("relative", &err));
    CHECK(err == EINVAL);
    CHECK_FALSE(Cgroup::open_existing(run.path() + "/nonexistent", &err));
    CHECK(err == ENOENT);
    CHECK(run.remove() == 0);
}
