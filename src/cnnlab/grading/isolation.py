"""OS isolation for the grader's worker: bubblewrap namespaces plus a seccomp filter. Fail closed.

Why bubblewrap: it is the sandbox under Flatpak and many CI systems, packaged by every major Linux
distribution (``apt-get install bubblewrap``), small (one setuid-free binary that uses unprivileged user
namespaces), and maintained; it needs no daemon and no root. The seccomp filter is compiled with
libseccomp (the library systemd, Docker and Flatpak use) through its ctypes binding ``pyseccomp`` and
handed to bubblewrap with ``--seccomp``.

What the worker gets (:func:`command`):

- **Namespaces** (``--unshare-all --unshare-user --disable-userns``): its own user, PID, mount, network,
  IPC, UTS and cgroup namespaces. The network namespace has only a loopback that is down: no network,
  and no route to the host's loopback. The PID namespace hides every other process (the grader's
  ``/proc`` included) and, with ``--die-with-parent``, ends with the grader. ``--new-session`` keeps it off
  the grader's terminal.
- **Files**: a read-only root holding only ``/usr`` (minus ``/usr/local``), the Python installation
  with its ``site-packages`` hidden, NumPy bound at ``/sandbox/lib/numpy``, the worker's own package at
  ``/sandbox/lib/cnnlab_worker`` (code that holds no answer), a fresh ``/proc`` and a minimal read-only
  ``/dev``. The only writable place is ``/sandbox/work``, a tmpfs of ``Limits.scratch_mb`` that vanishes
  with the worker (``/tmp`` points to it). cnnlab's installation, the answers, the class folder, the
  grader's working directory and ``$HOME`` are not in its file system at all.
- **System calls** (seccomp): no new processes or threads (``fork``, ``vfork``, ``clone``; ``clone3``
  answers ENOSYS), no ``memfd_create`` (memory the address-space limit would not count), no sockets but
  ``AF_UNIX``, and none of ``ptrace``, ``mount``, ``unshare``, ``setns``, ``bpf``, ``keyctl``, ``io_uring``,
  ``userfaultfd``, module or kexec calls. A submission is one process of one thread (NumPy runs with one
  BLAS thread), so its address-space limit (``RLIMIT_AS``, set by the worker with equal soft and hard
  values) bounds all of its memory; a fork bomb or a thread bomb fails at the first call.
- ``/proc`` is read-only: where the grader runs as root, the worker is uid 0 on the host too (with no
  capabilities), and ``/proc/sys`` and ``/proc/sysrq-trigger`` check only for uid 0. The tmpfs mounts
  that hide ``/usr/local`` and ``site-packages`` are one read-only page each.

:func:`check_available` probes all of this once (a real sandboxed Python that imports NumPy, with a
time limit) and raises :class:`IsolationUnavailable` with one line naming what is missing and the
``--no-isolation`` option, instead of grading unprotected or hanging.
"""

from __future__ import annotations

import errno
import functools
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import CnnlabError

__all__ = [
    "NONE",
    "Isolation",
    "IsolationUnavailable",
    "check_available",
    "command",
    "seccomp_filter",
]

SANDBOX_LIB = "/sandbox/lib"
SANDBOX_WORK = "/sandbox/work"
WORKER_PACKAGE = Path(__file__).with_name("worker")

_DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "name_to_handle_at",
    "open_by_handle_at",
    "syslog",
    "fanotify_init",
    "iopl",
    "ioperm",
    "fork",
    "vfork",
    "clone",
    "memfd_create",
)
_AF_UNIX = 1


class IsolationUnavailable(CnnlabError, RuntimeError):
    """This system cannot isolate submissions; the message names what is missing and ``--no-isolation``."""


@dataclass(frozen=True)
class Isolation:
    """How a worker is run: ``name`` goes into every report and CSV row."""

    name: str
    sandboxed: bool


NONE = Isolation("none (--no-isolation)", False)


def _advice(what: str) -> str:
    return f"{what}; untrusted code is not graded without isolation (grade anyway with --no-isolation)"


@functools.cache
def seccomp_filter() -> bytes:
    """The seccomp BPF program (see the module docstring), compiled once with libseccomp."""
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError) as exc:  # OSError: libseccomp.so.2 itself is missing
        raise IsolationUnavailable(
            _advice(f"seccomp is not available ({type(exc).__name__}: {exc}; pip install pyseccomp)")
        ) from None
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in _DENIED:
        f.add_rule(seccomp.ERRNO(errno.EPERM), name)
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.NE, _AF_UNIX))
    r, w = os.pipe()
    try:
        with os.fdopen(w, "wb") as out:
            f.export_bpf(out)
        with os.fdopen(r, "rb") as inp:
            r = -1
            return inp.read()
    finally:
        if r >= 0:
            os.close(r)


