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


def _selection_script():
    import importlib.util
    import sys

    name = "cnnlab_benchmarks_selection"
    if name not in sys.modules:  # dataclasses look their module up in sys.modules
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "selection.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def test_selection_md_is_what_make_selection_renders_from_its_json(tmp_path, monkeypatch):
    path = ROOT / "docs" / "selection.json"
    if not path.is_file():
        pytest.fail("docs/selection.json is missing: run make selection")
    selection = _selection_script()
    monkeypatch.setattr(selection, "DOCS", tmp_path)
    selection.write(json.loads(path.read_text()))
    assert (tmp_path / "selection.md").read_text() == (ROOT / "docs" / "selection.md").read_text()


def test_the_rule_in_selection_md_is_the_librarys_choice():
    from cnnlab.training.crossval import choose

    record = json.loads((ROOT / "docs" / "selection.json").read_text())
    assert record["complete"], "docs/selection.json is incomplete: run make selection to the end"
    rows = [r for r in record["candidates"] if r["key"] != "C2"]
    choice = choose({r["key"]: r["folds"] for r in rows})
    assert f"(the smallest sd): **{choice.chosen}**" in (ROOT / "docs" / "selection.md").read_text()


def test_improved_recipe_md_quotes_only_measured_figures():
    import re

    doc = (ROOT / "docs" / "improved-recipe.md").read_text()
    measured = (ROOT / "docs" / "selection.md").read_text() + (ROOT / "docs" / "figures.md").read_text()
    assert "selection.md" in doc and "figures.md" in doc
    for figure in re.findall(r"\d+\.\d+ ± \d+\.\d+%|\d+\.\d+%", doc):
        assert figure in measured, f"docs/improved-recipe.md says {figure}, which no measured record has"
