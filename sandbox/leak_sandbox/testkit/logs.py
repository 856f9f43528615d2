"""The lines the Lambda functions would log, captured as they would be written.

The responder logs through Powertools (``leak_responder.observability.logger``, JSON to stdout,
its handler bound to the stdout of import time, so ``capsys`` misses it) and through standard
loggers under ``leak_responder``. ``captured_logs`` adds a handler to both that formats each
record with Powertools' own formatter, extra fields and tracebacks included, and lowers both
to DEBUG while it lasts so that no level escapes a check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from leak_responder.observability import logger as powertools_logger

PACKAGE_LOGGER = "leak_responder"


class LogLines(logging.Handler):
    """Each record handled, formatted: ``lines`` in order."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(powertools_logger.registered_formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)

    def clear(self) -> None:
        self.lines.clear()


@contextmanager
def captured_logs() -> Iterator[LogLines]:
    """Every line logged by the responder's loggers while the block runs."""
    capture = LogLines()
    loggers = [logging.getLogger(powertools_logger.name), logging.getLogger(PACKAGE_LOGGER)]
    levels = [each.level for each in loggers]
    for each in loggers:
        each.addHandler(capture)
        each.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        for each, level in zip(loggers, levels, strict=True):
            each.removeHandler(capture)
            each.setLevel(level)
