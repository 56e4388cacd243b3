"""Structured logs: one JSON object per line. Personal data never goes into a log event."""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import Processor


def configure(level: str = "INFO", json: bool = True) -> None:
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False),
    ]
    structlog.configure(processors=processors,
                        wrapper_class=structlog.make_filtering_bound_logger(
                            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)),
                        # Resolve stderr when a logger is made, not once at start-up, so a
                        # redirected stderr (a supervisor's pipe, a test's capture) is honoured.
                        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
                        cache_logger_on_first_use=False)
