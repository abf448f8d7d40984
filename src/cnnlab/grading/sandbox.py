"""Run an untrusted submission's functions in a worker process: isolated, limited, always answered.

:func:`run_requests` starts a worker (:mod:`cnnlab.grading.worker`) under the isolation of
:mod:`cnnlab.grading.isolation` (or, with ``isolation=NONE``, as a plain child process), sends it the
submission's statements, then one :class:`Request` at a time, and returns one :class:`Answer` per
request. Whatever the submission does costs only the requests it happened in, with a reason, and the
next request gets a fresh worker:

- an infinite loop -> "time limit: no answer within 2 s" (the worker is killed);
- a huge allocation -> ``MemoryError`` inside the call (``RLIMIT_AS``), or the worker is killed;
- ``sys.exit()`` -> "called sys.exit(...)"; ``os._exit()`` -> "the process exited with code N";
- a segfault -> "crashed: segmentation fault (SIGSEGV)";
- printing more than ``Limits.max_output`` bytes -> "printed more than 1 MiB" (the worker is killed);
- a reply that is not a well-formed message (too large, too deep, garbage) -> "the answer could not be
  read back" (the worker is killed).

Limits: ``Limits.timeout`` per request, ``Limits.total_timeout`` per submission, the address space,
CPU seconds, file size and open files (set by the worker itself, soft and hard), and a scratch tmpfs of
``Limits.scratch_mb``. Replies are read with a byte cap and parsed without recursion
(:mod:`cnnlab.grading.worker.protocol`); the values are judged by the grader, never trusted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab.grading import isolation as iso
from cnnlab.grading.worker import protocol

__all__ = ["Answer", "Limits", "LoadResult", "Request", "run_requests"]

_BOOT = (
    "import sys; sys.path[:0] = [sys.argv[1]]; from cnnlab_worker import main; "
    "sys.exit(main.main(sys.argv[1:]))"
)


@dataclass(frozen=True)
class Limits:
    """Limits for one submission.

    timeout : seconds for one call of a student's function
    total_timeout : seconds for the whole submission (all calls, loading and restarts)
    load_timeout : seconds to start a worker and load the submission (default ``max(2*timeout, 20)``)
    memory_mb : address-space limit of the worker (``RLIMIT_AS``, all its threads together), in MiB
    max_output : bytes a submission may print during one call or while loading
    keep_output : characters of the printed output kept in the report
    scratch_mb : size of the worker's writable tmpfs (isolated workers only)
    """

    timeout: float = 10.0
    total_timeout: float = 120.0
    load_timeout: float | None = None
    memory_mb: int = 2048
    max_output: int = 2**20
    keep_output: int = 4000
    scratch_mb: int = 64

    def __post_init__(self) -> None:
        for name in ("timeout", "total_timeout", "memory_mb", "max_output", "scratch_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits: {name} must be > 0, got {getattr(self, name)!r}")

    @property
    def load_limit(self) -> float:
        return self.load_timeout if self.load_timeout is not None else max(2 * self.timeout, 20.0)


@dataclass(frozen=True)
class Request:
    """One call: ``function(*args, **kwargs)`` in the submission's namespace."""

    function: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    group: str = ""  # once a request of a group fails, the group's later ones are not run
    #: a worker helper that gets the student's ``function`` as its first argument (see worker/helpers.py)
    helper: str = ""
    #: computed here, in the grader, from the answers so far (the run's, in order: the last one is the
    #: previous request's): ``(args, kwargs)`` replacing the fixed ones, for a chain of calls each on the
    #: result of the last; raising fails this request with "not run: " and the reason
    make_args: Callable[[Sequence[Answer]], tuple[tuple[Any, ...], dict[str, Any]]] | None = field(
        default=None, compare=False
    )
    timeout: float | None = None  # seconds for this call (default: Limits.timeout)


@dataclass(frozen=True)
class Answer:
    """What came back: ``ok`` with the ``value``, or not with the ``reason``; ``notes`` met on the way."""

    ok: bool
    value: Any = None
    reason: str = ""
    notes: tuple[str, ...] = ()


@dataclass
class LoadResult:
    """What loading said: problem records (see :mod:`cnnlab.grading.worker.loader`), notes, output."""

    problems: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    output: str = ""
    failure: str = ""  # the submission could not be loaded at all


class _Failure(Exception):
    """The worker did not answer; it is gone and a fresh one is needed."""


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


def _read(fd: int) -> bytes | None:
    """Up to 1 MiB from a non-blocking pipe: b"" at end of file, None when nothing is there after all."""
    try:
        return os.read(fd, 1 << 20)
    except BlockingIOError:
        return None


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n % 2**20 == 0 else f"{n} bytes"


