"""Log hygiene for outages: one line per kind of trouble, not one per request or retry."""

from __future__ import annotations

import logging
import time


class Sparse:
    """Lets a message through at most once per ``seconds``; says how many it held back."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last = float("-inf")
        self._held = 0

    def due(self) -> int | None:
        """None while quiet; else how many were held back since the last one let through."""
        now = time.monotonic()
        if now - self._last < self.seconds:
            self._held += 1
            return None
        held, self._held, self._last = self._held, 0, now
        return held


class ConnectionErrorsInOneLine(logging.Filter):
    """asyncpg's pool logs a full traceback each time it fails to reconnect while the database
    is down or restarting; the error's name says as much, in one line."""

    def __init__(self, kinds: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self.kinds = kinds

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and isinstance(exc, self.kinds):
            record.msg = f"{record.getMessage()} ({type(exc).__name__})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True
