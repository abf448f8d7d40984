"""Symlink loops and file or folder names that are not UTF-8 are skipped and reported, not fatal."""

from __future__ import annotations

import json
import os

import pytest

from cnnlab.data import load_dataset
from cnnlab.data.folder import scan

from ..cli.conftest import cnnlab
from .helpers import make_folder


@pytest.fixture
def odd_folder(tmp_path):
    root = tmp_path / "data"
    make_folder(root, {"cats": 6, "dogs": 6}, size=16)
    cats = root / "train" / "cats"
    os.symlink("loop-b", cats / "loop-a")  # a symlink loop
    os.symlink("loop-a", cats / "loop-b")
    bad = os.fsencode(cats) + b"/caf\xe9.png"  # Latin-1 bytes: not UTF-8
    with open(bad, "wb") as fh:
        fh.write((cats / "img_000.png").read_bytes())
    os.mkdir(os.fsencode(root / "train") + b"/\xff-folder")  # a class folder with such a name
    return root


def test_scan_skips_and_names_them(odd_folder):
    listing = scan(odd_folder)
    reasons = dict(listing.skipped)
    assert listing.classes == ["cats", "dogs"]
    assert "Too many levels of symbolic links" in reasons[str(odd_folder / "train" / "cats" / "loop-a")]
    assert reasons[str(odd_folder / "train" / "cats" / "caf\\xe9.png")] == "file name is not valid UTF-8"
    assert reasons[str(odd_folder / "train" / "\\xff-folder")] == "file name is not valid UTF-8"
    assert len(listing.files) == 24  # the readable images, all of them
    ds = load_dataset(odd_folder, image_size=16)
    assert len(ds.train) == 12 and len(ds.skipped) == 4


def test_data_inspect_and_train_report_them_and_go_on(odd_folder, tmp_path):
    proc = cnnlab("data", "inspect", odd_folder)
    assert proc.returncode == 0, proc.stderr
    assert "loop-a" in proc.stdout and "caf\\xe9.png" in proc.stdout
    out = tmp_path / "run"
    proc = cnnlab(
        "train", "--model", "simple", "--data", odd_folder, "--epochs", "1", "--out", out, "--no-report"
    )
    assert proc.returncode == 0, proc.stderr
    assert "skipped 4 unreadable files" in proc.stdout
    cfg = json.loads((out / "config.json").read_text())
    assert len(cfg["skipped_files"]) == 4
