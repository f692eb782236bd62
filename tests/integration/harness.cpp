// SPDX-License-Identifier: MIT
#include "harness.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <poll.h>
#include <sstream>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace forkspawn::test {

std::string binary() {
    return FORKSPAWN_BINARY;
}
std::string backend() {
    const char* b = std::getenv("FORKSPAWN_TEST_BACKEND");
    return b && *b ? b : "subint_forkserver";
}
std::string spec_path(const std::string& name) {
    return std::string(FORKSPAWN_SPECS_DIR) + "/" + name;
}
std::string examples_path(const std::string& name) {
    return std::string(FORKSPAWN_EXAMPLES_DIR) + "/" + name;
}

namespace {

std::string new_tag() {
    static std::atomic<int> counter{0};
    return "fst-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + "-" +
           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

void set_nonblocking(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

} // namespace

Process::Process(const RunOptions& options) : m_tag(new_tag()), m_stdin_data(options.stdin_data) {
    m_deadline = std::chrono::steady_clock::now() + options.deadline;
    int in[2], out[2], err[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    if (options.stdout_pipe_size > 0)
        REQUIRE(::fcntl(out[0], F_SETPIPE_SZ, options.stdout_pipe_size) >= 0);
    const auto rlimits = options.rlimits;
    const std::optional<uid_t> uid = options.uid;
    const auto files = options.files;
    const std::string stdout_path = options.stdout_path;
    std::string terminal_path;
    if (options.terminal) {
        REQUIRE(options.stdin_data.empty());
        m_terminal = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        REQUIRE(m_terminal >= 0);
        REQUIRE(::grantpt(m_terminal) == 0);
        REQUIRE(::unlockpt(m_terminal) == 0);
        char name[128];
        REQUIRE(::ptsname_r(m_terminal, name, sizeof name) == 0);
        terminal_path = name;
    }

    std::vector<std::string> args{binary()};
    args.insert(args.end(), options.args.begin(), options.args.end());
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, "FORKSPAWN_", 10) != 0) env_strings.emplace_back(*e);
    env_strings.push_back("FORKSPAWN_TEST_TAG=" + m_tag);
    // The backend under test (one ctest run of the suite per backend).
    env_strings.push_back("FORKSPAWN_SPAWN_BACKEND=" + backend());
    for (const auto& [k, v] : options.env) {
        const std::string prefix = k + "=";
        std::erase_if(env_strings, [&](const std::string& e) { return e.starts_with(prefix); });
        env_strings.push_back(prefix + v);
    }
    std::vector<char*> envp;
    for (auto& e : env_strings)
        envp.push_back(e.data());
    envp.push_back(nullptr);

    for (const auto& entry : fd_targets(::getpid()))
        if (entry.first > 2 && ::fcntl(entry.first, F_GETFD) == 0)
            m_inherited[entry.first] = file_identity(::getpid(), entry.first);
    // Signals stay blocked across fork() until the child has reset the
    // test's handlers (doctest catches SIGINT, SIGTERM, ...): a signal sent
    // to forkspawn right away must not run a handler of the test in it.
    sigset_t all, old_mask;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, &old_mask);
    m_pid = ::fork();
    if (m_pid == 0) {
        for (int signo = 1; signo < NSIG; ++signo) {
            struct sigaction sa {};
            if (::sigaction(signo, nullptr, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
                (sa.sa_handler == SIG_IGN || sa.sa_handler == SIG_DFL))
                continue;
            sa = {};
            sa.sa_handler = SIG_DFL;
            ::sigaction(signo, &sa, nullptr);
        }
        ::dup2(in[0], 0);
        if (terminal_path.empty()) {
            ::setpgid(0, 0);
        } else {
            // A session of its own, with the terminal as its controlling
            // terminal and its group in the foreground.
            const int tty = ::open(terminal_path.c_str(), O_RDWR | O_NOCTTY);
            if (tty < 0 || ::setsid() < 0 || ::ioctl(tty, TIOCSCTTY, 0) < 0 || ::dup2(tty, 0) < 0 ||
                ::close(tty) < 0)
                ::_exit(126);
        }
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        if (!stdout_path.empty()) {
            const int fd = ::open(stdout_path.c_str(), O_WRONLY); // without O_CLOEXEC
            if (fd < 0 || (fd != 1 && (::dup2(fd, 1) < 0 || ::close(fd) < 0))) ::_exit(126);
        }
        for (const auto& [target, path] : files) {
            const int fd = ::open(path.c_str(), O_RDONLY); // without O_CLOEXEC: it is passed on
            if (fd < 0) ::_exit(126);
            if (fd != target && (::dup2(fd, target) < 0 || ::close(fd) < 0)) ::_exit(126);
        }
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (const auto& [resource, limit] : rlimits)
            if (::setrlimit(resource, &limit) != 0) ::_exit(126);
        if (uid && (::setgroups(0, nullptr) != 0 || ::setgid(*uid) != 0 || ::setuid(*uid) != 0))
            ::_exit(126);
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    REQUIRE(m_pid > 0);
    if (!options.terminal) ::setpgid(m_pid, m_pid); // (a session leader cannot be moved)
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    m_in = in[1];
    m_out = out[0];
    m_err = err[0];
    if (options.stderr_unread) std::swap(m_err, m_err_unread);
    set_nonblocking(m_in);
    set_nonblocking(m_out);
    set_nonblocking(m_err);
    if (m_stdin_data.empty()) {
        ::close(m_in);
        m_in = -1;
    }
}

Process::~Process() {
    if (!m_reaped && m_pid > 0) {
        ::kill(-m_pid, SIGKILL);
        ::kill(m_pid, SIGKILL);
        ::waitpid(m_pid, nullptr, 0);
    }
    for (int fd : {m_in, m_out, m_err, m_err_unread, m_terminal})
        if (fd >= 0) ::close(fd);
}

void Process::terminal_write(const std::string& text) {
    REQUIRE(m_terminal >= 0);
    REQUIRE(::write(m_terminal, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
}

pid_t Process::terminal_foreground() const {
    pid_t fg = -1;
    // TIOCGPGRP on the master side: the foreground group of the slave side.
    if (m_terminal < 0 || ::ioctl(m_terminal, TIOCGPGRP, &fg) < 0) return -1;
    return fg;
}

bool Process::pump(int timeout_ms, bool read_stdout) {
    pollfd fds[3];
    nfds_t n = 0;
    if (m_out >= 0) fds[n++] = {m_out, POLLIN, 0};
    if (m_err >= 0) fds[n++] = {m_err, POLLIN, 0};
    if (m_in >= 0) fds[n++] = {m_in, POLLOUT, 0};
    if (n == 0) return false;
    if (::poll(fds, n, timeout_ms) <= 0) return true;
    for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].revents == 0) continue;
        int& fd = fds[i].fd == m_out ? m_out : fds[i].fd == m_err ? m_err : m_in;
        if (fd == m_out && !read_stdout) continue;
        if (fd == m_in) {
            const ssize_t w = ::write(m_in, m_stdin_data.data() + m_stdin_written,
                                      m_stdin_data.size() - m_stdin_written);
            if (w > 0) m_stdin_written += static_cast<std::size_t>(w);
            if (w < 0 || m_stdin_written == m_stdin_data.size()) {
                ::close(m_in);
                m_in = -1;
            }
            continue;
        }
        std::string& sink = fd == m_out ? m_result.out : m_result.err;
        char buf[65536];
        const ssize_t r = ::read(fd, buf, sizeof buf);
        if (r > 0)
            sink.append(buf, static_cast<std::size_t>(r));
        else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            ::close(fd);
            fd = -1;
        }
    }
    return m_out >= 0 || m_err >= 0;
}

