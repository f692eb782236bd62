#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""`forkspawn schema` against `forkspawn check`.

    validate.py FORKSPAWN SOURCE_DIR

The schema printed by FORKSPAWN must be a valid draft 2020-12 schema, and:
  - every spec in examples/ and tests/specs/ that `check` accepts, and every
    spec in tests/schema/valid/ (which `check` must accept), is accepted by
    the schema;
  - every spec in tests/schema/invalid/ is rejected by `check` (exit 2) and
    by the schema: each is wrong in its structure (an unknown key, a wrong
    type, a value outside an enum), which both must see;
  - the stop sequence forms the parser takes or will take (a lone signal,
    signal numbers, real-time signals) are not narrowed by the schema.

Runs with Debian's python3 and python3-jsonschema (scripts/setup --test).
Exit 0 when all holds; 1 with one line per failure otherwise.
"""

import glob
import json
import os
import re
import subprocess
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("validate.py: python3-jsonschema is missing; run scripts/setup --test")

# check's first error: FILE:LINE:COL: /json/pointer: what is wrong
POINTER = re.compile(r"^[^\n]*?:\d+:\d+: (/[^: ]*): ", re.MULTILINE)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    binary, source = sys.argv[1], sys.argv[2]
    failures = []

    out = subprocess.run([binary, "schema"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"forkspawn schema exited {out.returncode}: {out.stderr.strip()}")
    schema = json.loads(out.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    def schema_errors(document):
        return sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))

    def check(path):
        return subprocess.run([binary, "check", path], capture_output=True, text=True,
                              check=False)

    def load(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def describe(error):
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        return f"{where}: {error.message[:200]}"

    accepted = 0
    shared = sorted(glob.glob(os.path.join(source, "examples", "*.json")) +
                    glob.glob(os.path.join(source, "tests", "specs", "*.json")))
    own = sorted(glob.glob(os.path.join(source, "tests", "schema", "valid", "*.json")))
    for path in shared + own:
        name = os.path.relpath(path, source)
        result = check(path)
        if result.returncode != 0:
            if path in own:
                failures.append(f"{name}: forkspawn check rejects it (exit "
                                f"{result.returncode}): {result.stderr.strip()[:300]}")
            continue
        errors = schema_errors(load(path))
        if errors:
            failures.append(f"{name}: check accepts it, the schema does not: "
                            + "; ".join(describe(e) for e in errors[:3]))
        accepted += 1

    invalid = sorted(glob.glob(os.path.join(source, "tests", "schema", "invalid", "*.json")))
    if len(invalid) < 8:
        failures.append(f"tests/schema/invalid: {len(invalid)} specs; expected at least 8")
    for path in invalid:
        name = os.path.relpath(path, source)
        result = check(path)
        if result.returncode != 2:
            failures.append(f"{name}: forkspawn check exits {result.returncode}, not 2")
        errors = schema_errors(load(path))
        if not errors:
            failures.append(f"{name}: check rejects it ({result.stderr.strip()[:200]}), "
                            "the schema accepts it")
            continue
        # Both find it in the same place: the schema's error is at the
        # pointer check names, or above it (an actor that matches neither
        # form of actor).
        pointer = POINTER.search(result.stderr)
        if pointer:
            tokens = pointer.group(1).split("/")[1:]
            if not any([str(p) for p in e.absolute_path] == tokens[:len(e.absolute_path)]
                       for e in errors):
                failures.append(f"{name}: check's error is at {pointer.group(1)}, the schema's "
                                f"elsewhere: " + "; ".join(describe(e) for e in errors[:3]))
        else:
            failures.append(f"{name}: no FILE:LINE:COL: /pointer: error from check: "
                            f"{result.stderr.strip()[:200]}")

    # Forms the schema must not refuse, whatever this build's parser says.
    for stop in ("TERM", "SIGTERM", "sigint", "15", "SIGTERM,1.6s,SIGKILL", "INT, 5s, TERM, 1s",
                 "SIGRTMIN+3,2s", ["15", "1s"], ["SIGRTMIN+3", "2s", "KILL"], ["RTMAX-1", "250ms"],
                 ["TERM", "1.6s"]):
        spec = {"stop": stop, "actors": [{"name": "a", "cmd": ["true"], "stop": stop}]}
        errors = schema_errors(spec)
        if errors:
            failures.append(f"stop {json.dumps(stop)}: refused by the schema: "
                            + describe(errors[0]))

    for failure in failures:
        print(f"FAIL {failure}")
    print(f"validate.py: {accepted} valid specs accepted by both, {len(invalid)} invalid specs "
          f"rejected by both; {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
