"""The JSON-lines log: one object per record, JSON-safe extras, secrets never written."""

from __future__ import annotations

import enum
import json
import logging
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from greekfire.engine.logs import REDACTED, JsonLinesHandler, configure_logging, redact

SECRET = "PKsecret-7d1f2e9a0c"
KEY_ID = "PKKEY-3b9e11"


class Phase(enum.Enum):
    FETCH = "fetch"


@dataclass(frozen=True)
class Timing:
    phase: Phase
    seconds: float


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[tuple[Path, JsonLinesHandler]]:
    path = tmp_path / "logs" / "nested" / "trading_system.jsonl"
    handler = configure_logging(path, level="DEBUG", secrets=[SECRET, KEY_ID])
    yield path, handler
    handler.remove()


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_record_with_extras_round_trips(log_file: tuple[Path, JsonLinesHandler]) -> None:
    path, _ = log_file
    when = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
    logging.getLogger("greekfire.engine").info(
        "cycle %d done",
        12,
        extra={
            "cycle": 12,
            "timings_s": {"fetch": np.float64(0.031), "risk": 0.002},
            "count": np.int64(500),
            "flags": np.array([True, False]),
            "at": when,
            "phase": Phase.FETCH,
            "timing": Timing(Phase.FETCH, 0.5),
            "where": path.parent,
            "huge": 2**70,
        },
    )
    (row,) = _lines(path)
    assert row["msg"] == "cycle 12 done"
    assert row["level"] == "INFO"
    assert row["logger"] == "greekfire.engine"
    assert datetime.fromisoformat(str(row["ts"])).utcoffset() is not None
    assert row["cycle"] == 12
    assert row["timings_s"] == {"fetch": 0.031, "risk": 0.002}
    assert row["count"] == 500
    assert row["flags"] == [True, False]
    assert row["at"] == "2026-11-23T14:30:00+00:00"
    assert row["phase"] == "fetch"
    assert row["timing"] == {"phase": "fetch", "seconds": 0.5}
    assert row["where"] == str(path.parent)
    assert row["huge"] == str(2**70)


def test_timestamp_comes_from_the_record(log_file: tuple[Path, JsonLinesHandler]) -> None:
    path, handler = log_file
    record = logging.LogRecord("greekfire.x", logging.WARNING, "f.py", 1, "m", None, None)
    record.created = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC).timestamp()
    handler.handle(record)
    (row,) = _lines(path)
    assert row["ts"] == "2026-01-02T03:04:05.600000+00:00"
    assert row["level"] == "WARNING"


def test_one_line_per_record_even_with_newlines(log_file: tuple[Path, JsonLinesHandler]) -> None:
    path, _ = log_file
    log = logging.getLogger("greekfire.test")
    log.info("first line\nsecond line\r\nthird")
    log.info("plain", extra={"note": "a\nb"})
    rows = _lines(path)
    assert len(path.read_text().splitlines()) == 2
    assert rows[0]["msg"] == "first line\nsecond line\r\nthird"
    assert rows[1]["note"] == "a\nb"


def test_planted_secrets_never_reach_the_file(log_file: tuple[Path, JsonLinesHandler]) -> None:
    path, _ = log_file
    log = logging.getLogger("greekfire.broker")
    log.info("connecting with %s", SECRET)  # as a value in the message
    log.info("headers: Authorization: Bearer tok-abc-123-xyz")
    log.info("sent {'APCA-API-SECRET-KEY': 'hdr-secret-4242', 'APCA-API-KEY-ID': 'hdr-id-99'}")
    log.info("url https://x/?api_key=qs-secret-777&symbol=SPY")
    log.info("extras", extra={"api_secret": "extra-secret-5150", "payload": {"token": "tk-8"}})
    log.info("extras2", extra={"config": {"nested": [{"password": "pw-in-list-31"}]}})
    log.info("a SecretStr", extra={"cred": SecretStr("secretstr-value-1")})
    log.info("in a list", extra={"argv": [f"key={KEY_ID}", "ok"]})
    try:
        raise RuntimeError(f"auth failed for {SECRET}")
    except RuntimeError:
        log.exception("broker call failed")
    try:
        raise ValueError("bad header Authorization: Basic exc-secret-b64")
    except ValueError as exc:
        log.warning("kept as extra", extra={"error": exc})
    text = path.read_text()
    planted = [
        SECRET,
        KEY_ID,
        "tok-abc-123-xyz",
        "hdr-secret-4242",
        "hdr-id-99",
        "qs-secret-777",
        "extra-secret-5150",
        "tk-8",
        "pw-in-list-31",
        "secretstr-value-1",
        "exc-secret-b64",
    ]
    for secret in planted:
        assert secret not in text, secret
    rows = _lines(path)
    assert len(rows) == 10
    assert rows[0]["msg"] == f"connecting with {REDACTED}"
    assert rows[4]["api_secret"] == REDACTED
    assert "symbol=SPY" in str(rows[3]["msg"])  # only the secret part goes
    exc = rows[8]["exc"]
    assert isinstance(exc, dict)
    assert exc["type"] == "RuntimeError"
    assert exc["message"] == f"auth failed for {REDACTED}"
    assert "Traceback" in exc["traceback"]
    error = rows[9]["error"]
    assert isinstance(error, dict)
    assert error["type"] == "ValueError"


def test_file_mode_is_0600_and_directory_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "log.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("")
    path.chmod(0o644)  # an existing, too-open file is tightened
    handler = configure_logging(path)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        handler.remove()
    fresh = tmp_path / "new" / "dir" / "log.jsonl"
    handler = configure_logging(fresh)
    try:
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    finally:
        handler.remove()


def test_level_filters_and_remove_detaches(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    handler = configure_logging(path, level="WARNING")
    log = logging.getLogger("greekfire.level")
    log.info("dropped")
    log.warning("kept")
    handler.remove()
    log.warning("after remove")
    assert [row["msg"] for row in _lines(path)] == ["kept"]
    assert handler not in logging.getLogger("greekfire").handlers


def test_configuring_the_same_file_twice_does_not_double_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    first = configure_logging(path)
    second = configure_logging(path)
    try:
        logging.getLogger("greekfire.twice").info("once")
        assert first not in logging.getLogger("greekfire").handlers
        assert len(_lines(path)) == 1
    finally:
        second.remove()


def test_bad_format_arguments_still_log(log_file: tuple[Path, JsonLinesHandler]) -> None:
    path, _ = log_file
    _, handler = log_file
    record = logging.LogRecord(
        "greekfire.fmt", logging.INFO, "f.py", 1, "needs two %s %s", ("one",), None
    )
    handler.handle(record)  # the pytest capture handler would choke on it, so bypass the logger
    (row,) = _lines(path)
    assert "needs two" in str(row["msg"])


def test_redact_helper() -> None:
    assert redact("x PKsecret-7d1f2e9a0c y", [SECRET]) == f"x {REDACTED} y"
    assert redact('{"Authorization": "Bearer abc.def"}') == f'{{"Authorization": "{REDACTED}"}}'
    assert redact("password=hunter22 user=bob") == f"password={REDACTED} user=bob"
    assert redact("nothing to hide", ["ab"]) == "nothing to hide"  # too short to be a secret
