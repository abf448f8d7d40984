"""``make bench``: run every benchmark side by side and print one table (``--json`` for machines).

Usage: python benchmarks/run_all.py [--only ops,data] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

from cnnlab.bench import BENCHMARKS, format_table, run_all


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help=f"comma-separated subset of {BENCHMARKS}")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller cases")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    only = [s for s in args.only.split(",") if s] or None
    rows = run_all(only, quick=args.quick)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
