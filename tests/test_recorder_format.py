"""The tlog format module: escaping, timing records, message cutting, and round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.tlogformat import (
    INPUT,
    OUTPUT,
    WINDOW,
    Encoder,
    FormatError,
    Framer,
    Reader,
    escape,
    parse_message,
)
from tests.recorder_helpers import META, encode

FIELDS = ["ver", "host", "rec", "user", "term", "session", "id", "pos", "time", "timing"]
FIELDS += ["in_txt", "in_bin", "out_txt", "out_bin"]


def replay(log: bytes, kind: str = OUTPUT) -> bytes:
    reader = Reader()
    return b"".join(p.data for line in log.splitlines() for p in reader.feed(line) if p.kind == kind)


def payload_size(line: bytes) -> int:
    msg = json.loads(line)
    txt = sum(len(escape(msg[k]).encode()) for k in ("in_txt", "out_txt"))
    bins = sum(len(",".join(map(str, msg[k]))) for k in ("in_bin", "out_bin"))
    return len(msg["timing"]) + txt + bins


def test_escape_matches_tlog() -> None:
    assert (
        escape('a"\\\b\f\n\r\t\x00\x1b\x7f\x1fé𝄞\u2028')
        == 'a\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u001b\\u007f\\u001fé𝄞\u2028'
    )


def test_header_fields_in_tlog_order() -> None:
    line = encode([("o", b"hi")]).splitlines()[0]
    assert line.startswith(b'{"ver":"2.3","host":"host.example","rec":"rec-1","user":"user","term":"xterm",')
    assert list(json.loads(line)) == FIELDS
    assert b'"time":1700000000.000,' in line


def test_timing_grammar_code_points_and_binary() -> None:
    log = encode([("w", (100, 30)), ("o", b"A\xff\xf0\x9d\x84\x9eB\r\n")])
    msg = json.loads(log)
    assert msg["timing"] == "=100x30+1>1]1/1>4"
    assert msg["out_txt"] == "A\ufffd𝄞B\r\n"
    assert msg["out_bin"] == [255]


def test_consecutive_invalid_sequences_merge_and_count_maximal_subparts() -> None:
    msg = json.loads(encode([("o", b"\xe2\x82\xffx")]))
    assert msg["timing"] == "]2/3>1"
    assert msg["out_bin"] == [226, 130, 255]


def test_incomplete_sequence_waits_for_the_next_chunk() -> None:
    msg = json.loads(encode([("o", b"a\xf0\x9d"), ("o", b"\x84\x9eb")]))
    assert msg["timing"] == ">1+1>2"
    assert msg["out_txt"] == "a𝄞b"


def test_incomplete_sequence_at_the_end_is_cut_to_binary() -> None:
    msg = json.loads(encode([("o", b"a\xf0\x9d")]))
    assert msg["timing"] == ">1]1/2"


def test_interleaving_within_a_millisecond_is_kept() -> None:
    enc = Encoder()
    for data, out in ((b"a", False), (b"a", True), (b"b", False), (b"b", True)):
        (enc.output if out else enc.input)(0.0, data)
    enc.finish()
    assert b'"timing":"<1>1<1>1"' in enc.take()[0].payload


def test_delays_do_not_drift() -> None:
    enc = Encoder()
    for n in range(1000):
        enc.output(n * 0.0004, b"x")  # 0.4 ms apart: tlog would lose every delay
    enc.finish()
    framer, reader = Framer(META), Reader()
    packets = [p for body in enc.take() for p in reader.feed(framer.frame(body)[1])]
    assert packets[-1].ms == int(999 * 0.4)


def test_window_repeated_at_message_start_and_duplicates_suppressed() -> None:
    log = encode([("w", (80, 24)), ("w", (80, 24)), ("o", b"x" * 100), ("w", (90, 30))], payload=64)
    timings = [json.loads(line)["timing"] for line in log.splitlines()]
    assert timings[0].startswith("=80x24")
    assert timings[0].count("=") == 1
    assert all(t.startswith("=80x24") for t in timings[1:-1])
    assert "=90x30" in timings[-1]


@pytest.mark.parametrize("payload", [32, 33, 64, 100, 2048, 65536])
def test_messages_respect_payload(payload: int) -> None:
    data = (b'abc\r\n\x1b[0m\xc3\xa9\xf0\x9d\x84\x9e\xff\x00"\\' * 300)[: 3000 + payload]
    log = encode([("w", (120, 40)), ("o", data), ("i", data[:500])], payload=payload)
    lines = log.splitlines()
    assert all(payload_size(line) <= payload for line in lines)
    assert [json.loads(line)["id"] for line in lines] == list(range(1, len(lines) + 1))
    assert replay(log) == data
    assert replay(log, INPUT) == data[:500]


def test_binary_flood_uses_whole_runs_and_round_trips() -> None:
    data = bytes(range(256)) * 40
    log = encode([("o", data)])
    assert replay(log) == data
    assert all(payload_size(line) <= 2048 for line in log.splitlines())


chunks = st.lists(
    st.tuples(st.sampled_from("oiw"), st.binary(max_size=300) | st.text(max_size=100).map(str.encode)),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(chunks, st.sampled_from([32, 40, 77, 256, 2048]))
def test_round_trip_arbitrary_streams(events, payload) -> None:
    evs = [(k, (len(d) + 1, len(d) % 7 + 1) if k == "w" else d) for k, d in events]
    log = encode(evs, payload=payload)
    assert replay(log) == b"".join(d for k, d in evs if k == "o")
    assert replay(log, INPUT) == b"".join(d for k, d in evs if k == "i")
    assert all(payload_size(line) <= payload for line in log.splitlines())
    reader = Reader()
    windows = [p.size for line in log.splitlines() for p in reader.feed(line) if p.kind == WINDOW]
    expected = []
    for k, d in evs:
        if k == "w" and (not expected or expected[-1] != d):
            expected.append(d)
    assert windows == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=2000), st.lists(st.integers(1, 1999), max_size=6))
def test_round_trip_any_cut_points(data, cuts) -> None:
    bounds = sorted({0, len(data), *[c for c in cuts if c < len(data)]})
    log = encode([("o", data[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)], payload=64)
    assert replay(log) == data


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b'{"ver":"3.0"}', 'unsupported "ver"'),
        (b"[1]", "not a JSON object"),
        (b"{", "incomplete message object line"),
        (b'{"a" 1}', "invalid JSON"),
        (b'{"ver":"2.3","host":"h","user":"u","term":"","session":0,"id":1,"pos":0}', '"session"'),
    ],
)
def test_parse_errors_are_one_line(line: bytes, error: str) -> None:
    with pytest.raises(FormatError) as exc:
        parse_message(line)
    assert error in str(exc.value)
    assert "\n" not in str(exc.value)


def _msg(**over) -> bytes:
    base = {"ver": "2.3", "host": "h", "rec": "r", "user": "u", "term": "", "session": 1, "id": 1, "pos": 0}
    base |= {"time": 1.0, "timing": ">1", "in_txt": "", "in_bin": [], "out_txt": "x", "out_bin": []}
    return json.dumps(base | over).encode()


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ([_msg(), _msg(id=3)], "message ID is out of order"),
        ([_msg(pos=5), _msg(id=2, pos=4)], "packet timestamp is out of order"),
        ([_msg(timing=">2")], '"in_txt" or "out_txt"'),
        ([_msg(timing="]1/1")], '"in_bin" or "out_bin"'),
        ([_msg(timing="x1")], '"timing"'),
        ([_msg(time=1)], '"time" has invalid type'),
        ([_msg(out_bin=[256])], '"out_bin"'),
        ([b'{"ver":"2.3",'], "incomplete message"),
    ],
)
def test_reader_is_as_strict_as_tlog(lines, error) -> None:
    reader = Reader()
    with pytest.raises(FormatError, match=error):
        for line in lines:
            reader.feed(line)


def test_lax_allows_id_gaps_but_not_reordering() -> None:
    reader = Reader(lax=True)
    reader.feed(_msg())
    reader.feed(_msg(id=5))
    with pytest.raises(FormatError):
        reader.feed(_msg(id=5))


def test_reader_tolerates_what_tlog_tolerates() -> None:
    line = _msg(timing=" >1 ", extra=1, time=1.123456)
    assert Reader().feed(line + b"\r\n")[0].data == b"x"
    assert Reader().feed(b"   ") == []
