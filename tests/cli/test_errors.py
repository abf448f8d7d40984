"""``cnnlab --help`` everywhere, and the one-line errors a user sees for mistakes (no traceback)."""

from __future__ import annotations

import pytest

from tests.cli.conftest import assert_one_line_error, cnnlab


def _commands() -> list[list[str]]:
    """Every command and sub-command registered in the CLI, as argument lists."""
    import typer.main

    import cnnlab.cli as cli

    cli._register()
    paths: list[list[str]] = [[]]

    def walk(group, prefix):
        for name, cmd in getattr(group, "commands", {}).items():
            paths.append([*prefix, name])
            walk(cmd, [*prefix, name])

    walk(typer.main.get_command(cli.app), [])
    return paths


MINE = ["train", "evaluate", "predict", "summary", "bench"]


def test_my_commands_are_registered():
    names = {p[0] for p in _commands() if p}
    assert set(MINE) <= names


@pytest.mark.parametrize("command", _commands(), ids=lambda p: " ".join(p) or "cnnlab")
def test_help(command):
    proc = cnnlab(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: cnnlab" in proc.stdout
    assert proc.stderr == ""


def test_help_shows_examples_and_defaults():
    out = cnnlab("train", "--help").stdout
    assert "Examples" in out and "--resume" in out and "Default: improved" in out


WRONG = [
    (["nosuchcommand"], ["nosuchcommand"]),
    (["train", "--model", "resnet"], ["--model", "resnet"]),
    (["train", "--backend", "jax"], ["--backend", "jax"]),
    (["train", "--epochs", "0"], ["--epochs"]),
    (["train", "--epochs", "many"], ["--epochs", "valid integer"]),
    (["train", "--lr", "-0.1"], ["--lr must be a positive number"]),
    (["train", "--resume"], ["--resume needs --out"]),
    (["train", "--resume", "--overwrite", "--out", "x"], ["--resume and --overwrite"]),
    (["evaluate"], ["Missing argument"]),
    (["predict", "runs/x"], ["Missing argument"]),
    (["evaluate", "runs/x", "--split", "val"], ["--split", "val"]),
    (["summary", "--model", "cnn", "--image-size", "4"], ["--image-size 4", "too small"]),
    (["summary", "--backend", "tf"], ["--backend"]),
    (["bench", "--only", "nope"], ["unknown benchmark 'nope'"]),
]


@pytest.mark.parametrize(("args", "expected"), WRONG, ids=[" ".join(a) for a, _ in WRONG])
def test_wrong_arguments(args, expected):
    assert_one_line_error(cnnlab(*args), *expected)


def test_missing_data_directory(tmp_path):
    missing = tmp_path / "no-such-folder"
    err = assert_one_line_error(cnnlab("train", "--data", missing, "--out", tmp_path / "run"), str(missing))
    assert "does not exist" in err
    assert not (tmp_path / "run").exists()


def test_not_a_run_directory(tmp_path):
    assert_one_line_error(cnnlab("evaluate", tmp_path), "not a cnnlab run directory")
    assert_one_line_error(cnnlab("evaluate", tmp_path / "gone"), "does not exist")
    assert_one_line_error(cnnlab("predict", tmp_path, tmp_path / "x.png"), "not a cnnlab run directory")
    assert_one_line_error(cnnlab("train", "--resume", "--out", tmp_path), "not a cnnlab run directory")


def test_train_refuses_to_overwrite_a_folder_with_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    assert_one_line_error(cnnlab("train", "--out", tmp_path), "already holds files", "--overwrite")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_torch_backend_without_torch(tmp_path):
    # A `torch` package that fails to import, first on the path, stands in for a machine without PyTorch.
    fake = tmp_path / "hide" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named torch')\n")
    proc = cnnlab(
        "train", "--backend", "torch", "--out", tmp_path / "run", env={"PYTHONPATH": str(fake.parent)}
    )
    assert_one_line_error(proc, "torch is not installed", "pip install 'cnnlab[torch]'")
    proc = cnnlab("summary", "--backend", "torch", env={"PYTHONPATH": str(fake.parent)})
    assert_one_line_error(proc, "torch is not installed")


def test_debug_shows_the_traceback(tmp_path):
    proc = cnnlab("--debug", "evaluate", tmp_path)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "RunDirError" in proc.stderr
    proc = cnnlab("train", "--model", "resnet", "--debug")
    assert proc.returncode != 0 and "Traceback" in proc.stderr
