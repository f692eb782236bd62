// SPDX-License-Identifier: MIT
// The control socket's server side: the listening socket at its path, and
// its clients served from the supervisor's event loop without ever
// blocking it (control.hpp).
#include "forkspawn/control.hpp"

#include "forkspawn/error.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace forkspawn::control {

namespace {

sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        throw Error(fmt::format("--control: the socket path must be 1 to {} bytes long, not {}",
                                sizeof addr.sun_path - 1, path.size()));
    path.copy(addr.sun_path, path.size());
    return addr;
}

} // namespace

Listener Listener::open(const std::string& path) {
    const sockaddr_un addr = address_of(path);
    const auto fail = [&](std::string_view what, int err) {
        return Error(fmt::format("--control: cannot {} {}: {}", what, path, errno_text(err)));
    };
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw Error(
                fmt::format("--control: {} exists and is not a socket; not replaced", path));
        // A socket file: live if something accepts on it, else stale.
        UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!probe) throw fail("make a socket for", errno);
        if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0)
            throw Error(fmt::format("--control: {} is in use by a running process (another "
                                    "forkspawn?); not replaced",
                                    path));
        if (errno != ECONNREFUSED) throw fail("probe", errno);
        if (::unlink(path.c_str()) < 0 && errno != ENOENT) throw fail("remove the stale", errno);
    } else if (errno != ENOENT) {
        throw fail("stat", errno);
    }
    Listener l;
    l.m_fd = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!l.m_fd) throw fail("make a socket for", errno);
    // The file is made by bind() with the socket inode's mode (Linux): 0600
    // from the start, not after a chmod that a client could race.
    if (::fchmod(l.m_fd.get(), 0600) < 0) throw fail("set the mode of", errno);
    if (::bind(l.m_fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0)
        throw fail("bind", errno);
    l.m_path = path;
    if (::chmod(path.c_str(), 0600) < 0 || ::lstat(path.c_str(), &st) < 0)
        throw fail("set the mode of", errno);
    l.m_ino = st.st_ino;
    if (::listen(l.m_fd.get(), 128) < 0) throw fail("listen on", errno);
    return l;
}

Listener::~Listener() {
    if (m_path.empty()) return;
    struct stat st {};
    // Only our own socket: a path taken over since (a new run replacing a
    // socket it found stale) is left alone.
    if (::lstat(m_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == m_ino)
        ::unlink(m_path.c_str());
}

Server::Server(int listen_fd, EventLoop& loop, std::uint64_t (*tag)(std::size_t))
    : m_listen(listen_fd), m_loop(loop), m_tag(tag), m_slots(k_max_clients) {
    m_loop.watch(m_listen, m_tag(0), EPOLLIN);
}

Server::~Server() {
    for (auto& c : m_slots)
        if (c.fd) m_loop.unwatch(c.fd.get());
    m_loop.unwatch(m_listen);
}

std::size_t Server::clients() const {
    std::size_t n = 0;
    for (const auto& c : m_slots)
        if (c.fd) ++n;
    return n;
}

std::vector<std::pair<Server::ClientId, Request>> Server::on_event(std::size_t k,
                                                                   std::uint32_t events) {
    std::vector<std::pair<ClientId, Request>> out;
    if (k == 0) {
        accept_clients();
        return out;
    }
    const std::size_t slot = k - 1;
    if (slot >= m_slots.size() || !m_slots[slot].fd) return out;
    // Gone both ways (a half-closed client's full close): nothing to read
    // or to send any more.
    if (m_slots[slot].peer_done && (events & (EPOLLHUP | EPOLLERR))) {
        drop(slot);
        return out;
    }
    if (events & EPOLLOUT) flush(slot);
    if (m_slots[slot].fd && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) read_client(slot, out);
    return out;
}

// One short line to a peer that is not served, and the connection closed.
// A peer that does not take even that loses it: nothing waits for it.
void Server::refuse(int fd, std::string_view why) {
    const std::string line = error_reply({}, why);
    [[maybe_unused]] const ssize_t n =
        ::send(fd, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::close(fd);
}

void Server::accept_clients() {
    for (int rounds = 0; rounds < 256; ++rounds) {
        const int fd = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // Out of fds: the listening socket stays readable, so stop
                // watching it until a client goes.
                m_loop.rewatch(m_listen, m_tag(0), 0);
                m_accept_paused = true;
            }
            return;
        }
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
            ::close(fd);
            continue;
        }
        const uid_t own = ::geteuid();
        if (cred.uid != own && cred.uid != 0) {
            refuse(fd, fmt::format("permission denied: uid {} may not control this forkspawn "
                                   "(only uid {} or root may)",
                                   cred.uid, own));
            continue;
        }
        std::size_t slot = 0;
        while (slot < m_slots.size() && m_slots[slot].fd)
            ++slot;
        if (slot == m_slots.size()) {
            refuse(fd, fmt::format("too many clients: at most {} at a time", k_max_clients));
            continue;
        }
        try {
            m_loop.watch(fd, m_tag(slot + 1), EPOLLIN);
        } catch (const std::exception& e) { // the epoll set is full (max_user_watches)
            refuse(fd, fmt::format("cannot serve another client: {}", e.what()));
            continue;
        }
        Client& c = m_slots[slot];
        c = Client{};
        c.fd = UniqueFd(fd);
        c.id = m_next_id++;
    }
}

