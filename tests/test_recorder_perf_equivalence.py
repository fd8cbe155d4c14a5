"""The encoder's fast paths against their reference: byte-level escaping, digit lanes, whole-message loops
(`Encoder(fast=False)` runs every message through the general bookkeeping), and the binary-flood encoding."""

from __future__ import annotations

import codecs
import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.tlogformat import (
    OUTPUT,
    Encoder,
    Framer,
    Reader,
    _bin_digits,
    _code_points,
    _cut,
    _incomplete_tail,
    _is_flood,
    escape,
    escape_utf8,
    is_text,
)
from tests.recorder_helpers import META, encode_bodies

SPECIALS = "".join(map(chr, range(0x20))) + '"\\\x7f'
# Encodable text only: lone surrogates have no UTF-8 form, so a recorder never sees them.
encodable = st.characters(blacklist_categories=("Cs",))
texty = st.text(alphabet=st.sampled_from(SPECIALS + "au\\é日𝄞 ") | encodable, max_size=300)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=encodable, max_size=200) | texty)
def test_escape_utf8_is_escape(text: str) -> None:
    assert escape_utf8(text.encode()) == escape(text).encode()


@settings(max_examples=500, deadline=None)
@given(texty, st.data())
def test_code_points_count_characters_of_escaped_pieces(text: str, data) -> None:
    """Counting continuation bytes and escapes, as the encoder does on its message-sized pieces."""
    raw = text.encode()
    enc = escape_utf8(raw)
    at = _cut(enc, 0, data.draw(st.integers(0, len(enc))))
    end = _cut(enc, at, data.draw(st.integers(at, len(enc))))
    seg = enc[at:end]
    expected = len(json.loads(b'"' + seg + b'"'))
    ascii_only, plain = raw.isascii(), enc is raw
    assert _code_points(seg, ascii_only, plain, b"\\" in raw) == expected
    assert _code_points(seg, ascii_only, plain) == expected


def test_is_text() -> None:
    rng = random.Random(1)
    assert is_text(("déjà vu 日本語 \x1b[1m\n" * 300).encode()[:4095])  # cut inside a character
    assert is_text("plain latin-1 caf\xe9\n".encode("latin-1") * 100)
    assert not is_text(rng.randbytes(4096))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_bin_digits_are_the_json_array_items(data: bytes) -> None:
    assert _bin_digits(data) == ",".join(map(str, data)).encode()
    assert json.loads(b"[" + _bin_digits(data) + b"]") == list(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_incomplete_tail_is_the_decoders(data: bytes) -> None:
    used = codecs.utf_8_decode(data, "surrogateescape", False)[1]
    assert _incomplete_tail(data) == len(data) - used


def _bodies(events, payload: int, fast: bool) -> list:
    return encode_bodies(Encoder(payload, fast=fast), events)


def _chunk(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    size = rng.choice([1, 7, 100, 700, 5000, 40000])
    if kind == 0:  # text with escapes, multi-byte characters and backslashes
        return "".join(
            rng.choice(["ab", "é", "日", "𝄞", "\r\n", "\x1b[0m", "\\", '"', "\\u", "\x7f"])
            for _ in range(size // 2)
        ).encode()
    if kind == 1:  # a binary flood
        return rng.randbytes(size)
    if kind == 2:  # plain ASCII
        return bytes(rng.choice(b"abcdef \n") for _ in range(size))
    if kind == 3:  # text with a few invalid bytes
        text = bytearray("déjà vu 日本語\r\n".encode() * (size // 20 + 1))
        for _ in range(rng.randint(1, 3)):
            text[rng.randrange(len(text))] = 0xFF
        return bytes(text)
    return bytes(range(256)) * (size // 256 + 1)


def _events(rng: random.Random) -> list:
    events, t = [], 0.0
    for _ in range(rng.randint(1, 8)):
        t += rng.choice([0.0, 0.0004, 0.002, 1.5])
        kind = rng.choice("oooiw")
        events.append((t, kind, (rng.randint(1, 500), rng.randint(1, 200)) if kind == "w" else _chunk(rng)))
    return events


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([32, 33, 47, 64, 100, 2048, 65536]))
def test_fast_paths_make_the_reference_messages(seed: int, payload: int) -> None:
    events = _events(random.Random(seed))
    assert _bodies(events, payload, fast=True) == _bodies(events, payload, fast=False)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([32, 40, 64, 2048]))
def test_split_chunks_make_the_reference_messages(seed: int, payload: int) -> None:
    rng = random.Random(seed)
    data = _chunk(rng) + _chunk(rng)
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(3))
    bounds = zip([0, *cuts], [*cuts, len(data)], strict=True)
    events = [(n * 0.001, "o", data[a:b]) for n, (a, b) in enumerate(bounds)]
    assert _bodies(events, payload, fast=True) == _bodies(events, payload, fast=False)


def _log(events, payload: int) -> bytes:
    framer = Framer(META, 1_700_000_000_000)
    return b"".join(framer.frame(body)[1] for body in _bodies(events, payload, fast=True))


def test_flood_is_whole_runs_and_round_trips() -> None:
    data = random.Random(7).randbytes(100_000)
    log = _log([(0.0, "o", data)], 2048)
    reader = Reader()
    assert (
        b"".join(p.data for line in log.splitlines() for p in reader.feed(line) if p.kind == OUTPUT) == data
    )
    for line in log.splitlines():
        msg = json.loads(line)
        assert msg["timing"].startswith("]1/") and msg["timing"].count("]") == 1
        assert msg["out_txt"] == "\ufffd"
        payload = (
            len(msg["timing"])
            + len(escape(msg["out_txt"]).encode())
            + len(_bin_digits(bytes(msg["out_bin"])))
        )
        assert 2000 < payload <= 2048 or line == log.splitlines()[-1]


def test_texts_with_invalid_bytes_are_not_floods() -> None:
    latin1 = "Voilà déjà l'été à Noël, ça coûte très cher.\n".encode("latin-1") * 100
    assert not _is_flood(latin1, latin1.index(b"\xe0"))
    japanese = "日本語のテキスト。".encode() * 200 + b"\xff"
    assert not _is_flood(japanese, len(japanese) - 1)
    noise = random.Random(1).randbytes(1000)
    assert _is_flood(noise, noise.index(b"\xff"))
