"""Who handed in what: paths and class folders -> one entry per student.

- A ``.py`` / ``.ipynb`` file is one student, named by its stem.
- A folder holds students: each such file directly in it is one, and each sub-folder is one, named by
  the folder (``subs/alice/lab.ipynb`` -> ``alice``), with its submission found anywhere below it
  (hidden files and folders, ``__pycache__`` and ``.ipynb_checkpoints`` are ignored).
- Several candidate files in one student's folder: the one that defines the most of the lab's eight
  functions (read, not run), then a notebook before a ``.py``, then the most recently modified, then
  the first by name; the report warns which file was graded and which were not.
- A student folder with no candidate is a student with 0 marks and that reason, not an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.grading.lab import FUNCTIONS
from cnnlab.grading.submission import SUFFIXES, SubmissionError, load_submission

__all__ = ["Entry", "expand"]

_IGNORED_DIRS = {"__pycache__", ".ipynb_checkpoints", "__MACOSX"}
_MAX_DEPTH = 8  # folders below a student's folder that are searched


@dataclass
class Entry:
    """One student: ``name``, the file to grade (None: nothing found) and how it was chosen."""

    name: str
    path: Path | None
    warnings: list[str] = field(default_factory=list)
    missing: str = ""


def _candidates(folder: Path) -> list[Path]:
    """Regular files with a submission's suffix anywhere below ``folder``; links are not followed."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        deep = len(Path(root).relative_to(folder).parts) >= _MAX_DEPTH
        dirs[:] = [] if deep else sorted(d for d in dirs if not d.startswith(".") and d not in _IGNORED_DIRS)
        for name in sorted(files):
            path = Path(root, name)
            if (
                not name.startswith(".")
                and path.suffix in SUFFIXES
                and path.is_file()
                and not path.is_symlink()
            ):
                found.append(path)
    return sorted(found)


def _rank(path: Path) -> tuple[int, bool, float, str]:
    """Best first when sorted: most lab functions defined, a notebook, the newest, then the first name."""
    try:
        defined = len(load_submission(path).defined() & set(FUNCTIONS))
    except Exception:  # unreadable or odd: ranked last, and graded (or refused) like any file
        defined = -1
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return (defined, path.suffix == ".ipynb", mtime, str(path))


def _student_folder(folder: Path) -> Entry:
    found = _candidates(folder)
    if not found:
        return Entry(folder.name, None, missing=f"not graded: no .py or .ipynb file in {folder}")
    if len(found) == 1:
        return Entry(folder.name, found[0])
    ranks = {p: _rank(p) for p in found}
    ranked = sorted(found, key=lambda p: (-ranks[p][0], not ranks[p][1], -ranks[p][2], ranks[p][3]))
    chosen, others = ranked[0], ranked[1:]
    defined = ranks[chosen][0]
    warning = (
        f"{len(found)} candidate files in {folder.name}/; graded {chosen.relative_to(folder)} "
        f"(defines {max(defined, 0)} of the lab's {len(FUNCTIONS)} functions), not "
        + ", ".join(str(p.relative_to(folder)) for p in others)
    )
    return Entry(folder.name, chosen, [warning])


def expand(paths: list[Path]) -> list[Entry]:
    """One :class:`Entry` per student of ``paths`` (files and class folders), names made unique."""
    entries: list[Entry] = []
    for path in paths:
        if path.is_dir():
            inside = []
            for child in sorted(path.iterdir()):
                if child.name.startswith(".") or child.name in _IGNORED_DIRS or child.is_symlink():
                    continue
                if child.is_dir():
                    try:
                        inside.append(_student_folder(child))
                    except Exception as exc:  # anything odd in one student's folder: that student's row
                        reason = f"not graded: {child.name}/ could not be read ({type(exc).__name__})"
                        inside.append(Entry(child.name, None, missing=reason))
                elif child.suffix in SUFFIXES and child.is_file():
                    inside.append(Entry(child.stem, child))
            if not inside:
                raise SubmissionError(f"{path}: no .py or .ipynb files or student folders in this folder")
            entries += inside
        else:
            entries.append(Entry(path.stem, path))
    _unique(entries)
    return entries


def _unique(entries: list[Entry]) -> None:
    """Names that collide get the file name, then the path."""
    names = [e.name for e in entries]
    for e in entries:
        if names.count(e.name) > 1 and e.path is not None:
            e.name = (
                e.path.name
                if [x.path.name for x in entries if x.path].count(e.path.name) == 1
                else str(e.path)
            )
