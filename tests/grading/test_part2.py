"""Part 2's grading: the student's CNNClassifier against cnnlab's networks, the lab's recipe, the band."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cnnlab.grading import (  # noqa: E402
    grade_functions,
    grade_submission,
    part2,
)
from cnnlab.grading.worker import part2 as worker_part2  # noqa: E402

SEED = 7
NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "lab_cnn.ipynb"

CORRECT = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class CNNClassifier(nn.Module):
    def __init__(self, input_channels, image_size, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.flat = 64 * (image_size // 8) ** 2
        self.fc1 = nn.Linear(self.flat, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = self.pool(F.relu(self.conv3(x)))
        x = x.view(-1, self.flat)
        return self.fc2(F.relu(self.fc1(x)))
"""

#: one bug each -> (the text replaced, its replacement, the first structure check it fails)
BUGS = {
    "wrong channels": ("nn.Conv2d(16, 32, 3", "nn.Conv2d(16, 24, 3", "parameters"),
    "hard-coded 3 input channels": ("nn.Conv2d(input_channels, 16", "nn.Conv2d(3, 16", "parameters"),
    "wrong flatten size": ("self.flat = 64 * (image_size // 8) ** 2", "self.flat = 64 * 4 * 4", "parameters"),
    "missing ReLU": ("return self.fc2(F.relu(self.fc1(x)))", "return self.fc2(self.fc1(x))", "forward"),
    "dropout before fc2 (the identity in eval mode)": (
        "return self.fc2(F.relu(self.fc1(x)))",
        "return self.fc2(F.dropout(F.relu(self.fc1(x)), 0.5, self.training))",
        "forward",
    ),
    "flattened channels-last": (
        "x = x.view(-1, self.flat)",
        "x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)",
        "forward",
    ),
}


def _namespace(source: str) -> dict:
    namespace: dict = {}
    exec(compile(source, "student.py", "exec"), namespace)
    return namespace


def _tiny_data(n_train: int = 16, n_test: int = 10) -> part2.Part2Data:
    rs = np.random.RandomState(0)
    return part2.Part2Data(
        rs.randint(0, 256, (n_train, 64, 64, 3)).astype(np.uint8),
        rs.randint(0, 2, n_train).astype(np.int64),
        rs.randint(0, 256, (n_test, 64, 64, 3)).astype(np.uint8),
        rs.randint(0, 2, n_test).astype(np.int64),
        ("cats", "dogs"),
    )


def _by_check(report) -> dict:
    return {c.check: c for c in report.checks if c.part == "part 2"}


def test_the_graders_reference_logits_are_pytorchs():
    # the oracle of the forward check: cnnlab.nn (NumPy, float64) with the weights sent to the sandbox,
    # against cnnlab's PyTorch CNNClassifier with the same weights
    from cnnlab.torch_backend.models import CNNClassifier

    for case in part2.cases("full", SEED):
        channels, size, classes = case.shape
        model = CNNClassifier(classes, size, in_channels=channels).double().eval()
        with torch.no_grad():
            for p, w in zip(model.parameters(), case.weights, strict=True):
                p.copy_(torch.from_numpy(w))
            logits = model(torch.from_numpy(case.x)).numpy()
        np.testing.assert_allclose(logits, case.logits, rtol=1e-10, atol=1e-12)
        assert case.parameters == sum(p.numel() for p in model.parameters())
    assert part2.cases("lab", None)[0].parameters == 548_258


