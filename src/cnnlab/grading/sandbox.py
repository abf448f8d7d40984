"""Grade an untrusted submission in a child process: time, memory and output limits; crashes contained.

Each submission runs in its own worker process (:mod:`cnnlab.grading._worker`), started as
``python -I _worker.py`` (isolated mode: no ``PYTHON*`` variables, no user site, no script directory on
``sys.path``) with a clean environment, a fresh temporary directory as working directory, ``HOME`` and
``TMPDIR``, stdin from ``/dev/null``, in its own session (so it and anything it starts can be killed
together). Before it loads the student's code the worker lowers its own limits with
``resource.setrlimit``: address space (``RLIMIT_AS``, ``Limits.memory_mb``), CPU seconds (a backstop that
outlives the parent), file size, no core files; and it refuses ``import cnnlab``.

The parent sends one call at a time (the lab's inputs, see :mod:`cnnlab.grading.lab`) and waits at most
``Limits.timeout`` seconds for it, within ``Limits.total_timeout`` for the whole submission. What the
submission prints is captured, counted and truncated. Whatever goes wrong costs the checks of the call it
happened in, with a reason, and the next call gets a fresh worker:

- an infinite loop -> "time limit: no answer within 2 s" (the worker is killed);
- a huge allocation -> ``MemoryError`` inside the call (the address-space limit), or the worker is killed;
- ``sys.exit()`` -> "called sys.exit(...)"; ``os._exit()`` -> "the process exited with code N";
- a segfault -> "crashed: segmentation fault (SIGSEGV)";
- printing more than ``Limits.max_output`` bytes -> "printed more than 1 MiB" (the worker is killed).

Answers come back over a private pipe, not stdout, as arrays that the *parent* hashes and compares, with a
random token on every message; printing a fake answer does nothing. This protects the grader from
accidents and from crude attacks; it is not a security boundary (no namespaces, no seccomp, no network
isolation, the file system is readable and writable as the grader's user): a submission that goes out of
its way to cheat runs in the same process as the calls, so read the code of a suspicious full score. The
limits are Linux's (``RLIMIT_AS`` is not enforced on macOS).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.grading import _worker
from cnnlab.grading.lab import CALLS, Report, evaluate_call
from cnnlab.grading.submission import Submission, SubmissionError, load_submission

__all__ = ["Limits", "grade_submission", "grade_submissions", "reference_submission"]

WORKER = Path(_worker.__file__).resolve()
_MAX_REPLY = 256 * 2**20


@dataclass(frozen=True)
class Limits:
    """Limits for one submission.

    timeout : seconds for one call of a student's function
    total_timeout : seconds for the whole submission (all calls, loading and restarts)
    load_timeout : seconds to start a worker and load the submission (default ``max(2*timeout, 20)``)
    memory_mb : address-space limit of the worker (``RLIMIT_AS``), in MiB
    max_output : bytes a submission may print during one call or while loading
    keep_output : characters of the printed output kept in the report
    """

    timeout: float = 10.0
    total_timeout: float = 120.0
    load_timeout: float | None = None
    memory_mb: int = 2048
    max_output: int = 2**20
    keep_output: int = 4000

    def __post_init__(self) -> None:
        for name in ("timeout", "total_timeout", "memory_mb", "max_output"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits: {name} must be > 0, got {getattr(self, name)!r}")

    @property
    def load_limit(self) -> float:
        return self.load_timeout if self.load_timeout is not None else max(2 * self.timeout, 20.0)


class _Failure(Exception):
    """The worker did not answer: the reason, and whether it is gone (a fresh one is needed)."""


def _signal_reason(returncode: int) -> str:
    sig = -returncode
    if sig == signal.SIGSEGV:
        return "crashed: segmentation fault (SIGSEGV)"
    if sig == signal.SIGXCPU:
        return "killed: CPU time limit (SIGXCPU)"
    if sig == signal.SIGKILL:
        return "killed (SIGKILL; out of memory?)"
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    return f"crashed: killed by {name}"


class _Output:
    """What a submission prints: counted per phase, the first ``keep`` bytes kept."""

    def __init__(self, keep: int):
        self.keep = keep
        self.kept = bytearray()
        self.total = 0
        self.phase = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        self.phase += len(data)
        room = self.keep - len(self.kept)
        if room > 0:
            self.kept += data[:room]

    def text(self) -> str:
        text = self.kept.decode("utf-8", errors="replace")
        if self.total > len(self.kept):
            text += f"\n[... {self.total - len(self.kept)} more bytes not kept]"
        return text


class _Worker:
    """One worker process and its pipes; every wait has a deadline and drains stdout."""

    def __init__(self, submission: Submission, limits: Limits, workdir: str, output: _Output, allow: bool):
        self.limits = limits
        self.output = output
        self.token = secrets.token_hex(16)
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        env = {
            "PATH": os.defpath,
            "HOME": workdir,
            "TMPDIR": workdir,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": workdir,
        }
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", str(WORKER), str(cmd_r), str(res_w)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=env,
                pass_fds=(cmd_r, res_w),
                start_new_session=True,
            )
        except BaseException:
            os.close(self.cmd_w)
            os.close(self.res_r)
            raise
        finally:
            os.close(cmd_r)
            os.close(res_w)
        for fd in (self.cmd_w, self.res_r, self.proc.stdout.fileno()):
            os.set_blocking(fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ, "out")
        self.selector.register(self.res_r, selectors.EVENT_READ, "res")
        self.pending = b""
        self.replies = bytearray()
        self.problems: list[str] = []  # what went wrong while loading (failed imports...)
        self.hello = {
            "token": self.token,
            "allow_cnnlab": allow,
            "limits": {
                "memory_mb": limits.memory_mb,
                "fsize_mb": 64,
                "cpu_s": math.ceil(limits.total_timeout) + 5,
            },
            "chunks": [[c.label, c.source] for c in submission.chunks],
        }

    # ------------------------------------------------------------------------------------ protocol

    def request(self, message: dict[str, Any], deadline: float, what: str) -> dict[str, Any]:
        """Send ``message`` and wait for the worker's answer; raise :class:`_Failure` (why) if none comes."""
        self.output.phase = 0
        self.pending = (json.dumps(message) + "\n").encode("utf-8")
        self.selector.register(self.cmd_w, selectors.EVENT_WRITE, "cmd")
        try:
            return self._wait(deadline, what)
        finally:
            if self.cmd_w in self.selector.get_map():
                self.selector.unregister(self.cmd_w)

    def _wait(self, deadline: float, what: str) -> dict[str, Any]:
        while True:
            reply = self._next_reply()
            if reply is not None:
                return reply
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise _Failure(what)
            for key, _ in self.selector.select(min(remaining, 0.1)):
                if key.data == "cmd":
                    self._write_pending()
                elif key.data == "out":
                    data = _read(key.fd)
                    if data is None:
                        continue
                    if not data:
                        self.selector.unregister(key.fileobj)
                    self.output.add(data)
                    if self.output.phase > self.limits.max_output:
                        self.kill()
                        raise _Failure(f"printed more than {_size(self.limits.max_output)} of output")
                else:
                    data = _read(key.fd)
                    if data is None:
                        continue
                    if not data:
                        self.selector.unregister(key.fd)
                    self.replies += data
                    if len(self.replies) > _MAX_REPLY:
                        self.kill()
                        raise _Failure("the answer is too large")
            if self._exited():
                self.kill()  # the whole session: nothing the submission started keeps a pipe open
                self._drain()
                reply = self._next_reply()
                if reply is not None:
                    return reply
                code = self.proc.returncode
                if code < 0:
                    raise _Failure(_signal_reason(code))
                raise _Failure(f"the process exited with code {code} (os._exit?)")

    def _write_pending(self) -> None:
        try:
            written = os.write(self.cmd_w, self.pending)
        except BlockingIOError:
            return
        except BrokenPipeError:  # the worker is gone; its exit is noticed by the caller
            written = len(self.pending)
        self.pending = self.pending[written:]
        if not self.pending:
            self.selector.unregister(self.cmd_w)

    def _drain(self) -> None:
        for key in list(self.selector.get_map().values()):
            if key.data == "cmd":
                continue
            while True:
                try:
                    data = os.read(key.fd, 1 << 20)
                except BlockingIOError:  # a writer outside the killed session still holds the pipe
                    break
                if not data:
                    break
                if key.data == "out":
                    self.output.add(data)
                elif len(self.replies) < _MAX_REPLY:
                    self.replies += data

    def _next_reply(self) -> dict[str, Any] | None:
        while b"\n" in self.replies:
            line, _, rest = bytes(self.replies).partition(b"\n")
            self.replies = bytearray(rest)
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not ours: ignore
            if isinstance(message, dict) and message.get("token") == self.token:
                return message
        return None

    def _exited(self) -> bool:
        """Whether the worker has ended, without reaping it (so its group id stays ours until kill())."""
        if self.proc.returncode is not None:
            return True
        if not hasattr(os, "waitid"):  # pragma: no cover - macOS
            return self.proc.poll() is not None
        try:
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # pragma: no cover - already reaped
            return True
        return info is not None

    def kill(self) -> None:
        """Kill the worker and everything in its session, then reap it."""
        if self.proc.returncode is None:
            # Before wait(): until the worker is reaped its group id cannot be given to anyone else.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        self.selector.close()
        for fd in (self.cmd_w, self.res_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _read(fd: int) -> bytes | None:
    """Up to 1 MiB from a non-blocking pipe: b"" at end of file, None when nothing is there after all."""
    try:
        return os.read(fd, 1 << 20)
    except BlockingIOError:
        return None


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n % 2**20 == 0 else f"{n} bytes"


def grade_submission(
    submission: str | Path | Submission,
    limits: Limits | None = None,
    *,
    student: str | None = None,
    allow_cnnlab: bool = False,
) -> Report:
    """Grade one ``.py`` / ``.ipynb`` file (or a loaded :class:`Submission`) in a sandboxed worker.

    Returns a :class:`~cnnlab.grading.lab.Report` with one :class:`CheckResult` per check of the lab.
    Raises :class:`~cnnlab.grading.submission.SubmissionError` only when the file cannot be read at all;
    everything the code does wrong is a failed check with a reason.
    """
    limits = limits or Limits()
    sub = submission if isinstance(submission, Submission) else load_submission(submission)
    report = Report(student or sub.student, [], submission=str(sub.path))
    report.problems += [str(p) for p in sub.syntax_errors]
    if not sub.chunks:
        reason = f"not graded: {report.problems[0] if report.problems else 'the file has no code'}"
        for call in CALLS:
            report.checks += evaluate_call(call.name, (False, reason))
        return report

    output = _Output(limits.keep_output)
    start = time.monotonic()
    total_deadline = start + limits.total_timeout
    worker: _Worker | None = None
    fatal: str | None = None  # a load that failed: no point in restarting
    out_of_time = f"the total time limit ({limits.total_timeout:g} s) ran out"
    with tempfile.TemporaryDirectory(prefix="cnnlab-grade-") as workdir:
        try:
            for call in CALLS:
                outcome: tuple[bool, Any]
                if fatal is None and worker is None and time.monotonic() < total_deadline:
                    worker, fatal = _start(sub, limits, workdir, output, allow_cnnlab, total_deadline)
                    if worker is not None:
                        report.problems += [p for p in worker.problems if p not in report.problems]
                    elif time.monotonic() >= total_deadline:  # the load was cut short by the total limit
                        fatal = None
                if fatal is not None:
                    outcome = (False, fatal)
                elif worker is None:
                    outcome = (False, f"not run: {out_of_time}")
                else:
                    outcome, gone = _call(worker, call, limits, total_deadline, report.problems)
                    if gone:
                        worker.close()
                        worker = None
                report.checks += evaluate_call(call.name, outcome)
        finally:
            if worker is not None:
                worker.close()
    report.output = output.text()
    return report


def _start(
    sub: Submission,
    limits: Limits,
    workdir: str,
    output: _Output,
    allow: bool,
    total_deadline: float,
) -> tuple[_Worker | None, str | None]:
    worker = _Worker(sub, limits, workdir, output, allow)
    deadline = min(time.monotonic() + limits.load_limit, total_deadline)
    try:
        hello = worker.request(worker.hello, deadline, f"loading took longer than {limits.load_limit:g} s")
    except _Failure as exc:
        worker.close()
        return None, f"the submission could not be loaded: {exc}"
    worker.problems = [str(p) for p in hello.get("problems", [])]
    return worker, None


def _call(
    worker: _Worker, call: Any, limits: Limits, total_deadline: float, problems: list[str]
) -> tuple[tuple[bool, Any], bool]:
    """Run one call: ``((ok, value-or-reason), worker_gone)``; a missing function names ``problems[0]``."""
    args, kwargs = call.make_inputs()
    message = {"call": call.name, "function": call.function, "args": _worker.encode(args)}
    message["kwargs"] = _worker.encode(kwargs)
    now = time.monotonic()
    per_call = now + limits.timeout
    deadline = min(per_call, total_deadline)
    limit_reason = (
        f"time limit: no answer within {limits.timeout:g} s"
        if per_call <= total_deadline
        else f"the total time limit ({limits.total_timeout:g} s) ran out"
    )
    try:
        reply = worker.request(message, deadline, limit_reason)
    except _Failure as exc:
        return (False, str(exc)), True
    if reply.get("call") != call.name or reply.get("event") != "result":
        return (False, "the worker answered out of turn"), True
    if not reply.get("ok"):
        reason = str(reply.get("reason", "failed"))
        if reason.startswith("missing:") and problems:
            reason += f" ({problems[0]})"
        return (False, reason), False
    try:
        return (True, _worker.decode(reply.get("value"))), False
    except Exception as exc:  # a malformed answer: treat as wrong, keep going
        return (False, f"the answer could not be read back ({type(exc).__name__})"), False


def grade_submissions(
    submissions: Sequence[str | Path | Submission],
    limits: Limits | None = None,
    *,
    jobs: int = 1,
    names: Sequence[str] | None = None,
    allow_cnnlab: bool = False,
    unreadable: str = "report",
) -> list[Report]:
    """Grade several submissions (``jobs`` at a time, each in its own worker); reports in input order.

    ``names`` are the students' names (default: the file stems). A file that cannot be read at all gets a
    report with 0 marks and the reason (``unreadable="report"``) or raises ``SubmissionError`` ("raise").
    """
    if unreadable not in ("report", "raise"):
        raise ValueError(f"grade_submissions: unreadable must be 'report' or 'raise', got {unreadable!r}")
    names = list(names) if names is not None else [None] * len(submissions)
    if len(names) != len(submissions):
        raise ValueError(f"grade_submissions: {len(names)} names for {len(submissions)} submissions")

    def one(item: str | Path | Submission, name: str | None) -> Report:
        try:
            return grade_submission(item, limits, student=name, allow_cnnlab=allow_cnnlab)
        except SubmissionError as exc:
            if unreadable == "raise":
                raise
            path = Path(item.path if isinstance(item, Submission) else item)
            report = Report(name or path.stem, [], submission=str(path), problems=[str(exc)])
            for call in CALLS:
                report.checks += evaluate_call(call.name, (False, f"not graded: {exc}"))
            return report

    if jobs <= 1 or len(submissions) <= 1:
        return [one(s, n) for s, n in zip(submissions, names, strict=True)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, s, n) for s, n in zip(submissions, names, strict=True)]
        return [f.result() for f in futures]


def reference_submission(module: str) -> Submission:
    """A submission that imports the lab's eight functions from ``module`` (``cnnlab.ops.loops``...)."""
    from cnnlab.grading.lab import FUNCTIONS
    from cnnlab.grading.submission import submission_from_source

    return submission_from_source(module, f"from {module} import {', '.join(FUNCTIONS)}\n")
