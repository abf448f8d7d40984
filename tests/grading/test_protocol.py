"""The wire format: values round-trip; anything else is refused quickly, without recursion or blow-up."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnlab.grading.worker.protocol import MAX_DEPTH, MAX_MESSAGE, Opaque, ProtocolError, dumps, loads


def test_values_round_trip():
    value = (
        np.arange(6.0).reshape(2, 3),
        {"pad": 1, "stride": 2, "name": "[{]}\"'"},
        [None, True, 3, 2.5, float("nan"), "ü"],
        np.float32(1.5),
        (),
    )
    back = loads(dumps(value))
    assert isinstance(back, tuple) and len(back) == 5
    assert np.array_equal(back[0], value[0]) and back[0].dtype == np.float64
    assert back[1] == value[1]
    assert back[2][:4] == [None, True, 3, 2.5] and np.isnan(back[2][4]) and back[2][5] == "ü"
    assert back[3] == np.float32(1.5) and back[3].dtype == np.float32
    assert back[4] == ()


def test_objects_that_cannot_travel_become_their_description():
    class Liar:
        def __eq__(self, other):
            return True

    assert loads(dumps(Liar())) == Opaque("a Liar")
    assert loads(dumps(np.array([object()], dtype=object))) == Opaque("a NumPy array of dtype object")


def test_deep_values_are_cut_at_the_depth_limit():
    value: list = []
    for _ in range(MAX_DEPTH + 5):
        value = [value]
    back = loads(dumps(value))
    for _ in range(MAX_DEPTH):
        back = back[0]
    assert isinstance(back[0], Opaque)


@pytest.mark.parametrize(
    "line",
    [
        b"[" * 1_000_000,
        b"[" * 100 + b"]" * 100,
        b'[["t", 3], ["i", 1]]',  # ends inside the tuple
        b'[["i", 1], ["i", 2]]',  # two values
        b'[["z", 1]]',
        b'[["s", "not base64!"]]',
        b'[["a", "AAAA"]]',  # not an .npy
        b'[["i", ' + b"9" * 5000 + b"]]",  # a number too long to read
        b"\xff\xfe",
        b'{"token": "x"}',
        b"[]",
        json.dumps([["l", 1]] * 20 + [["i", 0]]).encode(),  # nested deeper than allowed
        b"[" + b"1," * 1_000_000 + b"1]",  # a million numbers: refused before json.loads builds them
    ],
)
def test_malformed_messages_are_refused(line):
    with pytest.raises(ProtocolError):
        loads(line)


def test_oversized_messages_are_refused_without_parsing():
    with pytest.raises(ProtocolError, match="too large"):
        loads(b" " * (MAX_MESSAGE + 1))
    with pytest.raises(ProtocolError, match="larger than"):
        dumps(np.zeros(MAX_MESSAGE // 8 + 1))