def test_the_lab_network_passes_every_structure_check():
    report = grade_functions(_namespace(CORRECT), parts=["part 2"], scheme="full", seed=SEED)
    checks = _by_check(report)
    assert all(checks[k].passed for k in ("parameters", "logits", "forward")), report.format_text()
    assert not checks["accuracy"].available and checks["accuracy"].reason.startswith("not run: give --data")
    assert report.available == 0  # N / 90 overall: the band is not available without --data


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_one_bug_fails_its_structure_check_and_the_band_is_not_run(bug):
    old, new, first = BUGS[bug]
    assert old in CORRECT
    data = _tiny_data()
    report = grade_functions(
        _namespace(CORRECT.replace(old, new)), parts=["part 2"], scheme="full", seed=SEED, data=data
    )
    checks = _by_check(report)
    assert not checks[first].passed and checks[first].reason, report.format_text()
    accuracy = checks["accuracy"]
    assert accuracy.available and not accuracy.passed and accuracy.marks == 0
    assert accuracy.reason.startswith("not run: the model is not the lab's CNNClassifier"), accuracy.reason
    assert report.total == 0 and report.available == 10


@pytest.mark.parametrize(
    ("what", "old", "new"),
    [
        (
            "casts its input to float32",
            "x = self.pool(F.relu(self.conv1(x)))",
            "x = self.pool(F.relu(self.conv1(x.float())))",
        ),
        ("asks for 4 threads", "super().__init__()", "super().__init__()\n        torch.set_num_threads(4)"),
    ],
)
def test_harmless_variations_of_the_lab_network_pass(what, old, new):
    report = grade_functions(
        _namespace(CORRECT.replace(old, new)), parts=["part 2"], scheme="full", seed=SEED
    )
    checks = _by_check(report)
    assert all(checks[k].passed for k in ("parameters", "logits", "forward")), report.format_text()


def test_the_band_is_scored_here_with_labels_the_sandbox_never_gets():
    from cnnlab.grading.sandbox import Answer

    data = _tiny_data(n_test=20)
    train = part2.requests("lab", None, data)[-1]
    assert train.helper == "part2.train" and train.args == ()  # its inputs are made after the checks
    lab = part2.cases("lab", None)[0]
    logits = np.stack([lab.logits, lab.logits])  # eval and train mode
    answers = [Answer(True, lab.parameters), Answer(True, np.zeros((3, 2))), Answer(True, logits)]
    args, _ = train.make_args(answers)
    sent = [a for a in args if isinstance(a, np.ndarray)]
    assert any(a is data.train_labels for a in sent)
    # the test images travel in a secret order (the dataset's is class by class), without their labels
    assert any(np.array_equal(a, data.test_images[data.order]) for a in sent)
    assert sorted(data.order) == list(range(20)) and list(data.order) != list(range(20))
    assert not any(a.shape == data.test_labels.shape and a.dtype.kind in "iu" for a in sent[1:])

    def judged(right: int):
        preds = data.test_labels[data.order]  # predictions come back in the order sent
        preds[right:] = 1 - preds[right:]  # exactly `right` of the 20 correct
        return part2.judge_part2("lab", None, [*answers, Answer(True, preds)], data)[-1]

    # 60% < accuracy < 68%, judged against the grader's labels
    assert [judged(r).passed for r in (0, 12, 13, 14, 20)] == [False, False, True, False, False]
    assert judged(13).marks == 10 and judged(13).detail == "test accuracy 65.00% (13 of 20)"
    assert "outside the lab's band" in judged(12).reason and judged(12).marks == 0
    fake = np.array([[0.9, 0.1]] * 20)  # probabilities, not labels: refused, not rounded
    assert "expected (20,)" in part2.judge_part2("lab", None, [*answers, Answer(True, fake)], data)[-1].reason


def test_the_sandboxs_recipe_is_cnnlabs_lab_recipe(monkeypatch, tmp_path):
    """The worker's training loop gives the predictions of cnnlab's torch engine with the ``lab`` recipe
    (both in PyTorch's default memory layout: the worker cannot use channels-last, see worker/part2.py)."""
    from cnnlab.data import load_dataset
    from cnnlab.recipes import get_recipe
    from cnnlab.runs import evaluate_run
    from cnnlab.torch_backend import device, engine
    from cnnlab.training import TrainSettings, fit

    monkeypatch.setattr(device, "memory_format", lambda d: torch.contiguous_format)
    monkeypatch.setattr(engine, "memory_format", lambda d: torch.contiguous_format)
    settings = TrainSettings(
        backend="torch",
        model="cnn",
        recipe=get_recipe("lab").with_overrides(epochs=2),
        data=None,
        out=tmp_path / "run",
        device="cpu",
        threads=1,
    )
    ours = evaluate_run(fit(settings)).predictions
    ds = load_dataset(None, image_size=64)
    namespace = _namespace(CORRECT)
    theirs = worker_part2.train(  # in the dataset's order here: the grader sends a shuffled one
        namespace["CNNClassifier"],
        (3, 64, 2),
        ds.train.images,
        ds.train.labels,
        ds.test.images,
        2023,
        2,
        32,
        1e-3,
    )
    assert theirs.dtype == np.int64 and theirs.shape == ours.shape
    np.testing.assert_array_equal(theirs, ours)


