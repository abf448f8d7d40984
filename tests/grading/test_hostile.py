"""Hostile submissions, written by someone who has read all of cnnlab's source and knows its paths.

Each submission attacks in ``zero_pad`` (and, for some, while it loads: in a default argument or a class
body, which run at definition time) and defines a correct ``create_mask_from_window`` and
``distribute_value`` after it. For every attack: the attack fails, those two honest checks keep their
10 marks, no file of the installation (the answer data included), the class folder or a folder outside
the worker changes (hashed before and after), and no process outlives the grading.
"""

from __future__ import annotations

import json
import os
import socket
import string
import time
from pathlib import Path

import psutil
import pytest

from cnnlab.grading import CHECKS, Limits, grade_submission, grade_submissions
from cnnlab.grading.hashing import array_hash, check_hash
from cnnlab.grading.lab import load_expected

from .conftest import FAST, INSTALL, correct_functions, tree_hash

HONEST = correct_functions("create_mask_from_window", "distribute_value")
SEED = 11

ATTACKS = {
    # Code injected into the grader itself, at load time and at call time.
    "inject_install": """
import os
def zero_pad(X, pad, _=open("$INSTALL/ops/__init__.py", "a").write("\\nimport os  # pwned\\n")):
    with open("$INSTALL/ops/__init__.py", "a") as f:
        f.write("\\nPWNED = True\\n")
    return X
""",
    # The answer key rewritten (found from sys.argv[0] in the old grader; here the path is known).
    "rewrite_answers": """
import json
class Loader:
    json.dump({"format": "x", "checks": {}}, open("$INSTALL/grading/expected.json", "w"))
def zero_pad(X, pad):
    json.dump({}, open("$INSTALL/grading/expected.json", "w"))
    return X
""",
    # The refusal of `import cnnlab` bypassed, and the reference read from disk and exec-ed.
    "steal_reference": """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "Block" not in type(f).__name__]
sys.path[:0] = ["$SRC", "$INSTALL/.."]
from cnnlab.ops.loops import zero_pad as _reference
def zero_pad(X, pad):
    namespace = {}
    exec(open("$INSTALL/ops/loops.py").read(), namespace)
    return namespace["zero_pad"](X, pad)
""",
    # Other students' work: find the class folder, copy bob, break zed.
    "copy_classmate": """
import os, glob
def zero_pad(X, pad):
    for pid in os.listdir("/proc"):
        try:
            print(open(f"/proc/{pid}/cmdline").read())
        except OSError:
            pass
    with open("$CLASS/zed.py", "w") as f:
        f.write("def broken(:\\n")
    namespace = {}
    exec(open("$CLASS/bob.py").read(), namespace)
    return namespace["zero_pad"](X, pad)
""",
    # A grandchild that outlives the grader and rewrites the marks afterwards.
    "outlive_grader": """
import os, time
def zero_pad(X, pad):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(3)
            open("$OUTSIDE/marks.csv", "w").write("mallory,70\\n")
        os._exit(0)
    return X
""",
    # Files written outside the working directory: at load (class body, default argument) and in a call.
    "write_outside": """
class Planted:
    open("$OUTSIDE/from_class_body", "w").write("x")
def helper(path=open("$OUTSIDE/from_default", "w")):
    return path
def zero_pad(X, pad):
    open("$OUTSIDE/from_call", "w").write("x")
    open("/tmp/cnnlab-hostile-tmp", "w").write("x")
    return X
""",
    # A socket to a listener on the host's loopback (the answer key would travel this way).
    "network": """
import socket
def zero_pad(X, pad):
    s = socket.create_connection(("127.0.0.1", $PORT), timeout=2)
    s.sendall(b"stolen")
    return X
""",
    # The parent's command line, environment and memory read through /proc.
    "read_parent": """
import os
def zero_pad(X, pad):
    seen = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            for what in ("cmdline", "environ"):
                try:
                    seen.append(open(f"/proc/{pid}/{what}", "rb").read().decode(errors="replace"))
                except OSError:
                    pass
    try:
        seen.append(open(f"/proc/{os.getppid()}/mem", "rb").read(100).hex())
    except OSError:
        pass
    raise RuntimeError(" | ".join(seen))
""",
    # A fork bomb.
    "fork_bomb": """
import os
def zero_pad(X, pad):
    while True:
        os.fork()
""",
    # Three threads of 700 MB each under a 1024 MiB limit (children are impossible: see fork_bomb).
    "memory_threads": """
import threading
import numpy as np
def zero_pad(X, pad):
    held, errors = [], []
    def grab():
        try:
            held.append(np.ones(700 * 2**20 // 8))
        except MemoryError as exc:
            errors.append(exc)
    threads = [threading.Thread(target=grab) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return X
""",
    # A deeply nested reply written straight onto every pipe the worker holds.
    "nested_reply": """
import os
def zero_pad(X, pad):
    for fd in os.listdir("/proc/self/fd"):
        try:
            os.write(int(fd), b"[" * 1_000_000 + b"\\n")
        except OSError:
            pass
    return X
""",
    # A 250 MB reply.
    "huge_reply": """
import os
def zero_pad(X, pad):
    chunk = b"[" + b"1," * (2**20)
    for fd in os.listdir("/proc/self/fd"):
        if int(fd) < 3:
            continue
        try:
            for _ in range(125):
                os.write(int(fd), chunk)
        except OSError:
            pass
    return X
""",
    # NumPy monkeypatched so that every comparison says "equal".
    "patch_numpy": """
import numpy as np
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda *a, **k: True
def zero_pad(X, pad):
    return np.zeros((1,))
""",
    # Objects that claim to equal anything and to be the right array.
    "lying_objects": """
import numpy as np
class Liar:
    shape = (4, 7, 7, 2)
    def __eq__(self, other):
        return True
    def __array__(self, dtype=None, copy=None):
        return np.zeros(self.shape)
    def __float__(self):
        return 0.0
def zero_pad(X, pad):
    return Liar()
""",
    "os_exit": """
import os
def zero_pad(X, pad):
    os._exit(0)
""",
    "segfault": """
import ctypes
def zero_pad(X, pad):
    ctypes.string_at(0)
""",
    "recursion": """
import sys
sys.setrecursionlimit(10**6)
def zero_pad(X, pad):
    return zero_pad(X, pad + 1)
""",
    "huge_output": """
def zero_pad(X, pad):
    while True:
        print("spam " * 1000)
""",
    # Terminal escapes in the reason: clear the screen and print a fake verdict.
    "ansi": """
def zero_pad(X, pad):
    raise ValueError("\\x1b[2J\\x1b[H all checks passed 70 / 70 marks \\x07")
""",
    # The worker's own code patched: every reply says "failed" with no reason (once read as a pass).
    "patch_worker": """
from cnnlab_worker import main as _worker
class Patch:
    _send = _worker._send
    def _forged(fd, message, _send=_send):
        if message.get("event") == "result":
            message = {"event": "result", "id": message["id"], "ok": False, "reason": ""}
        _send(fd, message)
    _worker._send = _forged
def zero_pad(X, pad):
    return X
""",
    # Host kernel settings through /proc (the worker is uid 0 on the host when the grader is root).
    "proc_sys": """
def zero_pad(X, pad):
    for path in ("/proc/sys/kernel/printk_ratelimit", "/proc/sysrq-trigger", "/proc/sys/vm/drop_caches"):
        try:
            with open(path, "w") as f:
                f.write("h" if "sysrq" in path else "5")
        except OSError as exc:
            last = exc
    raise last
""",
    # Memory the address-space limit does not count: memfds, the tmpfs that hide folders, threads.
    "uncounted_memory": """
import os, threading
def zero_pad(X, pad):
    errors = []
    try:
        fd = os.memfd_create("x")
        os.write(fd, b"x" * 2**20)
    except OSError as exc:
        errors.append(exc)
    for path in ("/usr/local/x", "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/x"):
        try:
            open(path, "wb").write(b"x" * 2**20)
        except OSError as exc:
            errors.append(exc)
    try:
        threading.Thread(target=lambda: None).start()
    except RuntimeError as exc:
        errors.append(exc)
    raise RuntimeError(f"{len(errors)} refused: " + "; ".join(type(e).__name__ for e in errors))
""",
    # Shell from Python, and kill everything in sight.
    "shell_and_kill": """
import os, signal, subprocess
def zero_pad(X, pad):
    try:
        subprocess.run(["/bin/sh", "-c", "touch $OUTSIDE/from_shell"])
    except OSError:
        pass
    try:
        os.system("touch $OUTSIDE/from_system")
    except OSError:
        pass
    os.kill(-1, signal.SIGKILL)
    return X
""",
}

