"""Logging of the server processes: plain lines, or JSON lines with LOG_FORMAT=json.

One configuration for the application's loggers and uvicorn's, applied by ``checkin serve``
in its own process and handed to uvicorn for every worker. Uvicorn's access log is never
used: it writes the raw path and query string; server/observability/requests.py writes one
line per request instead (ACCESS_LOG=true) with the route template.
"""

from __future__ import annotations

from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

from server.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary for these settings."""
    level = settings.log_level.upper()
    if settings.log_format == "json":
        formatter: dict[str, Any] = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
            # uvicorn adds a copy of its messages with terminal colours
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
        }
    else:
        formatter = {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # uvicorn's loggers log through the root's handler, not handlers of their own.
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": False},
            # Request lines are asked for with ACCESS_LOG, whatever LOG_LEVEL says.
            "server.access": {"level": "INFO" if settings.access_log else "WARNING"},
        },
    }