def test_in_the_sandbox_part2_bugs_cost_part2_only(isolation, tmp_path):
    # torch in the sandbox: the lab network passes, a missing ReLU fails `forward`; nothing else moves
    for name, source, ok in (
        ("good", CORRECT, True),
        ("no_relu", CORRECT.replace(*BUGS["missing ReLU"][:2]), False),
    ):
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        report = grade_submission(path, scheme="full", seed=SEED)
        checks = _by_check(report)
        assert checks["forward"].passed is ok, report.format_text()
        assert checks["parameters"].passed and checks["logits"].passed
        assert report.parts()["functions"] == (0, 70) and report.parts()["exercise 8"] == (0, 20)
        assert all("torch" not in s for s in report.skipped)  # PyTorch was there to import


def test_the_lab_notebook_gets_100_with_the_photos(isolation, real_data, tmp_path):
    """The notebook's solution, trained in the sandbox on the lab's photos (1-2 minutes), and its student
    version (nothing is trained: the stubbed model fails its structure checks)."""
    from cnnlab.grading.student import write_student_notebook

    data = part2.load_part2_data(real_data)
    assert (data.train_images.shape, data.test_images.shape) == ((557, 64, 64, 3), (140, 64, 64, 3))
    report = grade_submission(NOTEBOOK, scheme="lab", data=data)
    assert report.total == report.available == 100, report.format_text()
    accuracy = _by_check(report)["accuracy"]
    assert accuracy.detail.startswith("test accuracy ")
    student = tmp_path / "student.ipynb"
    write_student_notebook(NOTEBOOK, student)
    report = grade_submission(student, scheme="lab", data=data)
    assert report.total == 0 and report.available == 100, report.format_text()
    graded = [c for c in report.checks if c.available and c.part != "identity"]
    assert all(not c.passed and c.reason for c in graded)
    assert _by_check(report)["accuracy"].reason.startswith(
        "not run: the model is not the lab's CNNClassifier"
    )
    assert json.loads(json.dumps(report.to_dict()))["parts"]["part 2"] == {"marks": 0, "available": 10}


def test_the_pytorch_sandbox_is_as_closed_as_the_numpy_one(isolation, tmp_path):
    # PyTorch is bound in read-only; cnnlab (the answers), the host's files, the network and new threads
    # stay out of reach, and the attempt costs Part 2's checks only
    import cnnlab.grading.judge as judge

    outside = tmp_path / "outside.txt"
    source = f"""
import torch.nn as nn


class CNNClassifier(nn.Module):
    def __init__(self, input_channels, image_size, num_classes):
        import socket
        import threading

        got = []
        for path in ({judge.__file__!r}, {str(NOTEBOOK)!r}, "/etc/hostname"):
            try:
                open(path).read(1)
                got.append("read " + path)
            except OSError:
                pass
        try:
            open({str(outside)!r}, "w").write("x")
            got.append("wrote outside")
        except OSError:
            pass
        try:
            socket.socket(socket.AF_INET).connect(("127.0.0.1", 22))
            got.append("network")
        except OSError:
            pass
        try:
            threading.Thread(target=print).start()
            got.append("a thread")
        except RuntimeError:
            pass
        raise RuntimeError("escaped: " + ", ".join(got) if got else "contained")
"""
    path = tmp_path / "mallory.py"
    path.write_text(source)
    report = grade_submission(path, scheme="lab")
    checks = _by_check(report)
    assert "RuntimeError: contained (at mallory.py" in checks["parameters"].reason, checks[
        "parameters"
    ].reason
    assert not outside.exists()
    assert report.total == 0


