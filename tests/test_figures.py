"""The README quotes docs/figures.md, which `make accuracy` writes: the two agree, figure for figure."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _figures() -> dict:
    path = ROOT / "docs" / "figures.json"
    if not path.is_file():
        pytest.fail("docs/figures.json is missing: run make accuracy")
    return json.loads(path.read_text())


def test_the_readme_quotes_every_test_accuracy_of_figures_json():
    figures = _figures()
    readme = (ROOT / "README.md").read_text()
    assert "docs/figures.md" in readme
    assert figures["commit"].split("+")[0] in readme  # the commit the figures were measured at
    groups: dict[tuple[str, str], list[float]] = {}
    for run in figures["runs"]:
        groups.setdefault((run["recipe"], run["backend"]), []).append(100 * run["test_accuracy"])
    for (recipe, backend), accs in groups.items():
        for acc in accs:
            assert f"{acc:.2f}" in readme, f"{recipe}/{backend}: {acc:.2f}% is not in the README"
        if len(accs) > 1:
            mean = f"{statistics.fmean(accs):.1f} ± {statistics.stdev(accs):.1f}%"
            assert mean in readme, f"{recipe}/{backend}: {mean} is not in the README"