# The reason zero_pad fails with: what each attack runs into.
EXPECTED_REASON = {
    "inject_install": ("FileNotFoundError",),  # its default argument failed: zero_pad was never defined
    "rewrite_answers": ("FileNotFoundError",),
    "steal_reference": ("FileNotFoundError",),
    "copy_classmate": ("FileNotFoundError",),
    "outlive_grader": ("PermissionError",),
    "write_outside": ("FileNotFoundError",),
    "network": ("Address family not supported",),
    "read_parent": ("RuntimeError",),
    "fork_bomb": ("PermissionError",),
    "memory_threads": ("can't start new thread",),  # threads are refused: one thread, one memory limit
    "patch_worker": ("failed (no reason given)",),
    "proc_sys": ("Read-only file system", "No such file"),
    "uncounted_memory": ("4 refused",),
    "nested_reply": ("could not be read back", "printed more than"),
    # too large to read back; on a loaded machine writing 250 MB can also outlast the 3 s call limit
    "huge_reply": ("could not be read back", "time limit: no answer within"),
    "patch_numpy": ("shape (1,)",),
    "lying_objects": ("not an array",),
    "os_exit": ("exited with code 0",),
    "segfault": ("segmentation fault",),
    "recursion": ("RecursionError", "segmentation fault"),
    "huge_output": ("printed more than",),
    "ansi": ("ValueError",),
    "shell_and_kill": ("ProcessLookupError", "killed"),
}


