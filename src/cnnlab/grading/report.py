"""What a grading says and how it is shown: text, JSON, CSV rows for a gradebook, feedback pages.

Everything a submission can influence (reasons, problems, notes, printed output, file and student
names) is untrusted text. It is shown with terminal control characters escaped (``\\x1b`` stays four
visible characters, so an exception message cannot clear the screen or fake "all checks passed"), and in
a CSV cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'`` so
a spreadsheet never runs it as a formula. Feedback pages are HTML with every such text escaped.
"""

from __future__ import annotations

import csv
import html
import re
from dataclasses import asdict, dataclass, field
from typing import IO, Any

__all__ = ["PARTS", "CheckResult", "Member", "Report", "clean", "csv_cell", "write_csv"]

TICK = "✓"
CROSS = "✘"
# Control characters, invisible and bidirectional marks, and lone surrogates (a file name that is not UTF-8).
_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: Any, *, multiline: bool = False) -> str:
    """``text`` with control characters escaped; one line unless ``multiline`` (newlines and tabs kept)."""
    pattern = _CONTROL if multiline else _CONTROL_LINE
    return pattern.sub(_escape_char, str(text))


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs: numbers as they are, text cleaned and formula-quoted."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = clean(value)
    return "'" + text if text.startswith(_FORMULA) else text


