"""Structured logs: one JSON object per line, secrets redacted.

:func:`configure_logging` attaches a :class:`JsonLinesHandler` to the ``greekfire`` logger.
Each record becomes one line of ``logs/trading_system.jsonl``::

    {"ts": "2026-11-23T14:30:00.123456+00:00", "level": "INFO", "logger": "greekfire.engine",
     "msg": "cycle done", "cycle": 12, "timings_s": {"fetch": 0.031}}

Every ``extra=`` field is kept and made JSON-safe (numpy scalars and arrays, datetimes,
enums, paths, dataclasses, pydantic models, exceptions as type + message + traceback).
Redaction runs on every string that reaches the file: the secret values given, any value
under a key named like a credential (``api_key``, ``secret``, ``token``, ``password``,
``authorization``), and ``Authorization: ...`` / ``APCA-API-SECRET-KEY: ...`` /
``secret_key=...`` patterns inside messages and tracebacks.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import re
import traceback
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel, SecretBytes, SecretStr

__all__ = ["REDACTED", "JsonLinesHandler", "configure_logging", "redact"]

REDACTED = "***"
LOGGER_NAME = "greekfire"

# Words that make a key hold a credential (matched on whole words of the key).
_SECRET_WORDS = frozenset(
    {"key", "apikey", "secret", "token", "password", "passwd", "authorization", "credentials"}
)
# "Authorization: Bearer abc", "APCA-API-SECRET-KEY: abc", "'secret_key': 'abc'", "token=abc".
_HEADER_PATTERN = re.compile(
    r"""(?ix)
    (?P<name>\b(?:proxy-)?authorization|\bapca-api-(?:secret-key|key-id)|\bx-api-key)
    (?P<sep>["']?\s*[:=]\s*)
    (?P<value>"[^"\r\n]*"|'[^'\r\n]*'|[^\r\n,;}]+)
    """
)
_PAIR_PATTERN = re.compile(
    r"""(?ix)
    (?P<name>\b[\w-]*(?:secret|password|passwd|token|api[_-]?key|key[_-]?id)[\w-]*)
    (?P<sep>["']?\s*[:=]\s*)
    (?P<value>"[^"\r\n]*"|'[^'\r\n]*'|[^\s,;&}]+)
    """
)
_MIN_SECRET_LEN = 4  # shorter "secrets" would redact ordinary text
_MAX_DEPTH = 8
_MAX_ITEMS = 1000
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _is_secret_key(key: object) -> bool:
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", str(key)).lower())
    return any(w in _SECRET_WORDS for w in words)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove secrets from a string.

    Parameters
    ----------
    text : str
        Any text (a message, a traceback, a repr of headers).
    secrets : iterable of str
        Values to replace wherever they occur (values shorter than 4 characters are ignored).

    Returns
    -------
    str
        ``text`` with the secret values, ``Authorization``/``APCA-API-*`` header values and
        ``<secret-like name>=<value>`` pairs replaced by ``***``.
    """
    for secret in sorted({s for s in secrets if len(s) >= _MIN_SECRET_LEN}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)

    def keep_quotes(match: re.Match[str]) -> str:
        value = match.group("value")
        quote = value[0] if value[:1] in ("'", '"') else ""
        return f"{match.group('name')}{match.group('sep')}{quote}{REDACTED}{quote}"

    text = _HEADER_PATTERN.sub(keep_quotes, text)
    return _PAIR_PATTERN.sub(keep_quotes, text)


class JsonLinesHandler(logging.Handler):
    """A logging handler writing one redacted JSON object per record to a file (mode 0600).

    Parameters
    ----------
    path : str or Path
        The log file; its directory is created, the file opened for appending.
    secrets : iterable of str
        Secret values that must never reach the file.
    level : int or str
        The handler's level.
    """

    def __init__(
        self, path: str | Path, *, secrets: Iterable[str] = (), level: int | str = logging.NOTSET
    ) -> None:
        super().__init__(level)
        self.path = Path(path)
        self._secrets = tuple(s for s in secrets if s)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(self._fd, 0o600)  # an existing file keeps no wider mode

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` as one JSON line (errors go to ``handleError``, never raise)."""
        try:
            line = orjson.dumps(self.to_dict(record)) + b"\n"
            self.acquire()
            try:
                self._write(line)
            finally:
                self.release()
        except Exception:
            self.handleError(record)

    def to_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        """The JSON-safe, redacted object written for ``record``.

        Parameters
        ----------
        record : logging.LogRecord
            The record.

        Returns
        -------
        dict
            ``ts`` (ISO 8601 UTC), ``level``, ``logger``, ``msg``, every extra field, and
            ``exc`` / ``stack`` when the record carries them.
        """
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format
            message = f"{record.msg} {record.args!r}"
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": self._clean(message),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and key not in out:
                out[key] = REDACTED if _is_secret_key(key) else self._safe(value, 0)
        if record.exc_info and record.exc_info[1] is not None:
            out["exc"] = self._safe(record.exc_info[1], 0)
        if record.stack_info:
            out["stack"] = self._clean(record.stack_info)
        return out

    def remove(self) -> None:
        """Detach from the ``greekfire`` logger and close the file."""
        logging.getLogger(LOGGER_NAME).removeHandler(self)
        self.close()

    def close(self) -> None:
        """Close the file; later records are dropped."""
        self.acquire()
        try:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        finally:
            self.release()
        super().close()

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def _clean(self, text: str) -> str:
        return redact(text, self._secrets)

    def _safe(self, value: Any, depth: int) -> Any:
        if isinstance(value, np.generic | enum.Enum) and depth < _MAX_DEPTH:
            # numpy scalars (np.float64 is a float orjson refuses) and enums: their plain value
            return self._safe(
                value.item() if isinstance(value, np.generic) else value.value, depth + 1
            )
        if value is None or isinstance(value, bool | int | float | str):
            return self._primitive(value)
        if isinstance(value, SecretStr | SecretBytes):
            return REDACTED
        if depth >= _MAX_DEPTH:
            return self._clean(f"<{type(value).__name__} nested too deep>")
        if isinstance(value, BaseException):
            return self._exception(value)
        if isinstance(value, Mapping):
            return self._mapping(value, depth)
        if isinstance(value, np.ndarray):
            if value.size > _MAX_ITEMS:
                return f"<ndarray shape={value.shape} dtype={value.dtype}>"
            return self._safe(value.tolist(), depth + 1)
        if isinstance(value, list | tuple | set | frozenset):
            return [self._safe(v, depth + 1) for v in list(value)[:_MAX_ITEMS]]
        return self._scalar(value, depth)

    def _primitive(self, value: bool | int | float | str | None) -> Any:
        # Plain types only: orjson refuses float subclasses and ints beyond 64 bits.
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, float):
            return float(value)
        if isinstance(value, int):
            return int(value) if -(2**63) <= value < 2**64 else str(value)
        return self._clean(str(value))

    def _scalar(self, value: Any, depth: int) -> Any:
        if isinstance(value, datetime | date | time):
            return value.isoformat()
        if isinstance(value, timedelta):
            return value.total_seconds()
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, PurePath):
            return self._clean(str(value))
        if isinstance(value, bytes):
            return self._clean(value.decode("utf-8", "replace"))
        if isinstance(value, BaseModel):
            return self._mapping(dict(value), depth)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return self._mapping(fields, depth)
        return self._clean(repr(value))

    def _mapping(self, value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= _MAX_ITEMS:
                break
            name = self._clean(str(key))
            out[name] = REDACTED if _is_secret_key(key) else self._safe(item, depth + 1)
        return out

    def _exception(self, exc: BaseException) -> dict[str, str]:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return {
            "type": type(exc).__qualname__,
            "message": self._clean(str(exc)),
            "traceback": self._clean(text),
        }


def configure_logging(
    path: str | Path, *, level: int | str = "INFO", secrets: Iterable[str] = ()
) -> JsonLinesHandler:
    """Send the ``greekfire`` logger's records to a JSON-lines file.

    Parameters
    ----------
    path : str or Path
        The log file (e.g. ``logs/trading_system.jsonl``); the directory is created and the
        file created with mode 0600.
    level : int or str
        The logger's level (``"INFO"`` by default).
    secrets : iterable of str
        Secret values to redact (e.g. ``load_secrets().redaction_values()``).

    Returns
    -------
    JsonLinesHandler
        The attached handler; ``handler.remove()`` detaches and closes it. A handler
        configured earlier for the same file is replaced, so records are never doubled.
    """
    logger = logging.getLogger(LOGGER_NAME)
    target = Path(path).resolve()
    for old in list(logger.handlers):
        if isinstance(old, JsonLinesHandler) and old.path.resolve() == target:
            old.remove()
    handler = JsonLinesHandler(path, secrets=secrets)
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