class _Worker:
    """One worker process and its pipes; every wait has a deadline and drains the output."""

    def __init__(
        self,
        limits: Limits,
        isolation: iso.Isolation,
        workdir: str,
        output: _Output,
        packages: tuple[str, ...] = (),
    ):
        self.limits = limits
        self.output = output
        self.sandboxed = isolation.sandboxed
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        fds = [cmd_r, res_w]
        try:
            if isolation.sandboxed:
                seccomp = iso.seccomp_fd()
                fds.append(seccomp)
                full = iso.command(
                    ["-c", _BOOT, iso.SANDBOX_LIB, str(cmd_r), str(res_w)],
                    scratch_mb=limits.scratch_mb,
                    seccomp_fd=seccomp,
                    packages=packages,
                )
                # The options travel on a file descriptor (--args), so the sandbox's /proc/1/cmdline
                # shows none of the grader's paths.
                split = full.index("--")
                args_fd = iso.args_fd(full[1:split])
                fds.append(args_fd)
                argv = [full[0], "--args", str(args_fd), *full[split:]]
                env = {"PATH": os.defpath}  # bubblewrap clears it for the worker (--clearenv)
                cwd = workdir
            else:  # --no-isolation: a plain child process of this environment's Python
                lib = Path(workdir, ".lib")
                lib.mkdir(exist_ok=True)
                link = lib / "cnnlab_worker"
                if not link.exists():
                    link.symlink_to(iso.WORKER_PACKAGE.resolve(), target_is_directory=True)
                argv = [sys.executable, "-I", "-c", _BOOT, str(lib), str(cmd_r), str(res_w)]
                env = iso.sandbox_env(workdir)
                cwd = workdir
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                pass_fds=tuple(fds),
                start_new_session=True,
            )
        except BaseException:
            os.close(self.cmd_w)
            os.close(self.res_r)
            raise
        finally:
            for fd in fds:
                os.close(fd)
        for fd in (self.cmd_w, self.res_r, self.proc.stdout.fileno()):
            os.set_blocking(fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ, "out")
        self.selector.register(self.res_r, selectors.EVENT_READ, "res")
        self.pending = b""
        self.replies = bytearray()

    def request(self, message: dict[str, Any], deadline: float, what: str) -> dict[str, Any]:
        """Send ``message``, wait for one reply; raise :class:`_Failure` (why) if none comes."""
        self.output.phase = 0
        self.pending = protocol.dumps(message)
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
                    continue
                data = _read(key.fd)
                if data is None:
                    continue
                if not data:
                    self.selector.unregister(key.fileobj)
                if key.data == "out":
                    self.output.add(data)
                    if self.output.phase > self.limits.max_output:
                        self.kill()
                        raise _Failure(f"printed more than {_size(self.limits.max_output)} of output")
                else:
                    self.replies += data
                    if len(self.replies) > protocol.MAX_MESSAGE + 1 and b"\n" not in self.replies:
                        self.kill()
                        raise _Failure("the answer could not be read back (larger than the limit)")
            if self._exited():
                self.kill()
                self._drain()
                reply = self._next_reply()
                if reply is not None:
                    return reply
                code = self.proc.returncode
                if code < 0:
                    raise _Failure(_signal_reason(code))
                if self.sandboxed and 128 < code < 128 + 65:  # bubblewrap reports a signal as 128 + N
                    raise _Failure(_signal_reason(128 - code))
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
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                if key.data == "out":
                    self.output.add(data)
                elif len(self.replies) <= protocol.MAX_MESSAGE + 1:
                    self.replies += data

    def _next_reply(self) -> dict[str, Any] | None:
        if b"\n" not in self.replies:
            return None
        line, _, rest = bytes(self.replies).partition(b"\n")
        self.replies = bytearray(rest)
        try:
            message = protocol.loads(line)
        except protocol.ProtocolError as exc:
            self.kill()
            raise _Failure(f"the answer could not be read back ({exc})") from None
        if not isinstance(message, dict) or not isinstance(message.get("event"), str):
            self.kill()
            raise _Failure("the answer could not be read back (not a reply)")
        return message

    def _exited(self) -> bool:
        """Whether the worker has ended, without reaping it (so its group id stays ours until kill())."""
        if self.proc.returncode is not None:
            return True
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


def _text_list(value: Any, limit: int = 200) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v)[:500] for v in value[:limit] if isinstance(v, str)]


def _problem_list(value: Any) -> list[dict[str, Any]]:
    """The worker's problem records, kept only in their documented shape (the worker is untrusted)."""
    out = []
    for record in value[:200] if isinstance(value, list) else []:
        if not isinstance(record, dict):
            continue
        kind = record.get("kind")
        line = record.get("line")
        out.append(
            {
                "kind": kind if kind in ("load", "import") else "load",
                "where": str(record.get("where", ""))[:200],
                "line": line if isinstance(line, int) and not isinstance(line, bool) else 0,
                "message": str(record.get("message", ""))[:500],
                "names": _text_list(record.get("names"), 50),
            }
        )
    return out


