"""Malformed recordings: reader and player fail with a one-line FormatError / exit 1, never a traceback."""

from __future__ import annotations

import random
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.export import asciicast, cast_header, json_line, summarize, table, text
from recorder.player import OneRecording, PlaybackError
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
    """Every reader on `lines`: play's (Reader, OneRecording), list's (summarize, table, JSON lines) and
    export's (asciicast, text): a one-line FormatError/PlaybackError at most, and output that encodes."""
    reader = Reader(lax=bool(len(lines) % 2))
    try:
        for line in lines:
            reader.feed(line)
    except FormatError as exc:
        assert "\n" not in str(exc) and str(exc)
    errors: list[str] = []
    summaries = summarize(((None, f"line {n}", line) for n, line in enumerate(lines, 1)), errors)
    assert all("\n" not in e for e in errors)
    table(summaries).encode()
    for s in summaries:
        json_line(s.as_dict()).encode()
    for convert in (lambda st: asciicast(st, cast_header(None)), text, lambda st: text(st, strip=True)):
        stream = OneRecording(((f"line {n}", line) for n, line in enumerate(lines, 1)), Reader())
        try:
            "".join(convert(stream)).encode()
        except PlaybackError as exc:
            assert "\n" not in str(exc)


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


HEAD = '{"ver":"2.3","host":"h","rec":"r","user":"u","term":"xterm","session":1,"id":1,"pos":0,'
TAIL = '"time":1.000,"timing":">1","in_txt":"","in_bin":[],"out_txt":"x","out_bin":[]}'
FIELDS = ("ver", "host", "rec", "user", "term", "timing", "in_txt", "out_txt")


def hostile(rng: random.Random) -> bytes:
    """One line of a kind readers must survive: lone surrogates in any string, deep nesting, huge or odd
    numbers, control characters, overlong text counts, non-UTF-8 bytes."""
    kind = rng.randrange(6)
    line = HEAD + TAIL
    if kind == 0:  # an escaped lone surrogate (or a pair cut in half) in a string field
        name = rng.choice(FIELDS)
        bad = rng.choice(["\\ud800", "\\udfff", "\\ud834", "\\udd1e\\ud834", "\\udc80"])
        line = re.sub(f'"{name}":"([^"]*)"', lambda m: f'"{name}":"{m.group(1)}{bad}"', line, count=1)
        if name in ("out_txt", "timing") and rng.random() < 0.5:
            line = line.replace('"timing":">1"', '"timing":">2"')
    elif kind == 1:  # deep nesting, in a field or as the whole value
        depth = rng.choice((100, 1000, 100_000))
        line = HEAD + f'"deep":{"[" * depth}{"]" * depth},' + TAIL if rng.random() < 0.5 else "[" * depth
    elif kind == 2:  # huge and odd numbers
        number = rng.choice(["9" * 5000, "1e999", "-1e999", "NaN", "Infinity", "-0", "1e-999", str(2**64)])
        field = rng.choice(["id", "pos", "session", "time", "in_bin", "out_bin"])
        value = f"[{number}]" if field.endswith("bin") else number
        line = re.sub(f'"{field}":[^,]*,', f'"{field}":{value},', line.replace('"in_bin":[]', '"in_bin":[0]'))
    elif kind == 3:  # controls and escapes in header fields
        name = rng.choice(FIELDS[:5])
        line = line.replace(f'"{name}":"', f'"{name}":"\\u0000\\u001b[2J\\n\\u0085\\u2028', 1)
    elif kind == 4:  # counts past the text
        line = line.replace(
            '"timing":">1"', f'"timing":"{rng.choice([">99", "]5/5", "=99999x1", "+99999999999999"])}"'
        )
    else:  # bytes that are not UTF-8, raw
        return (HEAD + TAIL).encode().replace(b'"u"', b'"\xff\xed\xa0\x80"')
    return line.encode()


def test_ten_thousand_hostile_inputs() -> None:
    rng = random.Random(4321)
    for _ in range(10_000):
        lines = [hostile(rng) for _ in range(rng.randint(1, 3))]
        check(lines)


def test_twenty_megabyte_lines() -> None:
    big = (
        HEAD + f'"time":1.000,"timing":">{20_000_000}","in_txt":"","in_bin":[],"out_txt":"' + "x" * 20_000_000
    )
    check([(big + '","out_bin":[]}').encode()])  # valid: 20 MB of output
    check([big.encode()])  # cut off: incomplete
    check([b"{" + b'"a":' * 5_000_000 + b"}"])
    check([b"\xff" * 20_000_000])


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
