"""Shared fixtures: the real-component lab, started once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.lab import Lab

_started: list[Lab] = []


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """389-ds, system D-Bus, sssd, journald, sshd, and auditd on first use; a failing component fails."""
    with Lab(lazy_audit=True) as running:
        _started.append(running)
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for running in _started:
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in running.timings.items())
        terminalreporter.write_line(f"lab start-up: {parts}")
