"""A user's session with the installed command: train -> evaluate -> predict -> report; Ctrl-C and --resume.

Trains the ``simple`` model for a few epochs on a tiny two-class image folder (see ``make_image_folder``),
so each training takes a few seconds.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.conftest import CNNLAB, assert_one_line_error, cnnlab, make_image_folder

PNG = b"\x89PNG\r\n\x1a\n"
pytestmark = pytest.mark.xdist_group("cli-workflow")  # the module's tests share one trained run


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("cli-data") / "shades")


@pytest.fixture(scope="module")
def run(data, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("cli-runs") / "simple"
    proc = cnnlab(
        "train",
        "--model",
        "simple",
        "--recipe",
        "lab",
        "--data",
        data,
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--lr",
        "0.003",
        "--image-size",
        "16",
        "--seed",
        "1",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_train_writes_a_complete_run(run):
    out, proc = run
    # not a terminal: plain lines, one per epoch, then where the report is
    lines = proc.stdout.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("epoch")] == ["1/3", "2/3", "3/3"]
    assert lines[-1] == f"report: {out / 'report.html'}"
    for name in (
        "config.json",
        "metrics.csv",
        "best.npz",
        "last.npz",
        "test_metrics.json",
        "summary.txt",
        "curves.png",
        "confusion.png",
        "predictions.png",
        "report.html",
    ):
        assert (out / name).is_file(), name
    for name in ("curves.png", "confusion.png", "predictions.png"):
        assert (out / name).read_bytes().startswith(PNG), name
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["model"], cfg["backend"], cfg["image_size"], cfg["classes"]) == (
        "simple",
        "numpy",
        16,
        ["dark", "light"],
    )
    assert (
        cfg["recipe"]["epochs"],
        cfg["recipe"]["batch_size"],
        cfg["recipe"]["lr"],
        cfg["recipe"]["seed"],
    ) == (3, 8, 0.003, 1)
    with (out / "metrics.csv").open() as fh:
        assert [int(float(r["epoch"])) for r in csv.DictReader(fh)] == [1, 2, 3]
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))


def test_report_mentions_the_test_accuracy(run):
    out, _ = run
    test = json.loads((out / "test_metrics.json").read_text())
    assert test["num_samples"] == 16 and test["split"] == "test"
    html = (out / "report.html").read_text()
    assert f"{100 * test['accuracy']:.2f}%" in html
    assert html.count("data:image/png;base64,") == 3
    assert "Total params: 3,042" in html  # the simple model at 16x16: 16*3*3*3 + 16 + 1296*2 + 2


def test_evaluate_agrees_with_predict_on_the_test_images(run, data):
    out, _ = run
    proc = cnnlab("evaluate", out, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report == json.loads((out / "test_metrics.json").read_text())
    # The same images through `predict` (files decoded one by one) give the same confusion matrix.
    files = sorted((data / "test").glob("*/*.png"))
    proc = cnnlab("predict", out, *files, "--json")
    assert proc.returncode == 0, proc.stderr
    preds = json.loads(proc.stdout)
    assert [p["image"] for p in preds] == [str(f) for f in files]
    classes = report["classes"]
    confusion = [[0, 0], [0, 0]]
    for f, p in zip(files, preds, strict=True):
        assert abs(sum(p["probabilities"].values()) - 1) < 1e-9
        assert p["probability"] == max(p["probabilities"].values())
        assert p["probabilities"][p["class"]] == p["probability"]
        confusion[classes.index(f.parent.name)][classes.index(p["class"])] += 1
    assert confusion == report["confusion"]
    # the text form shows the same numbers
    text = cnnlab("evaluate", out).stdout
    assert f"accuracy {100 * report['accuracy']:.2f}%" in text
    assert "confusion matrix" in text


def test_evaluate_on_other_data_leaves_the_run_test_metrics(run, tmp_path):
    out, _ = run
    before = (out / "test_metrics.json").read_bytes()
    other = make_image_folder(tmp_path / "other", n_train=2, n_test=3, seed=5)
    proc = cnnlab("evaluate", out, "--data", other, "--split", "all", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["num_samples"] == 10
    assert (out / "test_metrics.json").read_bytes() == before
    (other / "test" / "cat").mkdir()
    (other / "train" / "cat").mkdir()
    assert_one_line_error(cnnlab("evaluate", out, "--data", other), "cat")


def test_predict_text_and_unreadable_image(run, data, tmp_path):
    out, _ = run
    image = sorted((data / "test" / "light").glob("*.png"))[0]
    proc = cnnlab("predict", out, image)
    assert proc.returncode == 0, proc.stderr
    assert str(image) in proc.stdout and "probability" in proc.stdout
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a JPEG")
    assert_one_line_error(cnnlab("predict", out, image, bad), str(bad))
    assert_one_line_error(cnnlab("predict", out, tmp_path / "missing.png"), "missing.png")


def test_summary_matches_the_run(run):
    out, _ = run
    proc = cnnlab("summary", "--model", "simple", "--image-size", "16")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (out / "summary.txt").read_text()
    proc = cnnlab("summary", "--model", "simple", "--image-size", "16", "--json")
    assert json.loads(proc.stdout)["total_params"] == 16 * 3 * 3 * 3 + 16 + 16 * 9 * 9 * 2 + 2


def test_ctrl_c_keeps_a_checkpoint_and_resume_finishes(data, tmp_path):
    out = tmp_path / "stopped"
    epochs = 60  # ~6 s: a test process starved on a busy machine still interrupts it before the end
    # More images than the other runs, so an epoch lasts long enough to be interrupted in the middle.
    big = make_image_folder(tmp_path / "big", n_train=150, n_test=4, seed=3)
    args = [
        "train",
        "--model",
        "simple",
        "--recipe",
        "lab",
        "--data",
        big,
        "--epochs",
        str(epochs),
        "--batch-size",
        "4",
        "--image-size",
        "16",
        "--out",
        out,
    ]
    proc = subprocess.Popen(
        [str(CNNLAB), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a shell: an earlier test in this worker may have left SIGINT ignored, which a child inherits
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if line.split()[:2] == ["epoch", f"1/{epochs}"] or not line:
                break
        assert seen[-1].split()[:2] == ["epoch", f"1/{epochs}"], "".join(seen) + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    err = assert_one_line_error(
        subprocess.CompletedProcess(args, proc.returncode, stdout, stderr), "interrupted", "--resume"
    )
    assert str(out) in err
    assert (out / "last.npz").is_file() and not (out / "report.html").exists()
    with (out / "metrics.csv").open() as fh:
        done = [int(float(r["epoch"])) for r in csv.DictReader(fh)]
    assert done and done == list(range(1, len(done) + 1)) and len(done) < epochs

    proc = cnnlab("train", "--out", out, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert f"epoch {len(done) + 1:>2}/{epochs}" in proc.stdout
    with (out / "metrics.csv").open() as fh:
        assert [int(float(r["epoch"])) for r in csv.DictReader(fh)] == list(range(1, epochs + 1))
    assert (out / "report.html").is_file()
    # a resumed run keeps its settings
    assert_one_line_error(
        cnnlab("train", "--out", out, "--resume", "--lr", "0.5"), "--lr", "keeps its settings"
    )


@pytest.mark.torch
def test_torch_backend_end_to_end(data, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "torch"
    proc = cnnlab(
        "train",
        "--backend",
        "torch",
        "--device",
        "cpu",
        "--model",
        "simple",
        "--recipe",
        "lab",
        "--data",
        data,
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--image-size",
        "16",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "best.pt").is_file() and (out / "report.html").is_file()
    test = json.loads((out / "test_metrics.json").read_text())
    assert test["backend"] == "torch" and test["num_samples"] == 16


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_corrupt_images_are_skipped_named_and_recorded_not_fatal(backend, tmp_path):
    data = make_image_folder(tmp_path / "data", n_train=8, n_test=4)
    (data / "train" / "dark" / "broken.jpg").write_bytes(b"not a jpeg at all")
    good = next((data / "train" / "light").glob("*.png")).read_bytes()
    (data / "train" / "light" / "truncated.png").write_bytes(good[: len(good) // 3])
    out = tmp_path / "run"
    proc = cnnlab(
        "train",
        "--backend",
        backend,
        "--model",
        "simple",
        "--image-size",
        "16",
        "--data",
        data,
        "--epochs",
        "1",
        "--out",
        out,
        "--no-report",
        env={"OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    note = [line for line in proc.stdout.splitlines() if line.startswith("skipped 2 unreadable files")]
    assert len(note) == 1, proc.stdout
    assert "broken.jpg" in note[0] and "truncated.png" in note[0]
    recorded = {Path(p).name for p, _ in json.loads((out / "config.json").read_text())["skipped_files"]}
    assert recorded == {"broken.jpg", "truncated.png"}
