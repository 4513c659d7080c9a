"""Counts the requests the contract fuzzer generated, for the run's summary."""

from __future__ import annotations

import pytest

GENERATED = {"requests": 0}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if GENERATED["requests"]:
        terminalreporter.write_line(
            f"Contract fuzzing: {GENERATED['requests']} generated requests, "
            "checked against the OpenAPI document"
        )
