"""Write ``expected.json``: the lab's expected answers as hashes, from cnnlab's reference functions.

    python -m cnnlab.grading.make_expected            # write src/cnnlab/grading/expected.json
    python -m cnnlab.grading.make_expected --check    # exit 1 if the stored file is out of date

The answers come from :mod:`cnnlab.ops.loops` (the lab's loops); the vectorized :mod:`cnnlab.ops` must give
the same stored values (same shapes and CRC32s, hashes within ``1e-9`` relative), or nothing is written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from cnnlab.grading.lab import EXPECTED_FORMAT, EXPECTED_PATH, compute_expected

__all__ = ["build", "main", "same_expected"]


def same_expected(a: dict[str, Any], b: dict[str, Any], rel: float = 1e-9) -> list[str]:
    """Keys of two expected-value tables that differ (shapes/CRCs exactly, hashes to ``rel``)."""

    def same(x: Any, y: Any) -> bool:
        if isinstance(x, float) or isinstance(y, float):
            return math.isclose(float(x), float(y), rel_tol=rel, abs_tol=rel)
        if isinstance(x, dict) and isinstance(y, dict):
            return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        if isinstance(x, list) and isinstance(y, list):
            return len(x) == len(y) and all(same(p, q) for p, q in zip(x, y, strict=True))
        return x == y

    return sorted(k for k in a.keys() | b.keys() if k not in a or k not in b or not same(a[k], b[k]))


def build() -> dict[str, Any]:
    """The content of ``expected.json``; raises ``AssertionError`` if loops and vectorized disagree."""
    import cnnlab.ops
    import cnnlab.ops.loops

    loops = compute_expected(vars(cnnlab.ops.loops))
    vectorized = compute_expected(vars(cnnlab.ops))
    differ = same_expected(loops, vectorized)
    assert not differ, f"cnnlab.ops.loops and cnnlab.ops disagree on {differ}"
    return {
        "format": EXPECTED_FORMAT,
        "generated_by": "python -m cnnlab.grading.make_expected",
        "reference": "cnnlab.ops.loops (checked against cnnlab.ops)",
        "hash": "arrays: shape and nanmax+nanmin+nanmean+nanmedian+nanstd+nansum+nansum(flat*arange(n)); "
        'numbers: crc32 of f"{x:1.5e}"',
        "checks": loops,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnlab.grading.make_expected", description=__doc__)
    parser.add_argument("--out", type=Path, default=EXPECTED_PATH, help="file (default: the package's)")
    parser.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    args = parser.parse_args(argv)
    data = build()
    if args.check:
        stored = json.loads(args.out.read_text())
        differ = same_expected(stored.get("checks", {}), data["checks"])
        if differ or stored.get("format") != EXPECTED_FORMAT:
            print(f"{args.out} is out of date: {', '.join(differ) or 'format'}", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date ({len(data['checks'])} checks)")
        return 0
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.out} ({len(data['checks'])} checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