bool Process::read_until(const std::function<bool(const std::string&, const std::string&)>& done,
                         std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (!done(m_result.out, m_result.err)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        if (!pump(static_cast<int>(std::min<long>(left.count(), 100))) &&
            !done(m_result.out, m_result.err))
            return false;
    }
    return true;
}

bool Process::wait_for_stderr(const std::string& needle, std::chrono::milliseconds deadline) {
    return read_until([&](const std::string&,
                          const std::string& err) { return err.find(needle) != std::string::npos; },
                      deadline);
}

bool Process::read_stderr_until(const std::function<bool(const std::string&)>& done,
                                std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        if (done(m_result.err)) return true;
        if (m_out < 0) return false;
        pollfd out{m_out, POLLIN, 0};
        if (::poll(&out, 1, 0) == 1) return false; // data on stdout, or its EOF
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pump(static_cast<int>(std::min<long>(left.count(), 100)), false);
    }
}

bool Process::wait_stdout_pending(std::chrono::milliseconds deadline) {
    read_stderr_until([](const std::string&) { return false; }, deadline);
    int pending = 0;
    return m_out >= 0 && ::ioctl(m_out, FIONREAD, &pending) == 0 && pending > 0;
}

void Process::signal(int signo) {
    ::kill(m_pid, signo);
}