def _bwrap() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise IsolationUnavailable(_advice("bubblewrap is not installed (apt-get install bubblewrap)"))
    return path


@functools.cache
def _bwrap_version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "bubblewrap"
    return out.strip() or "bubblewrap"


def _interpreter() -> tuple[str, str]:
    """The base interpreter (not a venv's wrapper) and its installation prefix."""
    executable = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(executable), os.path.realpath(sys.base_prefix)


def _numpy_dirs() -> list[tuple[str, str]]:
    import numpy

    package = Path(numpy.__file__).resolve().parent
    pairs = [(str(package), f"{SANDBOX_LIB}/numpy")]
    libs = package.with_name("numpy.libs")
    if libs.is_dir():
        pairs.append((str(libs), f"{SANDBOX_LIB}/numpy.libs"))
    return pairs


def _requirement_names(dist: importlib.metadata.Distribution) -> list[str]:
    """The distributions ``dist`` needs (its requirements without extras whose markers hold here)."""
    names = []
    for text in dist.requires or []:
        name, _, marker = text.partition(";")
        if "extra" in marker:
            continue
        if marker.strip():
            try:
                from packaging.markers import Marker
            except ImportError:  # without packaging: take it if it is installed
                pass
            else:
                if not Marker(marker).evaluate():
                    continue
        names.append(re.split(r"[\s<>=!~\[(]", name.strip(), maxsplit=1)[0])
    return names


def _top_level(dist: importlib.metadata.Distribution) -> set[str]:
    """The top-level packages and modules a distribution installs (``torch``, ``typing_extensions.py``)."""
    tops = set()
    for f in dist.files or []:
        first = f.parts[0] if f.parts else ""
        if not first or first in ("..", "bin", "__pycache__") or first.endswith((".dist-info", ".egg-info")):
            continue
        if len(f.parts) == 1 and not first.endswith((".py", ".so", ".pth")):
            continue
        if first.endswith(".pth"):
            continue
        tops.add(first)
    return tops


#: NumPy is bound on its own; build tools are not needed to import anything.
_NOT_BOUND = frozenset({"numpy", "setuptools", "pip", "wheel"})


@functools.cache
def package_dirs(name: str) -> tuple[tuple[str, str], ...]:
    """``(host path, sandbox path)`` of distribution ``name`` and everything it needs, to bind read-only.

    E.g. ``torch``: torch, functorch, torchgen, sympy, mpmath, networkx, jinja2, markupsafe, filelock,
    fsspec, typing_extensions (PyTorch's optimizers import ``torch._dynamo``, which imports sympy). NumPy
    is bound on its own. Raises :class:`IsolationUnavailable` when ``name`` is not installed.
    """
    try:
        root = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise IsolationUnavailable(f"{name} is not installed where the grader runs") from None
    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = [root]
    while todo:
        dist = todo.pop()
        key = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if key in seen or key in _NOT_BOUND:
            continue
        seen[key] = dist
        for req in _requirement_names(dist):
            try:
                todo.append(importlib.metadata.distribution(req))
            except importlib.metadata.PackageNotFoundError:
                continue  # not needed to import (setuptools, optional parts)
    pairs = []
    for dist in seen.values():
        for top in sorted(_top_level(dist)):
            path = Path(str(dist.locate_file(top))).resolve()
            if path.exists():
                pairs.append((str(path), f"{SANDBOX_LIB}/{top}"))
    return tuple(sorted(set(pairs)))


def _system_dirs() -> list[str]:
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


def _hidden_site_dirs(prefix: str) -> list[str]:
    """Every site-packages / dist-packages the sandbox would otherwise see (third-party code, cnnlab)."""
    paths = sysconfig.get_paths(vars={"base": prefix, "platbase": prefix, "installed_base": prefix})
    found = {paths["purelib"], paths["platlib"]}
    found |= {str(p) for p in Path("/usr/lib").glob("python3*/dist-packages")}
    found |= {str(p) for p in Path("/usr/lib").glob("python3*/site-packages")}
    return sorted(p for p in found if os.path.isdir(p))


