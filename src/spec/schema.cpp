// SPDX-License-Identifier: MIT
// The spec's JSON Schema, kept as text so that `forkspawn schema` prints it
// as written here, key order and layout included. The unit test
// (tests/unit/schema_test.cpp) parses it and checks that its keys are the
// validator's (k_all_fields, k_command_only, k_nursery_only, rlimit names);
// tests/schema/validate.py checks it against `forkspawn check` on every
// example and on specs that must be rejected.
#include "forkspawn/schema.hpp"

namespace forkspawn::spec {

namespace {

constexpr std::string_view k_schema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "forkspawn spec",
  "description": "A tree of actors for forkspawn(1): the top level is the root nursery. Any key not listed is an error.",
  "type": "object",
  "properties": {
    "name": {"$ref": "#/$defs/name", "description": "The root's name, the first part of every actor's path (default: root)."},
    "actors": {"$ref": "#/$defs/actors"},
    "stop": {"$ref": "#/$defs/stop"},
    "timeout": {"$ref": "#/$defs/timeout"},
    "output": {"$ref": "#/$defs/output"},
    "restart": {"$ref": "#/$defs/restart"},
    "backoff": {"$ref": "#/$defs/backoff"},
    "kill": {"$ref": "#/$defs/kill"},
    "strategy": {"$ref": "#/$defs/strategy"},
    "intensity": {"$ref": "#/$defs/intensity"},
    "max_running": {"$ref": "#/$defs/max_running"}
  },
  "required": ["actors"],
  "additionalProperties": false,
  "$defs": {
    "actor": {
      "title": "actor",
      "description": "A command (with \"cmd\") or a nursery (with \"actors\"), never both.",
      "oneOf": [{"$ref": "#/$defs/command"}, {"$ref": "#/$defs/nursery"}]
    },
    "command": {
      "title": "command actor",
      "description": "An actor that runs one program.",
      "type": "object",
      "properties": {
        "name": {"$ref": "#/$defs/name"},
        "cmd": {"$ref": "#/$defs/argv", "title": "cmd", "description": "The program and its arguments; an argv[0] without a slash is looked up in the actor's PATH."},
        "daemon": {"$ref": "#/$defs/daemon"},
        "stop": {"$ref": "#/$defs/stop"},
        "timeout": {"$ref": "#/$defs/timeout"},
        "output": {"$ref": "#/$defs/output"},
        "restart": {"$ref": "#/$defs/restart"},
        "backoff": {"$ref": "#/$defs/backoff"},
        "after": {"$ref": "#/$defs/after"},
        "ready": {"$ref": "#/$defs/ready"},
        "kill": {"$ref": "#/$defs/kill"},
        "env": {"$ref": "#/$defs/env"},
        "env_clear": {"$ref": "#/$defs/env_clear"},
        "cwd": {"$ref": "#/$defs/cwd"},
        "stdin": {"$ref": "#/$defs/stdin"},
        "success_exit_codes": {"$ref": "#/$defs/success_exit_codes"},
        "watchdog": {"$ref": "#/$defs/watchdog"},
        "user": {"$ref": "#/$defs/user"},
        "group": {"$ref": "#/$defs/group"},
        "umask": {"$ref": "#/$defs/umask"},
        "nice": {"$ref": "#/$defs/nice"},
        "rlimits": {"$ref": "#/$defs/rlimits"}
      },
      "required": ["name", "cmd"],
      "additionalProperties": false
    },
    "nursery": {
      "title": "nursery actor",
      "description": "An actor that supervises children of its own, as a sub-supervisor.",
      "type": "object",
      "properties": {
        "name": {"$ref": "#/$defs/name"},
        "actors": {"$ref": "#/$defs/actors"},
        "daemon": {"$ref": "#/$defs/daemon"},
        "stop": {"$ref": "#/$defs/stop"},
        "timeout": {"$ref": "#/$defs/timeout"},
        "output": {"$ref": "#/$defs/output"},
        "restart": {"$ref": "#/$defs/restart"},
        "backoff": {"$ref": "#/$defs/backoff"},
        "after": {"$ref": "#/$defs/after"},
        "ready": {"$ref": "#/$defs/ready_probe"},
        "kill": {"$ref": "#/$defs/kill"},
        "strategy": {"$ref": "#/$defs/strategy"},
        "intensity": {"$ref": "#/$defs/intensity"},
        "max_running": {"$ref": "#/$defs/max_running"}
      },
      "required": ["name", "actors"],
      "additionalProperties": false
    },
    "name": {
      "title": "name",
      "description": "Letters, digits, '_', '.' and '-', at most 128 characters, unique among siblings.",
      "type": "string",
      "pattern": "^[A-Za-z0-9_.-]+$",
      "maxLength": 128
    },
    "actors": {
      "title": "actors",
      "description": "The nursery's children, started in this order.",
      "type": "array",
      "items": {"$ref": "#/$defs/actor"}
    },
    "argv": {
      "title": "argv",
      "description": "A program and its arguments: a non-empty array of strings, the first not empty.",
      "type": "array",
      "minItems": 1,
      "prefixItems": [{"type": "string", "minLength": 1}],
      "items": {"type": "string"}
    },
    "duration": {
      "title": "duration",
      "description": "A number and a unit ms, s, m or h, e.g. 250ms, 1.6s, 2m, 1h (at most 8760h).",
      "type": "string",
      "pattern": "^([0-9]+(\\.[0-9]+)?|\\.[0-9]+)(ms|s|m|h)$"
    },
    "daemon": {
      "title": "daemon",
      "description": "Runs until cancelled: the nursery does not wait for it, and cancels it once the other work is done.",
      "type": "boolean"
    },
    "stop_step": {
      "title": "stop step",
      "description": "A signal (TERM, SIGTERM, sigint, SIGRTMIN+3, 15) or a wait (1.6s).",
      "type": "string",
      "pattern": "^([A-Za-z][A-Za-z0-9]*([+-][0-9]+)?|[0-9]+|([0-9]+(\\.[0-9]+)?|\\.[0-9]+)(ms|s|m|h))$"
    },
    "stop": {
      "title": "stop",
      "description": "The stop sequence: signals and waits in turn, an array such as [\"SIGTERM\", \"1.6s\", \"SIGKILL\"] or a string as --stop takes it (\"SIGTERM,1.6s,SIGKILL\", or a lone signal: \"TERM\"); SIGKILL follows a final wait. Inherited (default SIGTERM, 1.6s, SIGKILL).",
      "oneOf": [
        {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/stop_step"}},
        {"type": "string", "pattern": "^ *([A-Za-z][A-Za-z0-9]*([+-][0-9]+)?|[0-9]+|([0-9]+(\\.[0-9]+)?|\\.[0-9]+)(ms|s|m|h))( *, *([A-Za-z][A-Za-z0-9]*([+-][0-9]+)?|[0-9]+|([0-9]+(\\.[0-9]+)?|\\.[0-9]+)(ms|s|m|h)))* *$"}
      ]
    },
    "timeout": {
      "$ref": "#/$defs/duration",
      "title": "timeout",
      "description": "Cancel this actor after this long; it counts as its failure."
    },
    "output": {
      "title": "output",
      "description": "Where the actor's stdout and stderr go: prefixed lines on forkspawn's stderr, forkspawn's own, /dev/null, or appended to a file. Inherited (default prefix).",
      "oneOf": [
        {"type": "string", "enum": ["prefix", "inherit", "null"]},
        {
          "type": "object",
          "properties": {
            "file": {"type": "string", "minLength": 1, "title": "file", "description": "A path, appended to; relative to the spec's directory."}
          },
          "required": ["file"],
          "additionalProperties": false
        }
      ]
    },
    "strategy": {
      "title": "strategy",
      "description": "What a child's failure does to its siblings (Erlang/OTP's strategies); default one_for_all.",
      "type": "string",
      "enum": ["one_for_all", "one_for_one", "rest_for_one"]
    },
    "intensity": {
      "title": "intensity",
      "description": "\"N/DUR\": more than N restarts within DUR and the nursery gives up; or \"unlimited\". Default 5/10s.",
      "type": "string",
      "pattern": "^(unlimited|[0-9]+/([0-9]+(\\.[0-9]+)?|\\.[0-9]+)(ms|s|m|h))$"
    },
    "max_running": {
      "title": "max_running",
      "description": "At most this many children running at once; the rest wait in spec order.",
      "type": "integer",
      "minimum": 1,
      "maximum": 1000000
    },
    "restart": {
      "title": "restart",
      "description": "When the actor runs again after it ends; default never.",
      "type": "string",
      "enum": ["never", "on_failure", "always"]
    },
    "backoff": {
      "title": "backoff",
      "description": "The delay before a restart: one duration (fixed), or doubling from initial up to max. Inherited (default 100ms to 10s).",
      "oneOf": [
        {"$ref": "#/$defs/duration"},
        {
          "type": "object",
          "properties": {
            "initial": {"$ref": "#/$defs/duration", "title": "initial", "description": "The first delay (default 100ms)."},
            "max": {"$ref": "#/$defs/duration", "title": "max", "description": "The longest delay (default 10s)."}
          },
          "additionalProperties": false
        }
      ]
    },
    "after": {
      "title": "after",
      "description": "Siblings this actor waits for: {\"sibling\": condition}, or an array of siblings' names (each: ready).",
      "oneOf": [
        {
          "type": "object",
          "additionalProperties": {
            "type": "string",
            "enum": ["started", "ready", "completed", "ended"]
          }
        },
        {"type": "array", "items": {"type": "string"}}
      ]
    },
    "ready_timeout": {
      "$ref": "#/$defs/duration",
      "title": "timeout",
      "description": "Not ready within this long is a failure, not_ready (default 90s)."
    },
    "ready_interval": {
      "$ref": "#/$defs/duration",
      "title": "interval",
      "description": "How often the probe runs until it succeeds."
    },
    "ready_exec": {
      "title": "exec readiness",
      "description": "Ready once this command exits 0; it runs every interval.",
      "type": "object",
      "properties": {
        "exec": {"$ref": "#/$defs/argv"},
        "interval": {"$ref": "#/$defs/ready_interval"},
        "timeout": {"$ref": "#/$defs/ready_timeout"}
      },
      "required": ["exec"],
      "additionalProperties": false
    },
    "ready_tcp": {
      "title": "tcp readiness",
      "description": "Ready once a TCP connection to HOST:PORT succeeds (a numeric address, [an IPv6 address] or localhost).",
      "type": "object",
      "properties": {
        "tcp": {"type": "string", "pattern": ":[0-9]+$"},
        "interval": {"$ref": "#/$defs/ready_interval"},
        "timeout": {"$ref": "#/$defs/ready_timeout"}
      },
      "required": ["tcp"],
      "additionalProperties": false
    },
    "ready_probe": {
      "title": "ready",
      "description": "When a nursery counts as ready: an exec or tcp probe (default: as soon as it started).",
      "oneOf": [{"$ref": "#/$defs/ready_exec"}, {"$ref": "#/$defs/ready_tcp"}]
    },
    "ready": {
      "title": "ready",
      "description": "When the actor counts as ready: exactly one source, and optionally a timeout (default: as soon as it started).",
      "oneOf": [
        {
          "title": "notify readiness",
          "description": "sd_notify: READY=1 on NOTIFY_SOCKET.",
          "type": "object",
          "properties": {
            "notify": {"const": true},
            "timeout": {"$ref": "#/$defs/ready_timeout"}
          },
          "required": ["notify"],
          "additionalProperties": false
        },
        {
          "title": "fd readiness",
          "description": "s6's notification fd: the first newline written to this fd (3 to 9).",
          "type": "object",
          "properties": {
            "fd": {"type": "integer", "minimum": 3, "maximum": 9},
            "timeout": {"$ref": "#/$defs/ready_timeout"}
          },
          "required": ["fd"],
          "additionalProperties": false
        },
        {
          "title": "output readiness",
          "description": "A line of the actor's output matching this regular expression (RE2 syntax).",
          "type": "object",
          "properties": {
            "output": {"type": "string", "minLength": 1},
            "timeout": {"$ref": "#/$defs/ready_timeout"}
          },
          "required": ["output"],
          "additionalProperties": false
        },
        {"$ref": "#/$defs/ready_exec"},
        {"$ref": "#/$defs/ready_tcp"}
      ]
    },
    "watchdog": {
      "$ref": "#/$defs/duration",
      "title": "watchdog",
      "description": "With ready.notify: once ready, WATCHDOG=1 at least this often, or the actor fails."
    },
    "kill": {
      "title": "kill",
      "description": "Where the stop sequence's signals go (systemd's KillMode). Inherited (default group).",
      "type": "string",
      "enum": ["group", "main", "mixed"]
    },
    "env": {
      "title": "env",
      "description": "Variables added to the environment (or, with env_clear, the whole of it); ${NAME} in a value expands from forkspawn's environment, $$ is a $.",
      "type": "object",
      "propertyNames": {"minLength": 1, "pattern": "^[^=]*$"},
      "additionalProperties": {"type": "string"}
    },
    "env_clear": {
      "title": "env_clear",
      "description": "Start from an empty environment instead of forkspawn's.",
      "type": "boolean"
    },
    "cwd": {
      "title": "cwd",
      "description": "The working directory; relative to the spec's directory.",
      "type": "string",
      "minLength": 1
    },
    "stdin": {
      "title": "stdin",
      "description": "The actor's standard input: /dev/null, or forkspawn's own (the terminal, lent to one actor at a time). Default null.",
      "type": "string",
      "enum": ["null", "inherit"]
    },
    "success_exit_codes": {
      "title": "success_exit_codes",
      "description": "The exit codes that count as completed (default [0]).",
      "type": "array",
      "minItems": 1,
      "uniqueItems": true,
      "items": {"type": "integer", "minimum": 0, "maximum": 255}
    },
    "principal": {
      "oneOf": [
        {"type": "string", "minLength": 1, "pattern": "^[^-]"},
        {"type": "integer", "minimum": 0, "maximum": 4294967294}
      ]
    },
    "user": {
      "$ref": "#/$defs/principal",
      "title": "user",
      "description": "Run as this user, a name or a number (also its groups, HOME, USER, LOGNAME, SHELL)."
    },
    "group": {
      "$ref": "#/$defs/principal",
      "title": "group",
      "description": "Run with this group, a name or a number."
    },
    "umask": {
      "title": "umask",
      "description": "An octal string, e.g. \"0027\".",
      "type": "string",
      "pattern": "^[0-7]{1,4}$"
    },
    "nice": {
      "title": "nice",
      "description": "The nice value, -20 (most favourable) to 19.",
      "type": "integer",
      "minimum": -20,
      "maximum": 19
    },
    "rlimit_value": {
      "description": "A number, \"infinity\", a size with K, M, G or T (bytes), or a duration (cpu).",
      "oneOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": "^(infinity|unlimited|[0-9]+[KMGT]?|([0-9]+(\\.[0-9]+)?|\\.[0-9]+)(ms|s|m|h))$"}
      ]
    },
    "rlimit": {
      "description": "One value (soft = hard) or [soft, hard].",
      "oneOf": [
        {"$ref": "#/$defs/rlimit_value"},
        {
          "type": "array",
          "prefixItems": [{"$ref": "#/$defs/rlimit_value"}, {"$ref": "#/$defs/rlimit_value"}],
          "minItems": 2,
          "maxItems": 2
        }
      ]
    },
    "rlimits": {
      "title": "rlimits",
      "description": "Resource limits, named as prlimit(1) names them.",
      "type": "object",
      "properties": {
        "as": {"$ref": "#/$defs/rlimit", "description": "Address space, bytes."},
        "core": {"$ref": "#/$defs/rlimit", "description": "Core file size, bytes."},
        "cpu": {"$ref": "#/$defs/rlimit", "description": "CPU time, seconds or a duration."},
        "data": {"$ref": "#/$defs/rlimit", "description": "Data segment, bytes."},
        "fsize": {"$ref": "#/$defs/rlimit", "description": "File size, bytes."},
        "locks": {"$ref": "#/$defs/rlimit", "description": "File locks."},
        "memlock": {"$ref": "#/$defs/rlimit", "description": "Locked memory, bytes."},
        "msgqueue": {"$ref": "#/$defs/rlimit", "description": "POSIX message queues, bytes."},
        "nice": {"$ref": "#/$defs/rlimit", "description": "Nice value ceiling."},
        "nofile": {"$ref": "#/$defs/rlimit", "description": "Open files."},
        "nproc": {"$ref": "#/$defs/rlimit", "description": "Processes of the user."},
        "rss": {"$ref": "#/$defs/rlimit", "description": "Resident set size, bytes."},
        "rtprio": {"$ref": "#/$defs/rlimit", "description": "Real-time priority."},
        "rttime": {"$ref": "#/$defs/rlimit", "description": "Real-time CPU time, microseconds."},
        "sigpending": {"$ref": "#/$defs/rlimit", "description": "Queued signals."},
        "stack": {"$ref": "#/$defs/rlimit", "description": "Stack size, bytes."}
      },
      "additionalProperties": false
    }
  }
}
)json";

} // namespace

std::string_view json_schema() {
    return k_schema;
}

} // namespace forkspawn::spec