RunResult Process::wait() {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            m_deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            m_result.timed_out = true;
            ::kill(-m_pid, SIGKILL);
            ::kill(m_pid, SIGKILL);
            break;
        }
        if (!pump(static_cast<int>(std::min<long>(left.count(), 200)))) break;
    }
    int status = 0;
    rusage usage{};
    if (m_result.timed_out) {
        ::wait4(m_pid, &status, 0, &usage);
    } else {
        // Output is at EOF; the exit follows within the deadline.
        for (;;) {
            const pid_t r = ::wait4(m_pid, &status, WNOHANG, &usage);
            if (r == m_pid) break;
            if (std::chrono::steady_clock::now() > m_deadline) {
                m_result.timed_out = true;
                ::kill(m_pid, SIGKILL);
                ::wait4(m_pid, &status, 0, &usage);
                break;
            }
            std::this_thread::sleep_for(
                std::chrono::milliseconds(2)); // polling an exit, not syncing
        }
    }
    m_reaped = true;
    m_result.max_rss_kib = usage.ru_maxrss;
    if (WIFEXITED(status)) m_result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) m_result.term_signal = WTERMSIG(status);
    m_result.tag = m_tag;
    return m_result;
}

RunResult run(const RunOptions& options) {
    Process p(options);
    return p.wait();
}

namespace {

std::vector<std::string> environ_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::vector<std::string> vars;
    for (std::string var; std::getline(file, var, '\0');)
        vars.push_back(var);
    return vars;
}

} // namespace

std::vector<std::string> process_environ(pid_t pid) {
    const std::string dir = "/proc/" + std::to_string(pid);
    auto vars = environ_file(dir + "/environ");
    if (!vars.empty()) return vars;
    // A process whose main thread exited while others run: its leader's
    // file is empty, a living thread's shows the environment they share.
    DIR* tasks = ::opendir((dir + "/task").c_str());
    if (!tasks) return vars;
    while (dirent* t = ::readdir(tasks)) {
        if (t->d_name[0] == '.') continue;
        vars = environ_file(dir + "/task/" + t->d_name + "/environ");
        if (!vars.empty()) break;
    }
    ::closedir(tasks);
    return vars;
}

std::vector<pid_t> tagged_processes(const std::string& tag) {
    std::vector<pid_t> found;
    const std::string needle = "FORKSPAWN_TEST_TAG=" + tag;
    DIR* proc = ::opendir("/proc");
    if (!proc) return found;
    while (dirent* entry = ::readdir(proc)) {
        const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
        if (pid <= 0 || pid == ::getpid()) continue;
        const auto vars = process_environ(pid);
        if (std::find(vars.begin(), vars.end(), needle) != vars.end()) found.push_back(pid);
    }
    ::closedir(proc);
    return found;
}

namespace {

// Children of the test process, with their state letter from /proc/PID/stat.
std::vector<std::pair<pid_t, char>> children_with_state() {
    std::vector<std::pair<pid_t, char>> found;
    DIR* proc = ::opendir("/proc");
    if (!proc) return found;
    while (dirent* entry = ::readdir(proc)) {
        const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
        if (pid <= 0) continue;
        std::ifstream stat_file("/proc/" + std::string(entry->d_name) + "/stat");
        std::string stat;
        std::getline(stat_file, stat);
        const std::size_t paren = stat.rfind(')');
        if (paren == std::string::npos) continue;
        std::istringstream fields(stat.substr(paren + 2));
        char state = 0;
        pid_t ppid = 0;
        fields >> state >> ppid;
        if (ppid == ::getpid()) found.emplace_back(pid, state);
    }
    ::closedir(proc);
    return found;
}

} // namespace

std::vector<pid_t> zombie_children() {
    std::vector<pid_t> found;
    for (const auto& [pid, state] : children_with_state())
        if (state == 'Z') found.push_back(pid);
    return found;
}

std::vector<pid_t> child_processes() {
    std::vector<pid_t> found;
    for (const auto& [pid, state] : children_with_state())
        found.push_back(pid);
    return found;
}

