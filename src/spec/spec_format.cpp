// SPDX-License-Identifier: MIT
#include "forkspawn/spec.hpp"

#include "forkspawn/signals.hpp"

#include <csignal>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace forkspawn::spec {

namespace {

std::string backoff_text(const Backoff& b) {
    return b.initial == b.max
               ? format_duration(b.initial)
               : fmt::format("{}..{}", format_duration(b.initial), format_duration(b.max));
}

std::string tcp_address(const Ready& r) {
    return r.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", r.host, r.port)
                                                 : fmt::format("{}:{}", r.host, r.port);
}

// "notify", "fd 3", "output \"listening\"", "exec [\"pg_isready\"] every 1s",
// "tcp 127.0.0.1:8000 every 200ms", each with its timeout.
std::string ready_text(const Ready& r) {
    std::string text(ready_source_name(r.source));
    switch (r.source) {
    case Ready::Source::none:
    case Ready::Source::notify:
        break;
    case Ready::Source::fd:
        text += fmt::format(" {}", r.fd);
        break;
    case Ready::Source::output:
        text += " " + nlohmann::json(r.pattern).dump();
        break;
    case Ready::Source::exec:
        text +=
            fmt::format(" {} every {}", nlohmann::json(r.argv).dump(), format_duration(r.interval));
        break;
    case Ready::Source::tcp:
        text += fmt::format(" {} every {}", tcp_address(r), format_duration(r.interval));
        break;
    }
    return text + fmt::format(" within {}", format_duration(r.timeout));
}

// "user=www-data group=33 umask=0027 nice=5 rlimits=nofile:1024,core:0"
std::string execution_text(const Execution& e) {
    std::string text;
    if (e.user) text += "  user=" + e.user->to_string();
    if (e.group) text += "  group=" + e.group->to_string();
    if (e.umask) text += "  umask=" + format_umask(*e.umask);
    if (e.nice) text += fmt::format("  nice={}", *e.nice);
    for (std::size_t k = 0; k < e.rlimits.size(); ++k) {
        const Rlimit& r = e.rlimits[k];
        const RlimitName& n = *find_rlimit(r.resource);
        text += fmt::format("{}{}:{}", k == 0 ? "  rlimits=" : ",", n.name,
                            format_rlimit_value(n, r.soft));
        if (r.hard != r.soft) text += "/" + format_rlimit_value(n, r.hard);
    }
    return text;
}

void format_actor(const Actor& a, std::size_t depth, std::string& out, bool env_values) {
    std::string line = fmt::format("{:{}}{}", "", depth * 2, a.path);
    if (a.kind == Kind::command) {
        // JSON array syntax shows every argument unambiguously, spaces included.
        line += fmt::format("  cmd {}", nlohmann::json(a.argv).dump());
    } else {
        line += fmt::format("  nursery ({} actor{}, {})", a.actors.size(),
                            a.actors.size() == 1 ? "" : "s", strategy_name(a.strategy));
        if (a.intensity != Intensity{}) line += "  intensity=" + a.intensity.to_string();
        if (a.max_running) line += fmt::format("  max_running={}", *a.max_running);
    }
    if (a.daemon) line += "  daemon";
    line += fmt::format("  stop={}", a.stop.to_string());
    if (a.timeout) line += fmt::format("  timeout={}", format_duration(*a.timeout));
    line += fmt::format("  output={}", a.output.to_string());
    if (a.restart != RestartPolicy::never)
        line += fmt::format("  restart={}  backoff={}", restart_policy_name(a.restart),
                            backoff_text(a.backoff));
    if (a.success_exit_codes != std::vector<int>{0})
        line += fmt::format("  success_exit_codes={}", nlohmann::json(a.success_exit_codes).dump());
    for (std::size_t k = 0; k < a.after.size(); ++k)
        line += fmt::format("{}{}:{}", k == 0 ? "  after=" : ",", a.after[k].sibling,
                            after_condition_name(a.after[k].condition));
    if (a.ready.source != Ready::Source::none) line += "  ready=" + ready_text(a.ready);
    if (a.watchdog) line += "  watchdog=" + format_duration(*a.watchdog);
    if (a.kill != KillMode::group) line += fmt::format("  kill={}", kill_mode_name(a.kill));
    if (a.kind == Kind::command) {
        line += execution_text(a.execution);
        if (a.cwd) line += fmt::format("  cwd={}", nlohmann::json(*a.cwd).dump());
        if (a.stdin_mode == StdinMode::inherit) line += "  stdin=inherit";
        if (a.env_clear) line += "  env_clear";
        for (const auto& [key, value] : a.env)
            line += env_values ? fmt::format("  env:{}={}", key, nlohmann::json(value).dump())
                               : fmt::format("  env:{}=<{} byte{}>", key, value.size(),
                                             value.size() == 1 ? "" : "s");
    }
    out += line;
    out += '\n';
    for (const auto& child : a.actors)
        format_actor(child, depth + 1, out, env_values);
}

} // namespace

