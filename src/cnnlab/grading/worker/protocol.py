"""The wire format between the grader and its worker: flat, bounded, parsed without recursion.

Both ends import this file: the grader as ``cnnlab.grading.worker.protocol``, the worker (which never
imports cnnlab) as a module of its own package inside the sandbox. It needs only the standard library
and NumPy.

A message is one line of JSON holding a *flat* list of nodes in prefix order, so the JSON is never
nested deeper than two levels whatever the value::

    ["t", 2] ["a", "<base64 .npy>"] ["d", 1] ["s", "<base64 utf-8>"] ["i", 1]   # (array, {"pad": 1})

Tags: ``n`` None, ``b`` bool, ``i`` int, ``f`` float, ``s`` str, ``a`` array (``.npy`` bytes read back
with ``allow_pickle=False``), ``t``/``l`` tuple/list of the next N values, ``d`` dict of the next N
key/value pairs, ``o`` an object that cannot travel (its description). Every string is base64, so the
only brackets in a message are structural: :func:`loads` checks the nesting with one vectorised pass,
then ``json.loads`` (never deep) and an explicit stack rebuild the value. Sizes, node counts and depth
are bounded on both sides; anything else raises :class:`ProtocolError`.

Whatever the worker sends is untrusted: the grader judges the values, never a verdict.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np

__all__ = ["MAX_DEPTH", "MAX_MESSAGE", "MAX_NODES", "Opaque", "ProtocolError", "dumps", "loads"]

#: Bytes of one message (one line), nodes in it, and nesting of the value it carries.
MAX_MESSAGE = 32 * 2**20
MAX_NODES = 200_000
MAX_DEPTH = 12
MAX_ITEMS = 100_000


class ProtocolError(ValueError):
    """A message that is not in the format (too big, too deep, malformed)."""


class Opaque:
    """Stands for a value that cannot travel (a class instance, a generator...): its description."""

    def __init__(self, description: str):
        self.description = description

    def __repr__(self) -> str:
        return self.description

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.description == self.description

    __hash__ = None  # type: ignore[assignment]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", errors="replace")).decode("ascii")


def _unb64(data: Any) -> bytes:
    if not isinstance(data, str):
        raise ProtocolError("a string node must hold base64 text")
    try:
        return base64.b64decode(data, validate=True)
    except ValueError as exc:
        raise ProtocolError(f"bad base64: {exc}") from None


def _describe(value: Any) -> str:
    return f"a {type(value).__name__}"


def _encode(value: Any, nodes: list[list[Any]], depth: int, budget: list[int]) -> None:
    """Append ``value``'s nodes; a value deeper than :data:`MAX_DEPTH` becomes an opaque node."""
    if len(nodes) >= MAX_NODES:
        raise ProtocolError(f"the value has more than {MAX_NODES} parts")
    if depth > MAX_DEPTH:
        nodes.append(["o", _b64("a structure nested too deeply")])
    elif value is None:
        nodes.append(["n", 0])
    elif isinstance(value, bool):
        nodes.append(["b", value])
    elif isinstance(value, int):
        nodes.append(["i", value] if abs(value) < 2**63 else ["f", float(value)])
    elif isinstance(value, float):
        nodes.append(["f", value])
    elif isinstance(value, str):
        nodes.append(["s", _b64(value)])
    elif isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if arr.dtype.hasobject or arr.dtype.fields is not None or arr.dtype.kind not in "biufcUS":
            nodes.append(["o", _b64(f"a NumPy array of dtype {arr.dtype}")])
            return
        budget[0] -= arr.nbytes
        if budget[0] < 0:
            raise ProtocolError(f"the value is larger than {MAX_MESSAGE // 2**20} MiB")
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
        nodes.append(["a", base64.b64encode(buf.getvalue()).decode("ascii")])
    elif isinstance(value, (tuple, list)):
        items = value[:MAX_ITEMS]
        nodes.append(["t" if isinstance(value, tuple) else "l", len(items)])
        for item in items:
            _encode(item, nodes, depth + 1, budget)
    elif isinstance(value, dict):
        items = list(value.items())[:MAX_ITEMS]
        nodes.append(["d", len(items)])
        for key, item in items:
            _encode(key, nodes, depth + 1, budget)
            _encode(item, nodes, depth + 1, budget)
    else:
        nodes.append(["o", _b64(_describe(value))])


def dumps(value: Any) -> bytes:
    """``value`` as one message line (ending in ``\\n``); raises :class:`ProtocolError` when too large."""
    nodes: list[list[Any]] = []
    _encode(value, nodes, 0, [MAX_MESSAGE])
    data = json.dumps(nodes, separators=(",", ":"), allow_nan=True).encode("ascii") + b"\n"
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"the value is larger than {MAX_MESSAGE // 2**20} MiB")
    return data