def _alive_workers() -> list[psutil.Process]:
    """This test's sandbox processes still alive. A grandchild that called setsid() is re-parented to the
    sandbox's PID-namespace init, which is our descendant (and takes the whole namespace with it)."""
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(p.cmdline())
            if p.status() != psutil.STATUS_ZOMBIE and ("bwrap" in cmdline or "cnnlab_worker" in cmdline):
                found.append(p)
        except psutil.Error:  # gone meanwhile, or a zombie whose command line cannot be read
            pass
    return found


@pytest.fixture
def world(tmp_path):
    """A class folder (bob, zed), a folder outside the worker, and a loopback listener."""
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "bob.py").write_text(correct_functions("zero_pad"))
    (klass / "zed.py").write_text(correct_functions("zero_pad", "create_mask_from_window"))
    outside = tmp_path / "outside"
    outside.mkdir()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    yield {
        "CLASS": str(klass),
        "OUTSIDE": str(outside),
        "PORT": str(listener.getsockname()[1]),
        "sock": listener,
    }
    listener.close()


def _submission(name: str, world: dict, tmp_path: Path) -> Path:
    values = {k: v for k, v in world.items() if isinstance(v, str)}
    values |= {"INSTALL": str(INSTALL), "SRC": str(INSTALL.parent)}
    source = string.Template(ATTACKS[name]).substitute(values) + "\n\n" + HONEST
    path = world_path = Path(world["CLASS"]) / f"mallory_{name}.py"
    world_path.write_text(source)
    return path


