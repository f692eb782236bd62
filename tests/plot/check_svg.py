#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What `forkspawn plot` drew from a report, checked as a browser would read it.

    check_svg.py SVG REPORT

SVG must be well-formed XML whose root is an svg element in the SVG
namespace; hold no script, no event handler, no foreign content and nothing
external (href, url(), @import); have one row (a g of class "actor" whose
title starts with the path) for each actor of REPORT (a json or jsonl
report), in the order where each nursery comes before its actors; show each
signal a stop sent by name; and have a legend naming every outcome.

Runs with python3's standard library only. Exit 0 when all holds; 1 with one
line per failure otherwise.
"""

import json
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
OUTCOMES = ["completed", "failed", "spawn_failed", "cancelled", "killed", "not_started"]


def report_actors(text):
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        first = json.loads(lines[0])
    except (IndexError, json.JSONDecodeError):
        first = None  # a json report's first line is no document of its own
    if isinstance(first, dict) and "event" in first:
        events = [json.loads(line) for line in lines]
        return [e for e in events if e["event"] == "reaped"]
    return json.loads(text)["actors"]


def local(tag):
    return tag.rsplit("}", 1)[-1]


def main(svg_path, report_path):
    failures = []
    with open(report_path, encoding="utf-8") as f:
        actors = report_actors(f.read())
    root = ET.parse(svg_path).getroot()
    if root.tag != SVG + "svg":
        failures.append(f"root is {root.tag}, not svg in the SVG namespace")

    for element in root.iter():
        name = local(element.tag)
        if name in ("script", "foreignObject", "image", "use", "a", "iframe"):
            failures.append(f"a <{name}> element")
        for attribute, value in element.attrib.items():
            if local(attribute) == "href" or local(attribute).startswith("on"):
                failures.append(f"attribute {attribute}={value!r} on <{name}>")
            if "url(" in value:
                failures.append(f"url() in {attribute} of <{name}>")
        if name == "style" and ("url(" in (element.text or "") or "@import" in (element.text or "")):
            failures.append("something external in <style>")

    rows = []
    for g in root.iter(SVG + "g"):
        if g.get("class") == "actor":
            title = g.find(SVG + "title")
            rows.append(title.text.split("\n")[0].split(" ")[0] if title is not None else None)
    paths = [a["path"] for a in actors]
    if sorted(rows) != sorted(paths):
        failures.append(f"rows {rows} are not one per actor {paths}")
    for i, path in enumerate(rows):
        parent = path.rsplit("/", 1)[0] if path else ""
        if parent in rows and rows.index(parent) > i:
            failures.append(f"{path} is drawn before its nursery")

    texts = [t.text or "" for t in root.iter(SVG + "text")]
    sig_texts = [t.text for t in root.iter(SVG + "text") if "sig" in (t.get("class") or "").split()]
    for a in actors:
        for signal in (a.get("stop") or {}).get("sent", []):
            if signal not in sig_texts:
                failures.append(f"no tick named {signal} for {a['path']}")

    legend = [g for g in root.iter(SVG + "g") if g.get("class") == "legend"]
    legend_texts = [t.text for g in legend for t in g.iter(SVG + "text")]
    for outcome in OUTCOMES:
        if outcome not in legend_texts:
            failures.append(f"the legend does not name {outcome}")
    if not any(t.startswith("forkspawn run") for t in texts):
        failures.append("no title line")

    for failure in failures:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
