"""Fixtures for the grader's tests: the isolation (skips without it, fails under CI), file hashing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import cnnlab
from cnnlab.grading import Limits
from cnnlab.grading.isolation import IsolationUnavailable, check_available

SUBMISSIONS = Path(__file__).parent / "submissions"
CORRECT = (SUBMISSIONS / "correct.py").read_text()
FAST = Limits(timeout=3, total_timeout=40)  # for submissions that hang or crash
ROOMY = Limits(timeout=20, total_timeout=120)  # for those that do not: no flakiness on a busy machine
INSTALL = Path(cnnlab.__file__).resolve().parent


@pytest.fixture(scope="session")
def isolation():
    """The real sandbox. Without bubblewrap the test skips with the reason; under CI it fails instead."""
    try:
        return check_available()
    except IsolationUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to isolate submissions: {exc}")
        pytest.skip(str(exc))


def tree_hash(*roots: Path) -> dict[str, str]:
    """``{path: sha256}`` of every file under ``roots`` (the before/after check of the hostile tests)."""
    out = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in paths:
            if "__pycache__" in p.parts:
                continue
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def function_source(name: str, source: str = CORRECT) -> str:
    """The source of one top-level ``def`` of ``source`` (correct.py by default)."""
    import ast

    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node) + "\n"
    raise KeyError(name)


def correct_functions(*names: str) -> str:
    """``import numpy as np`` and the correct definitions of ``names``."""
    return "import numpy as np\n\n\n" + "\n\n".join(function_source(n) for n in names)
