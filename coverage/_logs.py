"""walkshed's log records on stderr while a command runs (the CLI's only logging set-up)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any


class _StderrHandler(logging.Handler):
    """Log records as ``walkshed: message`` lines on the current ``sys.stderr``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"walkshed: {record.getMessage()}\n")
        except Exception:  # never let a log line break a run
            self.handleError(record)


@contextlib.contextmanager
def logging_to_stderr(opts: Any) -> Iterator[None]:
    """Show walkshed's warnings (all messages with --debug, errors only with --quiet) while a
    command runs, and restore the logger afterwards (the CLI may run inside another program)."""
    logger = logging.getLogger("walkshed")
    saved = (logger.level, logger.propagate)
    handler = _StderrHandler()
    logger.setLevel(logging.DEBUG if opts.debug else logging.ERROR if opts.quiet
                    else logging.WARNING)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
