"""The top functions by own (self) time in a py-spy raw profile, as a Markdown table.

    .venv/bin/python benchmarks/pyspy_top.py /tmp/profile/push.txt -n 15

A raw profile is one collapsed stack per line, ``outer;...;leaf count``, each frame
``function (file:line)``. Self time is the samples where a function is the leaf; total time is
the samples where it is anywhere on the stack (counted once per stack, so recursion is not
double counted). Lines are dropped so a function spread over many lines is one row.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def _function(frame: str) -> str:
    return _LINE.sub(")", frame.strip())


def tally(lines: list[str]) -> tuple[Counter[str], Counter[str], int]:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
        samples += count
    return own, total, samples


def table(path: Path, top: int) -> str:
    own, total, samples = tally(path.read_text().splitlines())
    rows = [
        f"| {rank} | {count / samples:.1%} | {total[name] / samples:.1%} | `{name}` |"
        for rank, (name, count) in enumerate(own.most_common(top), start=1)
    ]
    head = ["| # | self | total | function (file) |", "|---:|---:|---:|---|"]
    return "\n".join([*head, *rows, "", f"{samples} samples"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy record --format raw output")
    parser.add_argument("-n", type=int, default=15, help="rows (default 15)")
    args = parser.parse_args()
    print(table(args.profile, args.n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
