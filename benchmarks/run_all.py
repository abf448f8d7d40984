"""``make bench``: run every benchmark side by side and print one table (``--json`` for machines).

A full run (no ``--only``, no ``--quick``) also writes the table to ``docs/bench.md`` and the rows to
``docs/bench.json``, stamped with the commit and date: the speed figures README.md and docs/ quote.

Usage: python benchmarks/run_all.py [--only ops,data] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

from cnnlab.bench import BENCHMARKS, format_table, record, run_all

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _markdown(rows: list[dict]) -> str:
    lines = ["| benchmark | case | value | unit | target | ok | note |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        v = r["value"]
        value = "-" if v is None else (f"{v:,.1f}" if abs(v) >= 100 else f"{v:.3g}")
        ok = {True: "yes", False: "**no**", None: ""}[r["ok"]]
        cells = [r["benchmark"], r["case"], value, r["unit"], r["target"], ok, r["note"]]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def write(rows: list[dict]) -> None:
    stamp = {
        "commit": record.commit(DOCS.parent),
        "date": dt.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPUs",
    }
    (DOCS / "bench.json").write_text(json.dumps({**stamp, "rows": rows}, indent=2) + "\n")
    text = [
        "# Speed figures (written by `make bench`; do not edit by hand)",
        "",
        f"Commit `{stamp['commit']}`, {stamp['date']}, {stamp['machine']}, every ratio measured side by side",
        "in one run (absolute times on a shared machine are noisy; the ratios are what to compare).",
        "",
        _markdown(rows),
    ]
    (DOCS / "bench.md").write_text("\n".join(text) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help=f"comma-separated subset of {BENCHMARKS}")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller cases")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    only = [s for s in args.only.split(",") if s] or None
    rows = run_all(only, quick=args.quick)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    if only is None and not args.quick:
        write(rows)
        print(f"wrote {DOCS / 'bench.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