void check_nothing_left(const std::string& tag) {
    // Processes already killed may take a moment to disappear from /proc.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::vector<pid_t> left = tagged_processes(tag);
    while (!left.empty() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling with a deadline
        left = tagged_processes(tag);
    }
    INFO("survivors tagged ", tag, ": ", left.size());
    CHECK(left.empty());
    for (pid_t pid : left)
        ::kill(pid, SIGKILL);
    // Orphans that escaped forkspawn reparent to this subreaper: none may exist.
    const auto zombies = zombie_children();
    std::string zombie_names;
    for (pid_t pid : zombies) {
        std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
        std::string name;
        std::getline(comm, name);
        zombie_names += " " + std::to_string(pid) + " (" + name + ")";
    }
    INFO("zombie children of the test: ", zombies.size(), zombie_names);
    CHECK(zombies.empty());
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

std::vector<int> open_fds() {
    std::vector<int> fds;
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) return fds;
    const int self = ::dirfd(dir);
    while (dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.') continue;
        const int fd = std::atoi(entry->d_name);
        if (fd != self) fds.push_back(fd);
    }
    ::closedir(dir);
    std::sort(fds.begin(), fds.end());
    return fds;
}

std::map<int, std::string> fd_targets(pid_t pid) {
    std::map<int, std::string> out;
    const std::string dir_path = "/proc/" + std::to_string(pid) + "/fd";
    DIR* dir = ::opendir(dir_path.c_str());
    if (!dir) return out;
    while (dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.') continue;
        char target[4096];
        const std::string link = dir_path + "/" + entry->d_name;
        const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
        if (n < 0) continue; // closed meanwhile
        out[std::atoi(entry->d_name)] = std::string(target, static_cast<std::size_t>(n));
    }
    ::closedir(dir);
    return out;
}

std::string file_identity(pid_t pid, int fd) {
    struct stat st {};
    const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
    if (::stat(path.c_str(), &st) != 0) return "?";
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

std::string fds_beyond_stdio(pid_t pid, const std::map<int, std::string>& inherited) {
    const auto fds = fd_targets(pid);
    const auto target = [&](int fd) {
        const auto it = fds.find(fd);
        return it == fds.end() ? std::string("(closed)") : it->second;
    };
    std::string beyond;
    for (const auto& [fd, what] : fds)
        if (fd > 2 && what != target(1) && what != target(2) &&
            !(inherited.count(fd) && inherited.at(fd) == file_identity(pid, fd)))
            beyond += " " + std::to_string(fd) + " -> " + what + ";";
    return beyond;
}

bool wait_tagged_gone(const std::string& tag, std::chrono::milliseconds deadline,
                      const std::function<bool(pid_t)>& keep) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    auto unkept = [&] {
        auto left = tagged_processes(tag);
        if (keep) std::erase_if(left, [&](pid_t pid) { return keep(pid); });
        return left;
    };
    bool gone = unkept().empty();
    while (!gone && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling with a deadline
        gone = unkept().empty();
    }
    for (pid_t pid : tagged_processes(tag))
        ::kill(pid, SIGKILL);
    const auto reap_until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    // Reap nothing until every tagged process is gone (a reaped leader frees
    // its pid, the id of a group something may still be about to kill);
    // a process in the middle of exiting is neither tagged nor a zombie yet.
    while (!tagged_processes(tag).empty() && std::chrono::steady_clock::now() < reap_until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling with a deadline
    for (;;) {
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        if (child_processes().empty() || std::chrono::steady_clock::now() > reap_until) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling with a deadline
    }
    return gone;
}

nlohmann::json parse_report(const std::string& text) {
    INFO("report: ", text);
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    REQUIRE(j.is_object());
    REQUIRE(j["actors"].is_array());
    return j;
}

nlohmann::json entry(const nlohmann::json& report, const std::string& path) {
    for (const auto& a : report.at("actors"))
        if (a.at("path") == path) return a;
    INFO("no actor ", path, " in ", report.dump());
    FAIL("actor missing from the report");
    return {};
}

std::map<std::string, nlohmann::json> by_path(const nlohmann::json& report) {
    std::map<std::string, nlohmann::json> out;
    for (const auto& a : report.at("actors")) {
        const std::string path = a.at("path");
        INFO(path);
        CHECK(out.count(path) == 0); // listed once
        out[path] = a;
    }
    return out;
}

TempDir::TempDir(const std::string& purpose) {
    std::string templ =
        (std::filesystem::temp_directory_path() / ("forkspawn-" + purpose + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    m_path = templ;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

std::string TempDir::fifo(const std::string& name) const {
    const std::string p = *this / name;
    REQUIRE(::mkfifo(p.c_str(), 0600) == 0);
    return p;
}

std::string slurp_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace forkspawn::test