def command(
    python_args: list[str], *, scratch_mb: int, seccomp_fd: int, packages: tuple[str, ...] = ()
) -> list[str]:
    """The bubblewrap command line that runs ``python -I -S python_args...`` in the sandbox.

    ``packages``: distributions made importable too (read-only, with what they need): ``("torch",)``
    for Part 2 (:func:`package_dirs`).
    """
    executable, prefix = _interpreter()
    args = [_bwrap(), "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent"]
    args += ["--new-session", "--hostname", "grader", "--cap-drop", "ALL"]
    args += _system_dirs()
    in_usr_local = prefix == "/usr/local" or prefix.startswith("/usr/local/")
    args += _hide("/usr/local")
    if prefix != "/usr" and (not prefix.startswith("/usr/") or in_usr_local):
        args += ["--ro-bind", prefix, prefix]
    if not executable.startswith(prefix + "/"):
        args += ["--ro-bind", executable, executable]
    for site in _hidden_site_dirs(prefix):
        args += _hide(site)
    for source, dest in _numpy_dirs():
        args += ["--ro-bind", source, dest]
    for package in packages:
        for source, dest in package_dirs(package):
            args += ["--ro-bind", source, dest]
    args += ["--ro-bind", str(WORKER_PACKAGE.resolve()), f"{SANDBOX_LIB}/cnnlab_worker"]
    args += ["--size", str(scratch_mb * 2**20), "--tmpfs", SANDBOX_WORK, "--chdir", SANDBOX_WORK]
    args += ["--symlink", SANDBOX_WORK, "/tmp", "--proc", "/proc", "--dev", "/dev"]
    # /proc read-only: where the grader runs as root the worker is uid 0 outside too (without
    # capabilities), and /proc/sys and /proc/sysrq-trigger only check for uid 0.
    args += ["--remount-ro", "/proc", "--remount-ro", "/dev", "--remount-ro", "/"]
    args += ["--seccomp", str(seccomp_fd)]
    args += ["--clearenv"]
    for key, value in sandbox_env().items():
        args += ["--setenv", key, value]
    return [*args, "--", executable, "-I", "-S", *python_args]


def _hide(path: str) -> list[str]:
    """Cover ``path`` with an empty, read-only tmpfs of one page (no memory can be parked there)."""
    return ["--size", "4096", "--tmpfs", path, "--remount-ro", path]


def sandbox_env(work: str = SANDBOX_WORK) -> dict[str, str]:
    """The worker's whole environment: nothing of the grader's."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": work,
        "TMPDIR": work,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }


def args_fd(args: list[str]) -> int:
    """A readable file descriptor holding ``args`` NUL-separated, for bubblewrap's ``--args FD``."""
    fd = os.memfd_create("cnnlab-bwrap-args", 0)
    os.write(fd, b"".join(a.encode() + b"\0" for a in args))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def seccomp_fd() -> int:
    """A fresh readable file descriptor holding :func:`seccomp_filter` (bubblewrap reads it once)."""
    data = seccomp_filter()
    fd = os.memfd_create("cnnlab-seccomp", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@functools.cache
def check_available() -> Isolation:
    """Probe the sandbox once: a sandboxed Python that imports NumPy. Raise :class:`IsolationUnavailable`."""
    if not sys.platform.startswith("linux"):
        raise IsolationUnavailable(_advice(f"isolation needs Linux (this is {sys.platform})"))
    path = _bwrap()
    seccomp_filter()
    fd = seccomp_fd()
    probe = f"import sys; sys.path.insert(0, {SANDBOX_LIB!r}); import numpy, cnnlab_worker.protocol"
    try:
        result = subprocess.run(
            command(["-c", probe], scratch_mb=1, seccomp_fd=fd),
            capture_output=True,
            text=True,
            timeout=30,
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise IsolationUnavailable(_advice("bubblewrap did not start a sandbox within 30 s")) from None
    except OSError as exc:
        raise IsolationUnavailable(_advice(f"bubblewrap could not run ({exc})")) from None
    finally:
        os.close(fd)
    if result.returncode != 0:
        lines = [line for line in (result.stderr or "").splitlines() if line.strip()]
        why = lines[-1].strip() if lines else f"exit code {result.returncode}"
        raise IsolationUnavailable(_advice(f"bubblewrap cannot create the sandbox here ({why[:200]})"))
    return Isolation(f"{_bwrap_version(path)} + seccomp", True)
