"""Malformed recordings: reader and player fail with a one-line FormatError / exit 1, never a traceback."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.tlogformat import FormatError, Reader
from tests.recorder_helpers import encode, sessrec

VALID = encode(
    [("w", (80, 24)), ("o", "héllo 𝄞\r\n".encode()), ("i", b"ls\r"), ("o", b"\xff\x00\x1b[0m" * 40)],
    payload=64,
).splitlines()
TOKENS = [b"{", b"}", b"[", b"]", b'"', b",", b":", b"\\", b"\\u", b"\\ud834", b"-1", b"1e999", b"0", b"null"]
TOKENS += [b'"timing":">99"', b'"id":', b'"pos":-5', b"\xff", b"\x00", b" ", b"true", b"2.3", b'"ver":3']


def mutate(rng: random.Random, line: bytes) -> bytes:
    data = bytearray(line)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:
            del data[at : at + rng.randint(1, 8)]
        elif op == 1:
            data[at:at] = rng.choice(TOKENS)
        elif op == 2 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == 3:
            data[at:at] = str(rng.randint(-(10**20), 10**20)).encode()
        else:
            other = rng.choice(VALID)
            data[at:] = other[rng.randrange(len(other)) :]
    return bytes(data)


def check(lines: list[bytes]) -> None:
    reader = Reader(lax=bool(len(lines) % 2))
    try:
        for line in lines:
            reader.feed(line)
    except FormatError as exc:
        assert "\n" not in str(exc) and str(exc)


def test_ten_thousand_mutated_recordings() -> None:
    rng = random.Random(1234)
    for _ in range(10_000):
        n = rng.randint(1, len(VALID))
        lines = list(VALID[:n])
        lines[rng.randrange(n)] = mutate(rng, lines[rng.randrange(n)])
        check(lines)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.binary(max_size=200) | st.sampled_from(VALID), max_size=5))
def test_arbitrary_bytes(lines: list[bytes]) -> None:
    check(lines)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=1500, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "ver",
                "host",
                "timing",
                "id",
                "pos",
                "session",
                "out_bin",
                "out_txt",
                "in_bin",
                "in_txt",
                "user",
                "term",
                "time",
            ]
        ),
        json_values,
    )
)
def test_wrong_field_types(fields: dict) -> None:
    import json

    base = {"ver": "2.3", "host": "h", "user": "u", "term": "", "session": 1, "id": 1, "pos": 0, "timing": ""}
    base |= {"in_bin": [], "out_bin": []}
    check([json.dumps(base | fields).encode()])


def test_player_cli_on_mutated_files(tmp_path: Path) -> None:
    rng = random.Random(99)
    path = tmp_path / "bad.log"
    failures = 0
    for _ in range(12):
        lines = list(VALID)
        lines[rng.randrange(len(lines))] = mutate(rng, rng.choice(VALID))
        path.write_bytes(b"\n".join(lines) + b"\n")
        result = sessrec("play", "-i", str(path), "-g", "end")
        assert result.returncode in (0, 1)
        assert b"Traceback" not in result.stderr
        if result.returncode == 1:
            failures += 1
            assert result.stderr.count(b"\n") == 1 and b" line " in result.stderr
    assert failures > 0
