"""The run directory a training writes, atomic file writes, the writer's lock and state checksums.

This is the floor of the package: it imports nothing of cnnlab but :mod:`cnnlab.errors`, and the
training loop, the backends, the report and the CLI all stand on it.

Layout of ``runs/NAME/``::

    config.json        every setting, versions, the command line (written first; marks a run dir)
    metrics.csv        one row per epoch: METRIC_COLUMNS
    best.npz|best.pt   best-on-validation weights (the last epoch when there is no validation split)
    last.npz|last.pt   weights + optimizer state + epoch + RNG state + the metrics rows: what --resume reads
    .lock              held (flock) while a training writes the directory
    test_metrics.json  accuracy, per-class precision/recall/F1 and confusion matrix on the test split
    summary.txt        the model's layer table
    curves.png confusion.png predictions.png report.html

Every write goes to a temporary file in the same directory and is renamed into place, so a crash never
leaves a half-written file under a final name. Every checkpoint carries :func:`checksum` of its
contents, verified when it is read.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from cnnlab.errors import RunDirError

CONFIG = "config.json"
LOCK = ".lock"
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


def checksum(state: Any) -> str:
    """SHA-256 (hex) of a nested state: dicts (sorted keys), lists, tuples, arrays, tensors, scalars.

    Arrays (and anything with ``.numpy()``, e.g. CPU tensors) contribute their dtype, shape and bytes, so
    one flipped bit anywhere changes the digest; the digest does not depend on dict insertion order.
    """
    h = hashlib.sha256()
    _feed(h, state)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    import numpy as np

    if isinstance(obj, Mapping):
        h.update(b"{")
        for key in sorted(obj, key=str):
            h.update(repr(key).encode() + b":")
            _feed(h, obj[key])
        h.update(b"}")
    elif isinstance(obj, list | tuple):
        h.update(b"[")
        for item in obj:
            _feed(h, item)
        h.update(b"]")
    elif isinstance(obj, np.ndarray | np.generic) or hasattr(obj, "numpy"):
        if hasattr(obj, "detach"):  # a torch tensor: compare its values on the CPU
            obj = obj.detach().cpu().contiguous().numpy()
        a = np.ascontiguousarray(obj)
        h.update(f"array:{a.dtype.str}:{a.shape}:".encode())
        h.update(a.tobytes())
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def seal(state: Any, meta: dict[str, Any]) -> str:
    """``meta`` as canonical JSON with ``"checksum"``: :func:`checksum` of ``state`` and the rest of ``meta``.

    What a checkpoint stores beside its arrays; :func:`unseal` verifies it when the file is read.
    """
    body = json.dumps(_clean(meta), sort_keys=True, default=_json_default)
    return json.dumps({**json.loads(body), "checksum": checksum([state, body])}, sort_keys=True)


def unseal(path: str | os.PathLike, state: Any, text: str) -> dict[str, Any]:
    """The meta of a checkpoint at ``path`` if its checksum matches ``state``; else a one-line
    :class:`RunDirError` (a corrupt file, or one written by a cnnlab without checksums)."""
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise RunDirError(f"{path}: unreadable metadata ({exc})") from None
    if not isinstance(meta, dict) or "checksum" not in meta:
        raise RunDirError(f"{path} carries no checksum (written by an older cnnlab?); train it again")
    digest = meta.pop("checksum")
    if checksum([state, json.dumps(meta, sort_keys=True)]) != digest:
        raise RunDirError(f"{path} is corrupt: its contents do not match the checksum it was saved with")
    return meta


class _Lock:
    """An exclusive ``flock`` on ``RUN/.lock``, held while one training writes the run directory.

    The file is removed on release (a finished run leaves no lock behind). Whoever locks checks that the
    file it locked is still the one at the path (not one a releasing process has just unlinked).
    """

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise RunDirError(
                    f"{self.path.parent} is being written by another training ({holder}); "
                    "wait for it to finish or choose another --out"
                ) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # unlinked by its last holder meanwhile: lock the new file
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            import fcntl

            with contextlib.suppress(OSError):
                os.unlink(self.path)
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


class RunDir:
    """A run directory: ``RunDir.create(path, config)`` starts one, ``RunDir.open(path)`` opens one."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock: _Lock | None = None

    # -- creating and opening -------------------------------------------------------------------
    @staticmethod
    def check_new(path: str | os.PathLike, overwrite: bool = False) -> None:
        """Raise :class:`RunDirError` unless a new run may start at ``path`` (the one "holds files" rule)."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunDirError(f"{path} exists and is not a directory")
        if path.is_dir() and any(p.name != LOCK for p in path.iterdir()):
            if not overwrite:
                raise RunDirError(
                    f"{path} already holds files; pass --resume to continue it or --overwrite to replace it"
                )
            if not (path / CONFIG).exists():
                raise RunDirError(f"{path} is not a cnnlab run directory; refusing to overwrite it")

    @classmethod
    def create(
        cls, path: str | os.PathLike, config: dict, overwrite: bool = False, lock: bool = False
    ) -> RunDir:
        """Start a run at ``path``. Refuses a non-empty directory unless ``overwrite``.

        With ``lock`` the directory's lock is taken first (see :meth:`lock`), so ``overwrite`` cannot
        replace a run another training is writing; the caller releases it with :meth:`unlock`.
        """
        run = cls(path)
        cls.check_new(run.path, overwrite)
        run.path.mkdir(parents=True, exist_ok=True)
        if lock:
            run.lock()
        try:
            for child in run.path.iterdir():
                if child.is_file() and child.name != LOCK:
                    child.unlink()
            run.write_config(config)
        except BaseException:
            run.unlock()
            raise
        return run

    def lock(self) -> RunDir:
        """Take the writer's lock (``RUN/.lock``); :class:`RunDirError` if another process holds it."""
        if self._lock is None:
            lock = _Lock(self.path / LOCK)
            lock.acquire()
            self._lock = lock
        return self

    def unlock(self) -> None:
        """Release the writer's lock (idempotent)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

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
        cfg = self.config
        suffix = cfg.get("checkpoint_suffix") or (".pt" if cfg.get("backend") == "torch" else ".npz")
        return self.path / f"{kind}{suffix}"

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