def _check_nesting(line: bytes) -> None:
    """Every bracket in a message is structural (strings are base64): the list of lists is depth 2.

    Vectorised over chunks of 1 MiB, so checking a 32 MiB line costs a few MiB, not eight times its size.
    """
    raw = np.frombuffer(line, dtype=np.uint8)
    depth = 0
    quotes = 0
    opening = 0
    commas = 0
    step = 2**20
    for start in range(0, raw.size, step):
        chunk = raw[start : start + step]
        delta = (chunk == ord("[")).astype(np.int32) + (chunk == ord("{"))
        delta -= (chunk == ord("]")).astype(np.int32) + (chunk == ord("}"))
        if delta.any():
            running = np.cumsum(delta) + depth
            if running.max() > 2 or running.min() < 0:
                raise ProtocolError("the message is nested too deeply")
            depth = int(running[-1])
        quotes += int(np.count_nonzero(chunk == ord('"')))
        opening += int(np.count_nonzero(chunk == ord("[")))
        commas += int(np.count_nonzero(chunk == ord(",")))
    if quotes % 2:
        raise ProtocolError("the message has an unterminated string")
    # Nodes are [tag, payload]: a node is one "[" and at most two commas. Bounding both bounds what
    # json.loads builds (a list of a million numbers would cost far more memory than its bytes).
    if opening > MAX_NODES + 1 or commas > 2 * MAX_NODES + 1:
        raise ProtocolError(f"the message has more than {MAX_NODES} parts")


def _leaf(tag: Any, payload: Any) -> Any:
    if tag == "n":
        return None
    if tag == "b" and isinstance(payload, bool):
        return payload
    if tag == "i" and isinstance(payload, int) and not isinstance(payload, bool):
        return payload
    if tag == "f" and isinstance(payload, (int, float)) and not isinstance(payload, bool):
        return float(payload)
    if tag == "s":
        return _unb64(payload).decode("utf-8", errors="replace")
    if tag == "o":
        return Opaque(_unb64(payload).decode("utf-8", errors="replace")[:200])
    if tag == "a":
        try:
            arr = np.load(io.BytesIO(_unb64(payload)), allow_pickle=False)
        except Exception as exc:  # a malformed .npy: whatever NumPy raises
            raise ProtocolError(f"bad array: {type(exc).__name__}") from None
        return arr[()] if arr.ndim == 0 else arr
    raise ProtocolError(f"bad node {tag!r}")


def loads(line: bytes) -> Any:
    """The value of one message line; raises :class:`ProtocolError` for anything not made by :func:`dumps`."""
    try:
        return _loads(line)
    except ProtocolError:
        raise
    except Exception as exc:  # OverflowError of a 400-digit float, MemoryError...: still just malformed
        raise ProtocolError(f"not a message ({type(exc).__name__})") from None


def _loads(line: bytes) -> Any:
    if len(line) > MAX_MESSAGE:
        raise ProtocolError("the message is too large")
    _check_nesting(line)
    try:
        nodes = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"not a message ({type(exc).__name__})") from None
    if not isinstance(nodes, list) or not nodes or len(nodes) > MAX_NODES:
        raise ProtocolError("a message is a non-empty list of nodes")
    # Rebuild with an explicit stack: frames of [kind, expected count, items].
    stack: list[list[Any]] = []
    result: list[Any] = []
    for node in nodes:
        if not isinstance(node, list) or len(node) != 2 or not isinstance(node[0], str):
            raise ProtocolError("a node is [tag, payload]")
        tag, payload = node
        if tag in ("t", "l", "d"):
            if not isinstance(payload, int) or isinstance(payload, bool) or not 0 <= payload <= MAX_ITEMS:
                raise ProtocolError("bad container size")
            if len(stack) >= MAX_DEPTH + 1:
                raise ProtocolError("the value is nested too deeply")
            stack.append([tag, payload * (2 if tag == "d" else 1), []])
            value: Any = _MISSING
        else:
            value = _leaf(tag, payload)
        while True:
            if value is not _MISSING:
                if not stack:
                    if result:
                        raise ProtocolError("more than one value in a message")
                    result.append(value)
                    break
                stack[-1][2].append(value)
            if stack and len(stack[-1][2]) == stack[-1][1]:
                kind, _, items = stack.pop()
                value = _container(kind, items)
                continue
            break
    if stack or not result:
        raise ProtocolError("the message ends in the middle of a value")
    return result[0]


_MISSING = object()


def _container(kind: str, items: list[Any]) -> Any:
    if kind == "t":
        return tuple(items)
    if kind == "l":
        return items
    out: dict[Any, Any] = {}
    for key, value in zip(items[0::2], items[1::2], strict=True):
        out[key if isinstance(key, (str, int, float, bool, type(None))) else repr(key)] = value
    return out
