"""``cnnlab data synth`` and ``cnnlab data inspect``, run as the installed command in a subprocess."""

from __future__ import annotations

import json

from tests.cli.conftest import assert_one_line_error, cnnlab
from tests.data.helpers import bomb_png, make_folder


def test_synth_writes_a_loadable_folder(tmp_path):
    out = tmp_path / "syn"
    proc = cnnlab("data", "synth", out, "--seed", "3", "--size", "24", "--train", "4", "--test", "2")
    assert proc.returncode == 0, proc.stderr
    assert "wrote 12 images of 24x24" in proc.stdout and str(out) in proc.stdout
    assert len(list((out / "train" / "cats").glob("*.png"))) == 4
    assert len(list((out / "test" / "dogs").glob("*.png"))) == 2
    info = json.loads((out / "synth.json").read_text())
    assert info["seed"] == 3 and info["size"] == 24
    # again into the same, now non-empty, folder: refused
    assert_one_line_error(cnnlab("data", "synth", out), "already exists and is not empty")


def test_synth_rejects_a_too_small_size(tmp_path):
    proc = cnnlab("data", "synth", tmp_path / "x", "--size", "2")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "--size" in proc.stderr


def test_inspect_reports_counts_formats_and_unreadable_files(tmp_path):
    make_folder(tmp_path, {"cats": 3, "dogs": 2}, size=10)
    (tmp_path / "test" / "dogs" / "broken.jpg").write_bytes(b"not a picture")
    bomb_png(tmp_path / "train" / "cats" / "bomb.png")
    proc = cnnlab("data", "inspect", tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(str(tmp_path)) and "train/ and test/" in lines[0]
    assert any(line.split() == ["train", "4", "2", "6"] for line in lines)  # 3 cats + the bomb, 2 dogs
    assert any(line.split() == ["test", "3", "3", "6"] for line in lines)
    assert "PNG (10)" in proc.stdout and "RGB (10)" in proc.stdout and "10x10 (10)" in proc.stdout
    assert "unreadable  2" in proc.stdout
    assert (
        "broken.jpg: not a JPEG" in proc.stdout
        and "bomb.png: refused as a possible decompression bomb" in proc.stdout
    )

    as_json = json.loads(cnnlab("data", "inspect", tmp_path, "--json").stdout)
    assert as_json["classes"] == ["cats", "dogs"] and as_json["counts"] == {"train": [4, 2], "test": [3, 3]}
    assert as_json["sizes"] == {"10x10": 10} and len(as_json["unreadable"]) == 2


def test_inspect_flat_folder(tmp_path):
    make_folder(tmp_path, {"a": 2, "b": 1, "c": 1}, splits=("",), size=6)
    out = json.loads(cnnlab("data", "inspect", tmp_path, "--json").stdout)
    assert out["layout"] == "flat" and out["counts"] == {"all": [2, 1, 1]}


def test_inspect_errors_are_one_line(tmp_path):
    assert_one_line_error(
        cnnlab("data", "inspect", tmp_path / "missing"), "does not exist", "DIR/train/<class>"
    )
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cnnlab("data", "inspect", tmp_path / "empty"), "no class folders")


def test_inspect_defaults_to_the_builtin_dataset():
    from cnnlab.data import synth

    proc = cnnlab("data", "inspect", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    n_train, n_test = synth.BUILTIN_COUNTS["train"], synth.BUILTIN_COUNTS["test"]
    assert out["counts"] == {"train": [n_train, n_train], "test": [n_test, n_test]}
    assert out["modes"] == {"RGB": 2 * (n_train + n_test)} and out["unreadable"] == []
