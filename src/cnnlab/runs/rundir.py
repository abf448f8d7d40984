"""The run directory both trainers write, and atomic file writes.

Layout of ``runs/NAME/``::

    config.json        every setting, versions, the command line (written first; marks a run dir)
    metrics.csv        one row per epoch: METRIC_COLUMNS
    best.npz|best.pt   best-on-validation weights (the last epoch when there is no validation split)
    last.npz|last.pt   weights + optimizer state + epoch + RNG state: what --resume reads
    test_metrics.json  accuracy, per-class precision/recall/F1 and confusion matrix on the test split
    summary.txt        the model's layer table
    curves.png confusion.png predictions.png report.html

Every write goes to a temporary file in the same directory and is renamed into place, so a crash never
leaves a half-written file under a final name.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from cnnlab.errors import RunDirError

CONFIG = "config.json"
METRICS = "metrics.csv"
TEST_METRICS = "test_metrics.json"
METRIC_COLUMNS = [
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "seconds",
    "images_per_s",
]


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` on success.

    On an exception (Ctrl-C included) the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Read once at import: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = _read_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save(path: str | os.PathLike, save: Callable[[IO[bytes]], None]) -> None:
    """Call ``save(fileobj)`` (e.g. ``np.savez`` or ``torch.save``) into a buffer, then write atomically."""
    buf = io.BytesIO()
    save(buf)
    atomic_write_bytes(path, buf.getvalue())


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def _cell(column: str, value: Any) -> Any:
    if value is None:
        return ""
    return int(value) if column == "epoch" else value


def _clean(value: Any) -> Any:
    """JSON has no NaN: write non-finite floats as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(_clean(obj), indent=2, default=_json_default) + "\n")


def _number(text: str | None) -> int | float | None:
    """A metrics.csv cell: ``None`` when empty, ``int`` for whole numbers such as the epoch, else float."""
    if text in ("", None):
        return None
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


class RunDir:
    """A run directory: ``RunDir.create(path, config)`` starts one, ``RunDir.open(path)`` opens one."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- creating and opening -------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, config: dict, overwrite: bool = False) -> RunDir:
        """Start a run at ``path``. Refuses a non-empty directory unless ``overwrite``."""
        run = cls(path)
        if run.path.exists() and not run.path.is_dir():
            raise RunDirError(f"{run.path} exists and is not a directory")
        if run.path.is_dir() and any(run.path.iterdir()):
            if not overwrite:
                raise RunDirError(
                    f"{run.path} already holds files; "
                    "pass --resume to continue it or --overwrite to replace it"
                )
            if not (run.path / CONFIG).exists():
                raise RunDirError(f"{run.path} is not a cnnlab run directory; refusing to overwrite it")
            for child in run.path.iterdir():
                if child.is_file():
                    child.unlink()
        run.path.mkdir(parents=True, exist_ok=True)
        run.write_config(config)
        return run

    @classmethod
    def open(cls, path: str | os.PathLike) -> RunDir:
        """An existing run directory; :class:`RunDirError` if ``path`` is not one."""
        run = cls(path)
        if not run.path.is_dir():
            raise RunDirError(f"{run.path} does not exist (expected a run directory made by `cnnlab train`)")
        if not (run.path / CONFIG).is_file():
            raise RunDirError(f"{run.path} is not a cnnlab run directory (no {CONFIG})")
        try:
            _ = run.config
        except (OSError, ValueError) as exc:
            raise RunDirError(f"{run.path / CONFIG} is unreadable: {exc}") from exc
        return run

    # -- files ----------------------------------------------------------------------------------
    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def config(self) -> dict:
        return json.loads((self.path / CONFIG).read_text())

    def write_config(self, config: dict) -> None:
        write_json(self.path / CONFIG, config)

    def update_config(self, **fields: Any) -> None:
        cfg = self.config
        cfg.update(fields)
        self.write_config(cfg)

    def checkpoint(self, kind: str) -> Path:
        """Path of the ``"best"`` or ``"last"`` checkpoint (``.npz`` for numpy, ``.pt`` for torch)."""
        if kind not in ("best", "last"):
            raise ValueError(f"checkpoint kind must be 'best' or 'last', not {kind!r}")
        ext = ".pt" if self.config.get("backend") == "torch" else ".npz"
        return self.path / f"{kind}{ext}"

    # -- metrics --------------------------------------------------------------------------------
    def metrics(self) -> list[dict[str, float | None]]:
        """The rows of metrics.csv as dicts of floats (``None`` where empty, e.g. no validation split)."""
        p = self.path / METRICS
        if not p.exists():
            return []
        rows = []
        with p.open(newline="") as fh:
            for row in csv.DictReader(fh):
                rows.append({k: _number(v) for k, v in row.items()})
        return rows

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite metrics.csv atomically with ``rows`` (missing columns left empty)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(k, row.get(k)) for k in METRIC_COLUMNS})
        atomic_write_text(self.path / METRICS, out.getvalue())

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Add one epoch's row, dropping rows of the same or later epochs (as after a resume)."""
        rows = [r for r in self.metrics() if r["epoch"] is not None and r["epoch"] < row["epoch"]]
        self.write_metrics([*rows, row])

    @property
    def test_metrics(self) -> dict | None:
        p = self.path / TEST_METRICS
        return json.loads(p.read_text()) if p.exists() else None
