"""Hooks shared by every compatibility suite: the binary under test in the report header, and
the log of each server that ran during a failed test attached to its report."""

from __future__ import annotations

import socket
import time

import pytest

from cairncompat import cairn_bin, server_log_sections

# The SDKs call servers with long or no timeouts; never let a wedged server hang the suite.
socket.setdefaulttimeout(30)

_test_started_at = [0.0]


def pytest_report_header(config):
    path = cairn_bin()
    return [f"cairn binary: {path}" + ("" if path.exists() else " (MISSING)")]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _test_started_at[0] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        report.sections.extend(server_log_sections(_test_started_at[0]))
