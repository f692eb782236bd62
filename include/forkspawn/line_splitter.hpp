// SPDX-License-Identifier: MIT
// LineSplitter splits a byte stream (an actor's output) into lines, holding at most one
// unfinished line, and never more than `limit` bytes of it: a longer line
// comes out in pieces of exactly `limit` bytes, the rest when it ends. A
// line's '\n' is not part of it. Pure: bytes in, lines out to a callback.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace forkspawn {

class LineSplitter {
  public:
    explicit LineSplitter(std::size_t limit) : m_limit(limit) {}

    // Takes `chunk`; calls emit(std::string_view) for each line it ends and
    // each full piece of a line too long to hold.
    template <typename Emit> void feed(std::string_view chunk, Emit&& emit) {
        while (!chunk.empty()) {
            const std::size_t nl = chunk.find('\n');
            if (nl == std::string_view::npos) {
                m_partial.append(chunk);
                // A line without end is given in pieces of exactly the limit.
                std::size_t done = 0;
                while (m_partial.size() - done >= m_limit) {
                    emit(std::string_view(m_partial).substr(done, m_limit));
                    done += m_limit;
                }
                m_partial.erase(0, done);
                return;
            }
            m_partial.append(chunk.substr(0, nl));
            std::size_t done = 0;
            while (m_partial.size() - done > m_limit) {
                emit(std::string_view(m_partial).substr(done, m_limit));
                done += m_limit;
            }
            emit(std::string_view(m_partial).substr(done));
            m_partial.clear();
            chunk.remove_prefix(nl + 1);
        }
    }

    // The stream ended (or the held bytes must go): the unfinished line, if any.
    template <typename Emit> void flush(Emit&& emit) {
        if (!m_partial.empty()) emit(std::string_view(m_partial));
        m_partial.clear();
    }

    std::size_t held() const { return m_partial.size(); }
    void drop() { m_partial.clear(); }

  private:
    std::size_t m_limit;
    std::string m_partial;
};

// The last bytes of a stream, as whole lines: at most `max_bytes` kept (the
// oldest dropped first), and the last `max_lines` lines given back. A line
// cut by the byte limit at the front is left out. Pure: bytes in, lines out.
class OutputTail {
  public:
    OutputTail(std::size_t max_lines, std::size_t max_bytes)
        : m_max_lines(max_lines), m_max_bytes(max_bytes) {}

    void feed(std::string_view chunk) {
        if (chunk.size() >= m_max_bytes) {
            m_bytes.assign(chunk.substr(chunk.size() - m_max_bytes));
            m_cut = true;
            return;
        }
        const std::size_t room = m_max_bytes - chunk.size();
        if (m_bytes.size() > room) {
            m_bytes.erase(0, m_bytes.size() - room);
            m_cut = true;
        }
        m_bytes.append(chunk);
    }

    bool empty() const { return m_bytes.empty(); }

    // Oldest first; a final line without its newline counts; '\r' before a
    // newline is dropped.
    std::vector<std::string> lines() const {
        std::string_view rest = m_bytes;
        if (m_cut) {
            const std::size_t nl = rest.find('\n');
            rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        }
        if (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
        std::vector<std::string> out;
        while (!rest.empty() && out.size() < m_max_lines) {
            const std::size_t nl = rest.rfind('\n');
            std::string_view line = nl == std::string_view::npos ? rest : rest.substr(nl + 1);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            out.emplace_back(line);
            rest.remove_suffix(nl == std::string_view::npos ? rest.size() : rest.size() - nl);
        }
        return {out.rbegin(), out.rend()};
    }

  private:
    std::size_t m_max_lines;
    std::size_t m_max_bytes;
    std::string m_bytes;
    bool m_cut = false; // bytes were dropped from the front
};

} // namespace forkspawn
