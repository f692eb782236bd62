#include "forkspawn/spec.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace forkspawn::spec {

namespace {

void format_actor(const Actor& a, std::size_t depth, std::string& out) {
    std::string line = fmt::format("{:{}}{}", "", depth * 2, a.path);
    if (a.kind == Kind::command) {
        // JSON array syntax shows every argument unambiguously, spaces included.
        line += fmt::format("  cmd {}", nlohmann::json(a.argv).dump());
    } else {
        line += fmt::format("  nursery ({} actor{}, one_for_all)", a.actors.size(),
                            a.actors.size() == 1 ? "" : "s");
    }
    if (a.daemon) line += "  daemon";
    line += fmt::format("  stop={}", a.stop.to_string());
    if (a.timeout) line += fmt::format("  timeout={}", format_duration(*a.timeout));
    line += fmt::format("  output={}", a.output.to_string());
    if (a.kind == Kind::command) {
        if (a.cwd) line += fmt::format("  cwd={}", nlohmann::json(*a.cwd).dump());
        if (a.stdin_mode == StdinMode::inherit) line += "  stdin=inherit";
        if (a.env_clear) line += "  env_clear";
        for (const auto& [key, value] : a.env)
            line += fmt::format("  env:{}={}", key, nlohmann::json(value).dump());
    }
    out += line;
    out += '\n';
    for (const auto& child : a.actors)
        format_actor(child, depth + 1, out);
}

} // namespace

std::string format_tree(const Spec& spec) {
    std::string out;
    format_actor(spec.root, 0, out);
    return out;
}

} // namespace forkspawn::spec
