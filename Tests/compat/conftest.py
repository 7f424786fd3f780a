"""Hooks shared by every compatibility suite: the binary and backends under test in the report
header, the log of each server that ran during a failed test attached to its report, and, when
the suites run on Postgres (CAIRN_COMPAT_DATABASE=postgres), the tests that are about the
embedded store's data directory skipped with the reason."""

from __future__ import annotations

import socket
import time

import pytest

from cairncompat import backend_description, cairn_bin, compat_database, server_log_sections

# The SDKs call servers with long or no timeouts; never let a wedged server hang the suite.
socket.setdefaulttimeout(30)

_test_started_at = [0.0]


def pytest_report_header(config):
    path = cairn_bin()
    return [f"cairn binary: {path}" + ("" if path.exists() else " (MISSING)"),
            f"cairn backends: {backend_description()}"]


# Tests of the embedded store itself (its file, its directory, its disk): on Postgres they
# would test nothing or fail for a reason that is no bug. Node id prefix -> why.
SQLITE_ONLY = {
    "cli/test_cli_backup.py":
        "cairn backup/restore copy a data directory's SQLite store (Postgres has pg_dump)",
    "cli/test_cli_serve_errors.py":
        "starts `cairn serve` by hand on a data directory, not through the harness",
    "hardening/test_auth_hardening.py::test_keys_cli_never_creates_a_store":
        "about `cairn keys` on a missing data directory",
    "hardening/test_auth_hardening.py::test_keys_cli_says_which_store_it_opened":
        "checks the SQLite file `cairn keys` names",
    "hardening/test_disk_full.py":
        "fills the file system under the data directory, where a Postgres store is not",
}


def pytest_collection_modifyitems(config, items):
    if not compat_database():
        return
    for item in items:
        nodeid = item.nodeid.replace("\\", "/")
        for prefix, why in SQLITE_ONLY.items():
            if nodeid.startswith(prefix) or nodeid.startswith("Tests/compat/" + prefix):
                item.add_marker(pytest.mark.skip(reason=f"embedded store only: {why}"))
                break


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _test_started_at[0] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        report.sections.extend(server_log_sections(_test_started_at[0]))