namespace {

nlohmann::json stop_json(const StopSequence& seq) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& step : seq.steps) {
        out.push_back(signal_name(step.signo));
        if (step.signo != SIGKILL) out.push_back(format_duration(step.wait));
    }
    return out;
}

nlohmann::json output_json(const Output& o) {
    switch (o.mode) {
    case Output::Mode::prefix:
        return "prefix";
    case Output::Mode::inherit:
        return "inherit";
    case Output::Mode::null:
        return "null";
    case Output::Mode::file:
        return {{"file", o.path}};
    }
    return "prefix";
}

nlohmann::json actor_json(const Actor& a, bool root) {
    nlohmann::json j;
    j["name"] = a.name;
    j["stop"] = stop_json(a.stop);
    j["output"] = output_json(a.output);
    j["backoff"] = {{"initial", format_duration(a.backoff.initial)},
                    {"max", format_duration(a.backoff.max)}};
    j["kill"] = kill_mode_name(a.kill);
    if (!root) {
        if (!a.after.empty()) {
            nlohmann::json after = nlohmann::json::object();
            for (const auto& d : a.after)
                after[d.sibling] = after_condition_name(d.condition);
            j["after"] = after;
        }
        if (a.ready.source != Ready::Source::none) {
            const Ready& r = a.ready;
            nlohmann::json ready = {{"timeout", format_duration(r.timeout)}};
            switch (r.source) {
            case Ready::Source::none:
                break;
            case Ready::Source::notify:
                ready["notify"] = true;
                break;
            case Ready::Source::fd:
                ready["fd"] = r.fd;
                break;
            case Ready::Source::output:
                ready["output"] = r.pattern;
                break;
            case Ready::Source::exec:
                ready["exec"] = r.argv;
                break;
            case Ready::Source::tcp:
                ready["tcp"] = tcp_address(r);
                break;
            }
            if (r.source == Ready::Source::exec || r.source == Ready::Source::tcp)
                ready["interval"] = format_duration(r.interval);
            j["ready"] = ready;
        }
        if (a.daemon) j["daemon"] = true;
        if (a.timeout) j["timeout"] = format_duration(*a.timeout);
        j["restart"] = restart_policy_name(a.restart);
    }
    if (a.kind == Kind::command) {
        j["cmd"] = a.argv;
        if (!a.env.empty()) {
            nlohmann::json env = nlohmann::json::object();
            for (const auto& [k, v] : a.env)
                env[k] = v;
            j["env"] = env;
        }
        if (a.env_clear) j["env_clear"] = true;
        if (a.cwd) j["cwd"] = *a.cwd;
        if (a.stdin_mode == StdinMode::inherit) j["stdin"] = "inherit";
        j["success_exit_codes"] = a.success_exit_codes;
        if (a.watchdog) j["watchdog"] = format_duration(*a.watchdog);
        const Execution& e = a.execution;
        const auto principal = [](const Principal& p) {
            return p.id ? nlohmann::json(*p.id) : nlohmann::json(p.name);
        };
        if (e.user) j["user"] = principal(*e.user);
        if (e.group) j["group"] = principal(*e.group);
        if (e.umask) j["umask"] = format_umask(*e.umask);
        if (e.nice) j["nice"] = *e.nice;
        if (!e.rlimits.empty()) {
            nlohmann::json limits = nlohmann::json::object();
            for (const Rlimit& r : e.rlimits) {
                const RlimitName& n = *find_rlimit(r.resource);
                limits[n.name] = {format_rlimit_value(n, r.soft), format_rlimit_value(n, r.hard)};
            }
            j["rlimits"] = limits;
        }
    } else {
        j["strategy"] = strategy_name(a.strategy);
        j["intensity"] = a.intensity.to_string();
        if (a.max_running) j["max_running"] = *a.max_running;
        j["actors"] = nlohmann::json::array();
        for (const auto& c : a.actors)
            j["actors"].push_back(actor_json(c, false));
    }
    return j;
}

} // namespace

std::string subtree_json(const Actor& nursery) {
    return actor_json(nursery, true).dump();
}

void set_paths(Actor& a, const std::string& path) {
    a.path = path;
    for (auto& c : a.actors)
        set_paths(c, path + "/" + c.name);
}

std::string format_tree(const Spec& spec, bool env_values) {
    std::string out;
    format_actor(spec.root, 0, out, env_values);
    return out;
}

} // namespace forkspawn::spec