SELF_SABOTAGE = {"patch_worker"}  # it fails its own honest checks too: tested on its own below


@pytest.mark.parametrize("name", sorted(set(ATTACKS) - SELF_SABOTAGE))
def test_every_attack_fails_and_the_honest_part_keeps_its_marks(name, world, tmp_path, isolation):
    path = _submission(name, world, tmp_path)
    guarded = (INSTALL / "grading", INSTALL / "ops", Path(world["CLASS"]), Path(world["OUTSIDE"]))
    before = tree_hash(*guarded)
    limits = Limits(timeout=3, total_timeout=40, memory_mb=1024)
    report = grade_submission(path, limits, scheme="full", seed=SEED, isolation=isolation)
    marks = {c.key: c for c in report.checks}
    assert marks["create_mask_from_window/output"].passed, report.format_text()
    assert marks["distribute_value/output"].passed, report.format_text()
    assert report.total == 10, report.format_text()
    reason = marks["zero_pad/output"].reason
    assert any(expected in reason for expected in EXPECTED_REASON[name]), reason
    time.sleep(0.2 if name != "outlive_grader" else 4)  # a grandchild would have written by now
    assert tree_hash(*guarded) == before
    assert not os.path.exists("/tmp/cnnlab-hostile-tmp")
    assert _alive_workers() == []
    with pytest.raises(OSError):  # the listener never got a connection
        world["sock"].accept()


def test_nothing_of_the_grader_reaches_the_submission(world, tmp_path, isolation, monkeypatch):
    monkeypatch.setenv("CNNLAB_TEST_SECRET", "s3cr3t-do-not-leak")
    path = _submission("read_parent", world, tmp_path)
    report = grade_submission(path, FAST, scheme="lab", isolation=isolation)
    text = report.format_text() + report.output + json.dumps(report.to_dict())
    assert "s3cr3t-do-not-leak" not in text
    assert world["CLASS"] not in text.replace(str(path), "")  # the grader's paths are not visible
    assert "PYTEST_CURRENT_TEST" not in text and "xdist" not in text  # nor its environment or command line


def test_a_forged_hash_would_have_passed_the_old_check_but_not_this_grader(tmp_path, isolation):
    # Build an array whose stored hash matches zero_pad's expected one: zeros and one value v at index 0,
    # v found by bisection (the hash grows with v): what "brute-forcing the hash" took.
    shape, target = load_expected()["zero_pad/output"]["shape"], load_expected()["zero_pad/output"]["hash"]
    import numpy as np

    def one_value(v: float) -> np.ndarray:
        a = np.zeros(shape)
        a.flat[0] = v
        return a

    low, high = -1e6, 1e6
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if array_hash(one_value(mid))[1] < target else (low, mid)
    value = (low + high) / 2
    forged = (
        "import numpy as np\ndef zero_pad(X, pad):\n"
        f"    a = np.zeros({tuple(shape)})\n    a.flat[0] = {value!r}\n    return a\n"
    )
    namespace: dict = {}
    exec(forged, namespace)
    answer = namespace["zero_pad"](np.zeros((4, 3, 3, 2)), 2)
    assert check_hash(answer, (shape, target))  # the forgery beats the hash...
    assert array_hash(answer)[0] == tuple(shape)
    path = tmp_path / "forger.py"
    path.write_text(forged)
    report = grade_submission(path, FAST, scheme="lab", isolation=isolation)
    assert report.total == 0 and "wrong values" in report.checks[0].reason  # ...not the whole-array check