def _kaggle_layout(root: Path, per_class: dict[str, int]) -> Path:
    from PIL import Image

    rs = np.random.RandomState(1)
    for split, n in per_class.items():
        for cls in ("cats", "dogs"):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                pixels = rs.randint(0, 256, (20, 24, 3)).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{i}.png")
    return root


def test_cli_data_trains_part2_and_reports_the_accuracy(isolation, tmp_path):
    import csv
    import subprocess
    import sys

    photos = _kaggle_layout(tmp_path / "photos", {"train": 6, "test": 5})
    path = tmp_path / "pair.py"
    path.write_text(CORRECT)
    cnnlab = [sys.executable, "-m", "cnnlab"]
    out = tmp_path / "marks.csv"
    args = [
        *cnnlab,
        "grade",
        str(path),
        str(path),
        "--data",
        str(photos),
        "--csv",
        str(out),
        "--scheme",
        "lab",
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["available"] for r in rows] == ["100", "100"]  # --data: Part 2's 10 marks are available
    assert all(r["CNNClassifier/accuracy"] in ("0", "10") for r in rows)
    assert all(r["part 2 accuracy"].startswith("test accuracy ") for r in rows)
    done = subprocess.run([*args[:-4], "--json"], capture_output=True, text=True, timeout=600)
    report = json.loads(done.stdout)[0]
    accuracy = next(c for c in report["checks"] if c["check"] == "accuracy")
    assert accuracy["available"] and accuracy["detail"].endswith("of 10)")  # scored on the 10 test photos
    # a folder that is not the Kaggle layout: one line, before anything is graded
    flat = _kaggle_layout(tmp_path / "flat", {"train": 1})
    done = subprocess.run([*cnnlab, "grade", str(path), "--data", str(flat)], capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().startswith("cnnlab: error: ") and "no test folder" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_request_too_large_to_send_costs_that_request_only(tmp_path):
    from cnnlab.grading import NO_ISOLATION
    from cnnlab.grading.sandbox import Request, run_requests

    units = [{"label": "s.py", "line": 1, "source": "def f(x):\n    return x.shape\n"}]
    huge = np.zeros(40 * 2**20, dtype=np.uint8)  # over the protocol's 32 MiB once encoded
    _, answers = run_requests(
        units, [Request("f", (huge,)), Request("f", (np.zeros(3),))], isolation=NO_ISOLATION
    )
    assert not answers[0].ok and answers[0].reason.startswith("not run: the request could not be sent")
    assert answers[1].ok and answers[1].value == (3,)


def test_a_dataset_too_large_for_the_sandbox_is_one_line(tmp_path):
    from cnnlab.errors import DataError

    photos = _kaggle_layout(tmp_path / "big", {"train": 800, "test": 100})  # 1,800 images
    with pytest.raises(DataError, match=r"1800 images; Part 2 sends at most 1,792"):
        part2.load_part2_data(photos)


def test_without_pytorch_for_the_sandbox_part2_is_not_available_and_the_rest_is_graded(
    isolation, tmp_path, monkeypatch
):
    from cnnlab.grading import isolation as iso

    def unavailable(name):
        raise iso.IsolationUnavailable(f"{name} is not installed where the grader runs")

    monkeypatch.setattr(iso, "package_dirs", unavailable)
    path = tmp_path / "s.py"
    path.write_text(CORRECT)
    report = grade_submission(path, scheme="lab")
    checks = _by_check(report)
    assert all(not c.available for c in checks.values())
    assert checks["accuracy"].reason.startswith("not run: PyTorch cannot be given to the sandbox")
    assert report.available == 90  # the functions and exercise 8 are graded as usual
