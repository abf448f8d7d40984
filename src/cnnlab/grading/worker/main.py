"""The worker: loads one submission and answers calls of its functions. Runs inside the sandbox.

Started by :mod:`cnnlab.grading.sandbox` as ``python -I -S -c BOOT CMD_FD RES_FD``, where ``BOOT`` puts
this package (as ``cnnlab_worker``) and NumPy on ``sys.path``: inside the sandbox nothing else of cnnlab
exists. Messages are :mod:`.protocol` lines. The grader's first message is
``{"limits", "units": [{"label", "line", "source"}], "block_cnnlab"}``; the worker lowers its resource
limits, loads the units and answers ``{"event": "loaded", "problems", "notes"}``. Then, per request
``{"id", "function", "args", "kwargs"}``, it answers ``{"event": "result", "id", "ok": True, "value",
"notes"}`` or ``{..., "ok": False, "reason"}``. The grader judges the values; nothing here is trusted.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import sys
from typing import Any

import numpy as np

from . import compat, loader, part2, protocol

#: Requests with ``"helper": name`` call ``HELPERS[name](student_function, *args, **kwargs)``.
HELPERS = {
    "part2.parameters": part2.parameters,
    "part2.logits": part2.logits,
    "part2.forward": part2.forward,
    "part2.train": part2.train,
}


class _BlockCnnlab:
    """Without isolation (``--no-isolation``) cnnlab may be importable: refuse it (a speed bump only)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "cnnlab" or name.startswith("cnnlab."):
            raise ImportError("cnnlab is not available to submissions")


def _set_limits(limits: dict[str, Any]) -> None:
    import resource

    def lower(which: int, value: int) -> None:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))  # soft = hard: the submission cannot raise it back

    lower(resource.RLIMIT_CORE, 0)
    lower(resource.RLIMIT_AS, int(limits["memory_mb"]) * 2**20)
    lower(resource.RLIMIT_FSIZE, int(limits["fsize_mb"]) * 2**20)
    lower(resource.RLIMIT_CPU, int(limits["cpu_s"]))
    lower(resource.RLIMIT_NOFILE, 256)


def _send(fd: int, message: dict[str, Any]) -> None:
    """Write ``message``; one too large to travel goes as a failed result with the reason instead."""
    try:
        data = protocol.dumps(message)
    except protocol.ProtocolError as exc:
        failed = {k: v for k, v in message.items() if k != "value"}
        data = protocol.dumps({**failed, "ok": False, "reason": str(exc)})
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or replaced stream is the student's doing
            stream.flush()


def _close_other_fds(keep: set[int]) -> None:
    """Close what the sandbox's set-up left open (bubblewrap's option and seccomp descriptors)."""
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else []:
        fd = int(name)
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def main(argv: list[str]) -> int:
    _close_other_fds({int(argv[1]), int(argv[2])})
    cmd = os.fdopen(int(argv[1]), "rb")
    res_fd = int(argv[2])
    hello = protocol.loads(cmd.readline(protocol.MAX_MESSAGE + 1))
    _set_limits(hello["limits"])
    if hello.get("block_cnnlab"):
        sys.meta_path.insert(0, _BlockCnnlab())
    units = hello["units"]
    labels = {str(u["label"]) for u in units}
    notes = compat.Notes()
    # The lab's first cell imports NumPy as np; a .py of bare functions may rely on it.
    namespace: dict[str, Any] = {"__name__": "submission", "__builtins__": builtins, "np": np}
    if int(np.__version__.split(".")[0]) >= 2:  # NumPy 1's reprs (1.5, not np.float64(1.5)) in messages
        np.set_printoptions(legacy="1.25")
    problems = loader.load(units, namespace, notes)
    _flush()
    _send(res_fd, {"event": "loaded", "problems": problems, "notes": notes.take()})
    while True:
        line = cmd.readline(protocol.MAX_MESSAGE + 1)
        if not line:
            return 0
        request = protocol.loads(line)
        reply: dict[str, Any] = {"event": "result", "id": request["id"]}
        func = namespace.get(request["function"])
        helper = HELPERS.get(request.get("helper", ""))
        if not callable(func):
            reply.update(ok=False, reason=f"missing: {request['function']} is not defined")
        elif request.get("helper") and helper is None:
            reply.update(ok=False, reason=f"the worker has no helper {request['helper']!r}")
        else:
            try:
                if helper is not None:  # the grader's code around the student's function
                    value = helper(func, *request["args"], **request["kwargs"])
                else:
                    value = func(*request["args"], **request["kwargs"])
                reply.update(ok=True, value=value)  # encoded once, by _send
            except BaseException as exc:
                reply.update(ok=False, reason=loader.describe_exception(exc, labels))
        reply["notes"] = notes.take()
        _flush()
        _send(res_fd, reply)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
