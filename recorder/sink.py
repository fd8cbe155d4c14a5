"""Encoder + rate limiter + framer + writer: what the I/O loop feeds with timestamped terminal data."""

from __future__ import annotations

import time

from .tlogformat import Body, Encoder, Framer, Meta, event_body
from .writers import Writer

LIMIT_ACTIONS = ("pass", "delay", "drop")


class RateLimiter:
    """A leaky bucket over message bytes (tlog's rl_json_writer): `rate` bytes/s, `burst` on top."""

    def __init__(
        self, rate: float, burst: float, action: str, clock=time.monotonic, sleep=time.sleep
    ) -> None:
        self.rate, self.burst, self.action = rate, burst, action
        self.clock, self.sleep = clock, sleep
        self.level = 0.0
        self.last = clock()

    def admit(self, size: int) -> bool:
        """True if a message of `size` bytes may be written (after sleeping, for "delay")."""
        if self.action == "pass":
            return True
        now = self.clock()
        self.level = max(0.0, self.level - (now - self.last) * self.rate)
        self.last = now
        excess = self.level + size - (self.rate + self.burst)
        if excess > 0:
            if self.action == "drop":
                return False
            if self.rate > 0:
                self.sleep(excess / self.rate)
                self.level = max(0.0, self.level - excess)
                self.last = self.clock()
        self.level += size
        return True


class Sink:
    """Records I/O; writes complete messages at once and the rest after `latency` seconds."""

    def __init__(
        self,
        writer: Writer,
        meta: Meta,
        payload: int = 2048,
        latency: float = 10.0,
        limiter: RateLimiter | None = None,
        log_output: bool = True,
        log_window: bool = True,
    ) -> None:
        self.writer = writer
        self.log_output = log_output
        self.log_window = log_window
        self.encoder = Encoder(payload)
        self.framer = Framer(meta)
        self.latency = latency
        self.limiter = limiter
        self.dropped = 0  # messages
        self.dropped_bytes = 0
        self.started = False  # a start record was written: close() writes the end record
        self._drop: dict | None = None  # drops not yet told in a drop record

    def start(self, t: float, **info) -> None:
        """Write the start record, at once: the recording starts here (pos 0 at monotonic time `t`), before
        the session runs, so a log that cannot be written stops the session before it starts (WriterError)."""
        self.encoder.t0 = t
        self.framer.start_real_ms = int(time.time() * 1000 - (time.monotonic() - t) * 1000)
        self.writer.write([self.framer.frame(event_body(0, {"event": "start", **info}))])
        self.started = True

    def _started(self, t: float) -> None:
        if self.encoder.t0 is None:
            self.framer.start_real_ms = int(time.time() * 1000 - (time.monotonic() - t) * 1000)

    def output(self, t: float, data: bytes, write: bool = True) -> None:
        """Record output; `write=False` leaves finished messages for `write_finished`."""
        self._started(t)
        if not self.log_output:
            return
        self.encoder.output(t, data)
        if write and self.encoder.bodies:
            self._write()

    def write_finished(self) -> None:
        if self.encoder.bodies:
            self._write()

    def input(self, t: float, data: bytes) -> None:
        self._started(t)
        self.encoder.input(t, data)
        if self.encoder.bodies:
            self._write()

    def window(self, t: float, width: int, height: int) -> None:
        self._started(t)
        if not self.log_window:
            return
        self.encoder.window(t, width, height)
        if self.encoder.bodies:
            self._write()

    def timeout(self, now: float) -> float | None:
        """Seconds until buffered data is due, or None if nothing is buffered."""
        first = self.encoder.first_time
        return None if first is None else max(0.0, first + self.latency - now)

    def tick(self, now: float) -> None:
        first = self.encoder.first_time
        if first is not None and now - first >= self.latency:
            self.flush()

    def flush(self) -> None:
        self.encoder.flush()
        self._write()

    def close(
        self, status: int | None = None, signal: str | None = None, abnormal: str | None = None, **info
    ) -> None:
        """Write what is buffered and, after a start record, the end record: the session's exit `status`
        (shell-like: 128 + N for signal N), the `signal` name that ended it, if one did, and why the end is
        `abnormal` (no exit status known, say), if it is; `info` adds fields (a transfer's byte counts)."""
        self.encoder.finish()
        self._write()
        if self.started:
            end: dict = {"event": "end", **info}
            if status is not None:
                end["status"] = status
            if signal is not None:
                end["signal"] = signal
            if abnormal is not None:
                end["abnormal"] = abnormal
            if self.dropped:
                end |= {"dropped_messages": self.dropped, "dropped_bytes": self.dropped_bytes}
            pos = self.encoder.ms_at(time.monotonic())
            frames = [self.framer.frame(self._drop_body())] if self._drop else []
            self.writer.write([*frames, self.framer.frame(event_body(pos, end))])
        self.writer.close()

    def _write(self) -> None:
        frames = []
        for body in self.encoder.take():
            if self.limiter:
                size = self.framer.size(body)
                if not self.limiter.admit(size):
                    self.dropped += 1
                    self.dropped_bytes += size
                    drop = self._drop or {"event": "drop", "messages": 0, "bytes": 0, "from": body.pos}
                    drop["messages"] += 1
                    drop["bytes"] += size
                    drop["to"] = body.pos
                    self._drop = drop
                    continue
                if self._drop:  # told before what comes after the gap, outside the limit
                    frames.append(self.framer.frame(self._drop_body()))
            frames.append(self.framer.frame(body))
        if frames:
            self.writer.write(frames)

    def _drop_body(self) -> Body:
        drop, self._drop = self._drop, None
        return event_body(drop["from"], drop)
