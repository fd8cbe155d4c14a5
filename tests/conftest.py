"""Shared fixtures: the real-component lab, started once per test session."""

from __future__ import annotations

import os
import types
from collections.abc import Iterator

import pytest

from tests import installed as installed_copy
from tests.lab.lab import Lab


def _hypothesis_profile() -> None:
    """CI runs the property tests with a fixed seed, so a red run can be reproduced; local runs explore.
    (The `make test-ipa` venv has no hypothesis.)"""
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        settings.load_profile("ci")


_hypothesis_profile()

_started: list[Lab] = []


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """389-ds, system D-Bus, sssd, journald, sshd, and auditd on first use; a failing component fails."""
    with Lab(lazy_audit=True) as running:
        _started.append(running)
        yield running


@pytest.fixture(scope="session")
def installed() -> types.ModuleType:
    """The installed product (`make install`), current with the checkout; tests that run something as
    another user take its programs from here, never from the checkout (which may be mode 0700)."""
    problem = installed_copy.problem()
    if problem is not None:
        pytest.fail(problem)
    return installed_copy


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for running in _started:
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in running.timings.items())
        terminalreporter.write_line(f"lab start-up: {parts}")