void Server::read_client(std::size_t slot, std::vector<std::pair<ClientId, Request>>& out) {
    Client& c = m_slots[slot];
    char buf[16384];
    // Bounded per event, so one busy client cannot hold the loop.
    for (int rounds = 0; rounds < 8 && !c.closing; ++rounds) {
        const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0) {
            drop(slot);
            return;
        }
        if (n == 0) {
            // It shut its side: what it asked is still answered (an
            // unfinished last line is dropped), then it is closed.
            c.peer_done = true;
            c.in.clear();
            if (c.unanswered == 0 && !c.subscribed) c.closing = true;
            flush(slot);
            return;
        }
        c.in.append(buf, static_cast<std::size_t>(n));
        std::size_t start = 0;
        bool too_long = false;
        for (std::size_t nl; (nl = c.in.find('\n', start)) != std::string::npos; start = nl + 1) {
            std::string_view line(c.in.data() + start, nl - start);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.size() > k_max_request) {
                too_long = true;
                break;
            }
            if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
            out.emplace_back(c.id, parse_request(line));
            ++c.unanswered;
        }
        if (!too_long) c.in.erase(0, start);
        if (too_long || c.in.size() > k_max_request) {
            // A request too long to be one, whether its end came with it or
            // not (when it did depends on how the bytes arrived): answered
            // (after what came before it), and the connection closed once
            // the answers are out.
            Request r;
            r.error = fmt::format("request too long: more than {} bytes; closing the connection",
                                  k_max_request);
            out.emplace_back(c.id, std::move(r));
            ++c.unanswered;
            c.in.clear();
            c.closing = true;
            ::shutdown(c.fd.get(), SHUT_RD);
            return;
        }
    }
}

Server::Client* Server::by_id(ClientId id) {
    for (auto& c : m_slots)
        if (c.fd && c.id == id) return &c;
    return nullptr;
}

const Server::Client* Server::by_id(ClientId id) const {
    for (const auto& c : m_slots)
        if (c.fd && c.id == id) return &c;
    return nullptr;
}

bool Server::connected(ClientId client) const {
    return by_id(client) != nullptr;
}

void Server::send(ClientId client, std::string line) {
    Client* c = by_id(client);
    if (!c) return;
    if (c->unanswered > 0) --c->unanswered;
    if (c->peer_done && c->unanswered == 0 && !c->subscribed) c->closing = true;
    queue(*c, std::move(line));
}

void Server::queue(Client& client, std::string line) {
    Client* c = &client;
    const auto slot = static_cast<std::size_t>(c - m_slots.data());
    // A client that lets this much wait unread is not reading: dropped. A
    // single reply may be larger (the status of a wide tree): it is the
    // backlog before it that counts.
    if (c->out_bytes > k_max_queued) {
        drop(slot);
        return;
    }
    c->out_bytes += line.size();
    c->out.push_back(std::move(line));
    flush(slot);
}

void Server::subscribe(ClientId client) {
    Client* c = by_id(client);
    if (!c || c->subscribed) return;
    c->subscribed = true;
    ++m_subscribers;
}

void Server::publish(const std::string& event_line) {
    if (m_subscribers == 0) return;
    for (auto& c : m_slots)
        if (c.fd && c.subscribed) queue(c, event_line);
}

void Server::flush(std::size_t slot) {
    Client& c = m_slots[slot];
    while (!c.out.empty()) {
        const std::string& front = c.out.front();
        const ssize_t n = ::send(c.fd.get(), front.data() + c.out_offset,
                                 front.size() - c.out_offset, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n < 0) { // EPIPE, ECONNRESET: gone
            drop(slot);
            return;
        }
        c.out_offset += static_cast<std::size_t>(n);
        c.out_bytes -= static_cast<std::size_t>(n);
        if (c.out_offset == front.size()) {
            c.out.pop_front();
            c.out_offset = 0;
        }
    }
    if (c.closing && c.out.empty()) {
        drop(slot);
        return;
    }
    // A closing client is not read any more (its read side is shut down,
    // which would keep EPOLLIN ready).
    const std::uint32_t in = c.closing || c.peer_done ? 0u : std::uint32_t{EPOLLIN};
    m_loop.rewatch(c.fd.get(), m_tag(slot + 1), c.out.empty() ? in : in | EPOLLOUT);
}

void Server::drop(std::size_t slot) {
    Client& c = m_slots[slot];
    if (!c.fd) return;
    m_loop.unwatch(c.fd.get());
    if (c.subscribed) --m_subscribers;
    c = Client{};
    if (m_accept_paused) {
        m_accept_paused = false;
        m_loop.rewatch(m_listen, m_tag(0), EPOLLIN);
    }
}

void Server::finish(const std::string& last, std::chrono::milliseconds limit) {
    publish(last);
    m_loop.rewatch(m_listen, m_tag(0), 0);
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
        std::vector<pollfd> fds;
        for (std::size_t k = 0; k < m_slots.size(); ++k) {
            if (!m_slots[k].fd) continue;
            if (m_slots[k].out.empty()) {
                drop(k);
                continue;
            }
            fds.push_back({m_slots[k].fd.get(), POLLOUT, 0});
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        if (fds.empty() || left.count() <= 0) break;
        ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
        for (std::size_t k = 0; k < m_slots.size(); ++k)
            if (m_slots[k].fd) flush(k);
    }
    for (std::size_t k = 0; k < m_slots.size(); ++k)
        drop(k);
}

} // namespace forkspawn::control