def run_requests(
    units: Sequence[dict[str, Any]],
    requests: Sequence[Request],
    limits: Limits | None = None,
    isolation: iso.Isolation = iso.NONE,
    *,
    block_cnnlab: bool = True,
    packages: tuple[str, ...] = (),
) -> tuple[LoadResult, list[Answer]]:
    """Load ``units`` in a worker and answer each request; a crash costs that request, then a fresh worker.

    ``units`` are ``{"label", "line", "source"}`` (see :func:`cnnlab.grading.submission.units`). Returns
    what loading said and one :class:`Answer` per request, in order. Never raises for what the
    submission does. ``packages``: distributions the sandbox makes importable besides NumPy
    (``("torch",)`` for Part 2; see :func:`cnnlab.grading.isolation.package_dirs`).
    """
    limits = limits or Limits()
    output = _Output(limits.keep_output)
    loaded = LoadResult()
    answers: list[Answer] = []
    total_deadline = time.monotonic() + limits.total_timeout
    hello = {
        "limits": {
            "memory_mb": limits.memory_mb,
            "fsize_mb": min(64, limits.scratch_mb),
            "cpu_s": math.ceil(limits.total_timeout) + 5,
        },
        "units": [dict(u) for u in units],
        "block_cnnlab": block_cnnlab,
    }
    worker: _Worker | None = None
    first_load = True
    failed_groups: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="cnnlab-grade-") as workdir:
        try:
            for index, request in enumerate(requests):
                if loaded.failure:
                    answers.append(Answer(False, reason=loaded.failure))
                    continue
                if time.monotonic() >= total_deadline:
                    answers.append(Answer(False, reason=f"not run: {_out_of_time(limits)}"))
                    continue
                if request.group and request.group in failed_groups:
                    answers.append(Answer(False, reason="not run: an earlier case of this call failed"))
                    continue
                if worker is None:
                    worker, failure, said = _start(
                        hello, limits, isolation, workdir, output, total_deadline, packages
                    )
                    if failure is not None:
                        if time.monotonic() >= total_deadline:
                            failure = f"not run: {_out_of_time(limits)}"
                        else:
                            loaded.failure = failure
                        answers.append(Answer(False, reason=failure))
                        continue
                    if first_load:
                        loaded.problems = _problem_list(said.get("problems"))
                        loaded.notes = _text_list(said.get("notes"))
                        first_load = False
                if request.make_args is not None:
                    try:
                        args, kwargs = request.make_args(answers)
                    except Exception as exc:  # the earlier answers cannot be used: this call is not run
                        answers.append(Answer(False, reason=f"not run: {exc}"))
                        failed_groups.add(request.group)
                        continue
                    request = dataclasses.replace(
                        request, args=tuple(args), kwargs=dict(kwargs), make_args=None
                    )
                answer, gone = _call(worker, index, request, limits, total_deadline)
                answers.append(answer)
                if not answer.ok:
                    failed_groups.add(request.group)
                if gone:
                    worker.close()
                    worker = None
        finally:
            if worker is not None:
                worker.close()
    loaded.output = output.text()
    return loaded, answers


def _out_of_time(limits: Limits) -> str:
    return f"the total time limit ({limits.total_timeout:g} s) ran out"


def _start(
    hello: dict[str, Any],
    limits: Limits,
    isolation: iso.Isolation,
    workdir: str,
    output: _Output,
    total_deadline: float,
    packages: tuple[str, ...] = (),
) -> tuple[_Worker | None, str | None, dict[str, Any]]:
    worker = _Worker(limits, isolation, workdir, output, packages)
    deadline = min(time.monotonic() + limits.load_limit, total_deadline)
    try:
        said = worker.request(hello, deadline, f"loading took longer than {limits.load_limit:g} s")
    except _Failure as exc:
        worker.close()
        return None, f"the submission could not be loaded: {exc}", {}
    if said.get("event") != "loaded":
        worker.close()
        return None, "the submission could not be loaded: the worker answered out of turn", {}
    return worker, None, said


def _call(
    worker: _Worker, index: int, request: Request, limits: Limits, total_deadline: float
) -> tuple[Answer, bool]:
    """Run one request: ``(answer, worker_gone)``."""
    message = {"id": index, "function": request.function, "args": tuple(request.args)}
    message["kwargs"] = dict(request.kwargs)
    if request.helper:
        message["helper"] = request.helper
    timeout = request.timeout if request.timeout is not None else limits.timeout
    per_call = time.monotonic() + timeout
    deadline = min(per_call, total_deadline)
    limit_reason = (
        f"time limit: no answer within {timeout:g} s" if per_call <= total_deadline else _out_of_time(limits)
    )
    try:
        reply = worker.request(message, deadline, limit_reason)
    except _Failure as exc:
        return Answer(False, reason=str(exc)), True
    except protocol.ProtocolError as exc:  # the grader's own request is too large to send: not run
        return Answer(False, reason=f"not run: the request could not be sent ({exc})"), False
    notes = tuple(_text_list(reply.get("notes")))
    if reply.get("event") != "result" or reply.get("id") != index:
        return Answer(False, reason="the worker answered out of turn", notes=notes), True
    if reply.get("ok") is not True:
        reason = str(reply.get("reason") or "").strip() or "failed (no reason given)"
        return Answer(False, reason=reason[:500], notes=notes), False
    return Answer(True, value=reply.get("value"), notes=notes), False