#: The lab's three marked parts, in the notebook's order (the identity checks carry no marks).
PARTS = ("functions", "exercise 8", "part 2")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: what the JSON output, the CSV and the feedback show.

    ``part``: one of :data:`PARTS` (or ``"identity"``). ``available``: False for a check that could not
    be run here (Part 2's accuracy without ``--data``): it counts in neither the marks nor the total.
    ``detail``: what was measured, for a pass as for a failure (``"test accuracy 62.86% (88 of 140)"``).
    """

    exercise: str
    check: str
    marks: int
    max: int
    passed: bool
    reason: str = ""
    hint: str = ""
    part: str = "functions"
    available: bool = True
    detail: str = ""  # what was measured, shown with a pass too (Part 2's test accuracy)

    @property
    def key(self) -> str:
        return f"{self.exercise}/{self.check}"


@dataclass(frozen=True)
class Member:
    """One student of the pair that handed it in (the lab's ``carne_N``, ``firma_mecanografiada_N``)."""

    carne: str
    name: str


@dataclass
class Report:
    """The marks of one submission: one :class:`CheckResult` per check, and where they came from.

    ``problems``: what cost marks while reading or loading (syntax errors, definitions that failed);
    ``skipped``: imports of course scaffolding the grader does not have (they cost nothing);
    ``notes``: NumPy-1 idioms the grader ran as NumPy 1.26 would, with the way to write them for NumPy 2;
    ``warnings``: how the submission was picked from a student's folder.
    """

    student: str
    checks: list[CheckResult]
    submission: str = ""
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    output: str = ""
    members: list[Member] = field(default_factory=list)
    scheme: str = "full"
    seed: int | None = None
    isolation: str = ""
    numpy: str = ""
    grader: str = ""

    @property
    def total(self) -> int:
        return sum(c.marks for c in self.checks if c.available)

    @property
    def available(self) -> int:
        return sum(c.max for c in self.checks if c.available)

    def parts(self) -> dict[str, tuple[int, int]]:
        """``{part: (marks, available)}`` for each of :data:`PARTS` this report has checks of."""
        out = {}
        for part in PARTS:
            checks = [c for c in self.checks if c.part == part and c.available]
            if any(c.part == part for c in self.checks):
                out[part] = (sum(c.marks for c in checks), sum(c.max for c in checks))
        return out

    @property
    def percentage(self) -> float:
        return round(100.0 * self.total / self.available, 1) if self.available else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Everything, as JSON-ready data (text cleaned of control characters)."""
        return {
            "student": clean(self.student),
            "members": [{"carne": clean(m.carne), "name": clean(m.name)} for m in self.members],
            "submission": clean(self.submission),
            "total": self.total,
            "available": self.available,
            "percentage": self.percentage,
            "parts": {p: {"marks": m, "available": a} for p, (m, a) in self.parts().items()},
            "scheme": self.scheme,
            "seed": self.seed,
            "checks": [
                {k: clean(v) if isinstance(v, str) else v for k, v in asdict(c).items()} for c in self.checks
            ],
            "problems": [clean(p) for p in self.problems],
            "skipped": [clean(p) for p in self.skipped],
            "notes": [clean(p) for p in self.notes],
            "warnings": [clean(p) for p in self.warnings],
            "output": clean(self.output, multiline=True),
            "isolation": self.isolation,
            "numpy": self.numpy,
            "grader": self.grader,
        }

    def format_text(self) -> str:
        """One line per check (exercise, ✓/✘/- (not graded here), marks, the reason of a failure), a subtotal
        per part, problems, notes, skipped imports, how it was graded, then ``N / M marks``."""
        width = max((len(c.exercise) for c in self.checks), default=0)
        check_width = max((len(c.check) for c in self.checks), default=0)
        lines = []
        parts = self.parts()
        for i, c in enumerate(self.checks):
            mark = TICK if c.passed else ("-" if not c.available else CROSS)
            got = f"{c.marks:>2}" if c.available else " -"  # not graded here: no mark, not even 0
            line = f"{c.exercise:<{width}}  {c.check:<{check_width}}  {mark}  {got}/{c.max:<2}"
            lines.append(
                (f"{line}  {clean(c.detail)}" if c.detail else line.rstrip())
                if c.passed
                else f"{line}  {clean(c.reason)}"
            )
            last = i + 1 == len(self.checks) or self.checks[i + 1].part != c.part
            if last and c.part in parts and len(parts) > 1:
                got, out_of = parts[c.part]
                left = sum(x.max for x in self.checks if x.part == c.part and not x.available)
                more = f" (+{left} not graded here)" if left else ""
                lines.append(f"{'':<{width}}  = {c.part}: {got} / {out_of}{more}")
        lines += [f"problem: {clean(p)}" for p in self.problems]
        lines += [f"warning: {clean(p)}" for p in self.warnings]
        lines += [f"numpy: {clean(p)}" for p in self.notes]
        lines += [f"skipped import (costs nothing): {clean(p)}" for p in self.skipped]
        if self.isolation:  # a sandboxed grading (not grade_functions in a notebook): how it was graded
            seed = f", seed {self.seed}" if self.seed is not None else ""
            lines.append(
                f"graded: scheme {self.scheme}{seed}; isolation {self.isolation}; NumPy {self.numpy}; "
                f"cnnlab {self.grader}"
            )
        lines.append(f"{self.total} / {self.available} marks")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_text()

    def _repr_pretty_(self, p, cycle: bool) -> None:  # IPython in a terminal
        p.text(self.format_text())

    def _repr_html_(self) -> str:
        from cnnlab.grading.marks import MarkRecord, Summary

        records = [
            MarkRecord(c.key, c.marks, c.max if c.available else 0, c.passed, clean(c.reason))
            for c in self.checks
        ]
        return Summary(records, clean(self.student))._repr_html_()

    def rows(self) -> list[tuple[str, str]]:
        """``(student, carne)`` per CSV row: each member of the pair, else the submission's own name."""
        if self.members:
            return [(m.name or self.student, m.carne) for m in self.members]
        return [(self.student, "")]

    def feedback_html(self, name: str) -> str:
        """A self-contained page for one student: each check, its marks, the reason and a hint."""
        e = html.escape
        rows = []
        for c in self.checks:
            sign, colour = (TICK, "#1a7f37") if c.passed else (CROSS, "#cf222e")
            if not c.available:
                sign, colour = "-", "#57606a"
            reason = e(clean(c.detail)) if c.passed else e(clean(c.reason))
            hint = "" if c.passed else e(clean(c.hint))
            rows.append(
                f'<tr><td style="color:{colour}">{sign}</td><td>{e(c.exercise)}</td><td>{e(c.check)}</td>'
                f"<td>{c.marks} / {c.max}</td><td>{reason}</td><td>{hint}</td></tr>"
            )
        parts = "".join(f"<li>{e(p)}: {m} / {a}</li>" for p, (m, a) in self.parts().items())
        extra = f"<h2>Parts</h2><ul>{parts}</ul>" if parts else ""
        for title, items in (
            ("Problems", self.problems),
            ("Warnings", self.warnings),
            ("NumPy 2", self.notes),
            ("Skipped imports (cost nothing)", self.skipped),
        ):
            if items:
                extra += f"<h2>{title}</h2><ul>" + "".join(f"<li>{e(clean(i))}</li>" for i in items) + "</ul>"
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{e(clean(name))}: {self.total} / {self.available}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
            "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;"
            "text-align:left;vertical-align:top}</style></head><body>"
            f"<h1>{e(clean(name))}: {self.total} / {self.available} marks ({self.percentage}%)</h1>"
            f"<p>Submission: {e(clean(self.submission))}. Scheme: {e(self.scheme)}"
            + (f", seed {self.seed}" if self.seed is not None else "")
            + f". Graded by cnnlab {e(self.grader)} with NumPy {e(self.numpy)}.</p>"
            "<table><tr><th></th><th>exercise</th><th>check</th><th>marks</th><th>reason</th><th>hint</th></tr>"
            + "".join(rows)
            + f"</table>{extra}</body></html>"
        )


def csv_header(check_keys: list[str]) -> list[str]:
    return [
        "student",
        "carne",
        "handed_in_as",
        "total",
        "percentage",
        "available",
        *PARTS,
        "part 2 accuracy",
        *check_keys,
        "scheme",
        "seed",
        "isolation",
        "numpy",
        "grader",
        "submission",
        "problems",
        "notes",
    ]


def write_csv(reports: list[Report], out: IO[str]) -> None:
    """One row per student (each member of a pair gets the pair's marks); every text cell made safe."""
    keys: list[str] = []
    for r in reports:
        keys += [c.key for c in r.checks if c.key not in keys]
    writer = csv.writer(out)
    writer.writerow(csv_header(keys))
    for r in reports:
        marks = {c.key: c.marks if c.available else "" for c in r.checks}
        for student, carne in r.rows():
            row = [student, carne, r.student, r.total, r.percentage, r.available]
            parts = r.parts()
            row += [parts[p][0] if p in parts else "" for p in PARTS]
            row.append(next((c.detail for c in r.checks if c.part == "part 2" and c.detail), ""))
            row += [marks.get(k, 0) for k in keys]
            row += [r.scheme, r.seed if r.seed is not None else "", r.isolation, r.numpy, r.grader]
            row += [r.submission, " | ".join(r.problems[:20]), " | ".join(r.notes[:20])]
            writer.writerow([csv_cell(v) for v in row])
