#!/usr/bin/env python3
"""Writes one benchmark's section into BENCHMARKS.md, between `<!-- NAME:begin -->` and
`<!-- NAME:end -->` (replacing the old section, or appending it; the rest of the file is kept).

    some-benchmark | python3 tools/benchmark-section.py NAME "TITLE" "What was run and how."

The table comes on stdin. The section says when and on what machine it was recorded.
"""
import datetime
import os
import sys


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    name, title, intro = sys.argv[1:]
    table = sys.stdin.read().strip()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = (f"{begin}\n## {title}\n\nRecorded {stamp} UTC ({os.cpu_count()} cores, {cpu}). {intro}\n\n"
               f"{table}\n{end}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# OmniStock benchmarks\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    open(path, "w").write(text)


if __name__ == "__main__":
    main()
