"""Logging set-up: every line carries the request id of the request it is about.

Text lines for people, or (`--log-json`) one JSON object per line for log shippers,
written by python-json-logger.
"""

import logging
import sys

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from .request_id import request_id_var

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        ["asctime", "levelname", "name", "request_id", "message"],
        datefmt="%Y-%m-%dT%H:%M:%S",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "exception"},
        # uvicorn adds a terminal-coloured copy of some messages: not for shippers
        reserved_attrs=[*RESERVED_ATTRS, "color_message"],
    )


def configure_logging(level: str = "info", as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(json_formatter() if as_json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
