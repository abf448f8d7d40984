"""Options that say what they do, and bad checkpoints as one line, through the installed command."""

from __future__ import annotations

import json

import pytest

from cnnlab import __version__

from .conftest import assert_one_line_error, cnnlab

QUICK = ["--model", "simple", "--epochs", "2", "--batch-size", "64", "--no-report"]


def test_version():
    proc = cnnlab("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"cnnlab {__version__}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "numpy", "--device", "cuda"], "--device cuda needs the torch backend"),
        (["--backend", "torch", "--dtype", "float64"], "--dtype float64 is for the numpy backend"),
    ],
)
def test_an_option_without_effect_is_an_error_before_anything_is_written(tmp_path, args, message):
    if "torch" in args:
        pytest.importorskip("torch")
    assert_one_line_error(cnnlab("train", *QUICK, *args, "--out", tmp_path / "run"), message)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_threads_is_used_and_recorded(tmp_path, backend):
    if backend == "torch":
        pytest.importorskip("torch")
    out = tmp_path / "run"
    proc = cnnlab("train", *QUICK, "--backend", backend, "--threads", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "config.json").read_text())["backend_info"]["threads"] == 1


class _Evil:
    def __reduce__(self):
        return (print, ("this ran while loading",))


def _cut_torch_run(tmp_path):
    torch = pytest.importorskip("torch")
    out = tmp_path / "run"
    proc = cnnlab("train", *QUICK, "--backend", "torch", "--threads", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return torch, out


def test_a_pickled_last_pt_on_resume_is_one_line_and_runs_nothing(tmp_path):
    torch, out = _cut_torch_run(tmp_path)
    torch.save({"model": _Evil()}, out / "last.pt")
    proc = cnnlab("train", "--out", out, "--resume", "--epochs", "2")
    err = assert_one_line_error(proc, "last.pt is not a readable cnnlab checkpoint", "a safe load refuses")
    assert "weights_only" not in err and "this ran" not in proc.stdout + err
    assert proc.returncode == 1


def test_an_empty_last_pt_is_one_line_with_exit_code_1(tmp_path):
    _, out = _cut_torch_run(tmp_path)
    (out / "last.pt").write_bytes(b"")
    proc = cnnlab("train", "--out", out, "--resume")
    assert_one_line_error(proc, "last.pt is empty")
    assert proc.returncode == 1  # not 130 ("aborted")


def test_cut_in_the_first_epoch_the_torch_run_resumes(tmp_path):
    """Before, torch said 'last.pt is missing; nothing to resume' for a run stopped in epoch 1."""
    pytest.importorskip("torch")
    out = tmp_path / "run"
    out.mkdir()
    # what a Ctrl-C in epoch 1 leaves: config.json and summary.txt, no checkpoint, no metrics row
    proc = cnnlab("train", *QUICK, "--backend", "torch", "--threads", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    for name in ("last.pt", "best.pt", "metrics.csv"):
        (out / name).unlink()
    proc = cnnlab("train", "--out", out, "--resume", "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert "no finished epoch yet; starting it from epoch 1" in proc.stdout
    assert [line.split(",")[0] for line in (out / "metrics.csv").read_text().splitlines()[1:]] == ["1", "2"]