def test_one_student_cannot_touch_another_in_the_same_batch(world, tmp_path, isolation):
    _submission("copy_classmate", world, tmp_path)
    klass = Path(world["CLASS"])
    before = tree_hash(klass)
    files = sorted(klass.glob("*.py"))
    reports = grade_submissions(files, FAST, jobs=2, scheme="lab", isolation=isolation)
    by_name = {Path(r.submission).stem: r for r in reports}
    assert by_name["zed"].total == 10  # zero_pad and create_mask: zed.py was not overwritten
    assert by_name["bob"].total == 5
    assert by_name["mallory_copy_classmate"].total == 10
    assert tree_hash(klass) == before


def test_a_broken_notebook_or_reply_costs_one_student_and_the_batch_finishes(world, tmp_path, isolation):
    klass = Path(world["CLASS"])
    (klass / "deep.ipynb").write_text('{"cells": ' + "[" * 200_000 + "]" * 200_000 + "}")
    (klass / "garbage.ipynb").write_bytes(b"\xff\xfe not json")
    _submission("nested_reply", world, tmp_path)
    files = sorted(klass.glob("*"))
    reports = grade_submissions(files, FAST, jobs=2, scheme="lab", isolation=isolation)
    assert len(reports) == len(files)
    by_name = {Path(r.submission).name: r for r in reports}
    assert by_name["deep.ipynb"].total == 0
    assert "nested too deeply" in by_name["deep.ipynb"].checks[0].reason
    assert by_name["garbage.ipynb"].total == 0 and "not UTF-8" in by_name["garbage.ipynb"].checks[0].reason
    assert by_name["mallory_nested_reply.py"].total == 10
    assert by_name["zed.py"].total == 10


def test_a_huge_reply_does_not_take_the_grader_with_it(world, tmp_path, isolation):
    import subprocess
    import sys

    path = _submission("huge_reply", world, tmp_path)
    script = (
        "import sys, tracemalloc\nfrom cnnlab.grading import grade_submission, Limits\ntracemalloc.start()\n"
        "r = grade_submission(sys.argv[1], Limits(timeout=3, total_timeout=40), scheme='lab')\n"
        "print(r.total, tracemalloc.get_traced_memory()[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    total, peak = map(int, done.stdout.split())
    assert total == 10
    # What the grader held at its peak (Python's allocations, the reply buffer included): the reply was
    # cut at the 32 MiB message limit, so never the 250 MB.
    assert peak < 100 * 2**20, peak


def test_terminal_escapes_are_shown_not_obeyed(world, tmp_path, isolation):
    path = _submission("ansi", world, tmp_path)
    report = grade_submission(path, FAST, scheme="lab", isolation=isolation)
    text = report.format_text()
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[2J" in text
    assert "\x1b" not in json.dumps(report.to_dict(), ensure_ascii=False)
    assert "\x1b" not in report.feedback_html("mallory")


def test_a_submission_is_one_thread_so_one_memory_limit_holds_it_all(world, tmp_path, isolation):
    path = _submission("memory_threads", world, tmp_path)
    report = grade_submission(path, Limits(timeout=10, total_timeout=60, memory_mb=1024), isolation=isolation)
    assert "can't start new thread" in report.checks[0].reason
    assert [c.key for c in report.checks][: len(CHECKS)] == [c.key for c in CHECKS]


@pytest.mark.parametrize("scheme", ["lab", "full"])
def test_a_patched_worker_cannot_turn_a_failure_into_a_pass(scheme, world, tmp_path, isolation):
    path = _submission("patch_worker", world, tmp_path)
    report = grade_submission(path, FAST, scheme=scheme, seed=SEED, isolation=isolation)
    assert report.total == 0, report.format_text()
    assert all(not c.passed for c in report.checks if c.max)


def test_host_kernel_settings_stay_as_they_were(world, tmp_path, isolation):
    setting = Path("/proc/sys/kernel/printk_ratelimit")
    before = setting.read_text()
    path = _submission("proc_sys", world, tmp_path)
    report = grade_submission(path, FAST, scheme="lab", isolation=isolation)
    assert "Read-only file system" in report.checks[0].reason
    assert setting.read_text() == before
