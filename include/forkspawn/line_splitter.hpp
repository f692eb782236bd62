// Splits a byte stream (an actor's output) into lines, holding at most one
// unfinished line, and never more than `limit` bytes of it: a longer line
// comes out in pieces of exactly `limit` bytes, the rest when it ends. A
// line's '\n' is not part of it. Pure: bytes in, lines out to a callback.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

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

} // namespace forkspawn
