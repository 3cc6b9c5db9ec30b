"""Security suite: planted secrets never leak, the dashboard token guards the controls (in
constant time), SQL is parameterised, nothing from outside is unpickled or evaluated, the
locked dependencies have no unaccepted vulnerability, files that may hold secrets are private.

The dynamic half runs the real ``greekfire run`` (a child process, ``--dashboard``) with
AlpacaProvider/AlpacaBroker against serve-market with auth on, planted ``APCA_API_KEY_ID``,
``APCA_API_SECRET_KEY`` and ``GREEKFIRE_DASHBOARD_TOKEN`` values; then a paper-broker run,
runs with bad credentials (401s), a bad config, and in-process exceptions. Every output is
grepped for the planted values and their base64 / URL-encoded forms. The static half scans
the source tree (:mod:`ast`) and audits the dependencies: those checks live in
:mod:`greekfire.reliability.security_static` and are re-exported here.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import traceback
import urllib.parse
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import yaml

from greekfire.reliability.result import Figure, SuiteResult
from greekfire.reliability.security_static import (
    AUDIT_ACCEPTED,
    DESERIALISATION_ALLOWLIST,
    LOCK,
    SqlSite,
    check_token_comparison,
    pip_audit,
    scan_deserialisation,
    scan_sql,
    unaccepted_vulnerabilities,
)
from greekfire.reliability.security_static import SQL_ALLOWLIST as SQL_ALLOWLIST
from greekfire.reliability.security_static import SRC as SRC

__all__ = [
    "AUDIT_ACCEPTED",
    "DESERIALISATION_ALLOWLIST",
    "SqlSite",
    "check_token_comparison",
    "planted_forms",
    "run",
    "scan_deserialisation",
    "scan_sql",
    "unaccepted_vulnerabilities",
]

_SYMBOLS: Final = ("MSFT", "SPY")
_MONDAY_OPEN: Final = "2026-11-09T14:35:00+00:00"
_STRATEGY_SOURCE: Final = '''"""Planted by the security suite: buys 10 shares per symbol."""
from greekfire.domain.orders import Side
from greekfire.strategy.base import Strategy


class BuyOnce(Strategy):
    kind = "security_buy_once"

    def on_cycle(self, ctx):
        return [
            self.single(s, Side.BUY, 10, reason="security entry", opening=True)
            for s in self.symbols
            if ctx.position_qty(s) == 0 and not ctx.orders_on(s)
        ]
'''


# ---------------------------------------------------------------------------- planted secrets
def planted_forms(value: str) -> dict[str, bytes]:
    """The byte strings that betray ``value``: raw, base64 (standard and URL-safe, with and
    without padding), URL-encoded, and a 12-character middle fragment.

    Parameters
    ----------
    value : str
        A planted secret (at least 16 characters).

    Returns
    -------
    dict of str to bytes
        Form name to needle.
    """
    if len(value) < 16:
        raise ValueError(f"value: a planted secret needs >= 16 characters, got {len(value)}")
    raw = value.encode()
    b64 = base64.b64encode(raw)
    forms = {
        "raw": raw,
        "base64": b64,
        "base64_unpadded": b64.rstrip(b"="),
        "base64_urlsafe": base64.urlsafe_b64encode(raw).rstrip(b"="),
        "url": urllib.parse.quote(value, safe="").encode(),
        "url_plus": urllib.parse.quote_plus(value).encode(),
        "fragment": raw[len(raw) // 2 - 6 : len(raw) // 2 + 6],
    }
    return forms


def _new_secret(label: str, seed: int, salt: int) -> str:
    # seeded, unique, with characters that URL- and base64-encoding change
    digest = zlib.crc32(f"{label}:{seed}:{salt}".encode()) ^ (time.time_ns() & 0xFFFFFFFF)
    return f"gf{label}{digest:08x}/+{os.urandom(9).hex()}="


@dataclass(slots=True)
class _Scanner:
    needles: dict[str, bytes]
    files: int = 0
    bytes_: int = 0
    http_answers: int = 0
    texts: int = 0
    cells: int = 0
    hits: list[str] = field(default_factory=list)

    def scan(self, source: str, data: bytes | str) -> None:
        blob = data.encode("utf-8", "replace") if isinstance(data, str) else data
        self.bytes_ += len(blob)
        variants = [blob]
        lowered = blob.lower()
        for chunk in _inflated(blob):
            variants.append(chunk)
        for name, needle in self.needles.items():
            if any(needle in v for v in variants) or needle.lower() in lowered:
                self.hits.append(f"{name} in {source}")

    def file(self, path: Path) -> None:
        self.files += 1
        self.scan(str(path), path.read_bytes())

    def answer(self, source: str, body: bytes) -> None:
        self.http_answers += 1
        self.scan(source, body)

    def text(self, source: str, body: str) -> None:
        self.texts += 1
        self.scan(source, body)


def _inflated(blob: bytes) -> Iterator[bytes]:
    # journal payloads may be zlib/gzip-compressed: look inside too
    for wbits in (zlib.MAX_WBITS, 16 + zlib.MAX_WBITS):
        try:
            yield zlib.decompress(blob, wbits)
        except zlib.error:
            continue


# ---------------------------------------------------------------------------- the bot runs
@dataclass(slots=True)
class _Bot:
    workdir: Path
    env: dict[str, str]
    outputs: list[Path] = field(default_factory=list)
    runs: int = 0

    def command(self, config: Path, *args: str) -> list[str]:
        script = Path(sys.executable).with_name("greekfire")
        return [str(script), "run", "--config", str(config), "--plain", *args]

    def start(
        self, config: Path, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        self.runs += 1
        out = self.workdir / f"run{self.runs}.stdout"
        err = self.workdir / f"run{self.runs}.stderr"
        self.outputs += [out, err]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            return subprocess.Popen(
                self.command(config, *args),
                stdout=stdout,
                stderr=stderr,
                env=dict(env if env is not None else self.env),
                cwd=self.workdir,
            )

    def run(self, config: Path, *args: str, env: Mapping[str, str] | None = None) -> int:
        proc = self.start(config, *args, env=env)
        try:
            return proc.wait(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def output(self, index: int = -1) -> str:
        return b"".join(p.read_bytes() for p in self.outputs[2 * index :][:2]).decode(
            "utf-8", "replace"
        )


def _settings(
    work: Path, data_url: str, trading_url: str, *, broker: str, cycles_interval_s: float
) -> dict[str, Any]:
    return {
        "engine": {
            "symbols": list(_SYMBOLS),
            "clock": "simulated",
            "sim_start": _MONDAY_OPEN,
            "interval_s": cycles_interval_s,
            "lookback_bars": 60,
            "log_path": str(work / "logs" / "trading_system.jsonl"),
        },
        "data": {"provider": "alpaca", "data_url": data_url, "history_dir": None},
        "broker": {"kind": broker, "alpaca": {"base_url": trading_url, "timeout_s": 10.0}},
        "risk": {"risk_fraction": 0.1},
        "journal": {"path": str(work / "journal.db"), "dry_run_path": str(work / "dry.db")},
        "dashboard": {"bench_dir": str(work / "reports")},
        "strategies": [
            {"name": "buy", "module": "gf_security_strategy:BuyOnce", "symbols": list(_SYMBOLS)}
        ],
    }


def _write_yaml(path: Path, settings: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(settings), sort_keys=False), encoding="utf-8")
    return path


def _dashboard_url(bot: _Bot, proc: subprocess.Popen[bytes], limit_s: float) -> str | None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for line in bot.outputs[-2].read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("dashboard: "):
                return line.split(" ", 1)[1].strip()
        if proc.poll() is not None:
            return None
        time.sleep(0.1)
    return None


_READ_PATHS: Final = (
    "/",
    "/api/health",
    "/api/overview",
    "/api/equity",
    "/api/performance",
    "/api/orders",
    "/api/orders?q=msft",
    "/api/fills",
    "/api/fills?q=spy",
    "/api/events",
    "/api/notes",
    "/api/strategies",
    "/api/bench",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/static/app.js",
    "/static/index.html",
    "/api/nope",
)


def _probe_dashboard(url: str, token: str, scanner: _Scanner, full: bool) -> list[str]:
    """Read every page; check the controls refuse without the right token. Problems found."""
    problems: list[str] = []
    with httpx.Client(base_url=url, timeout=30.0) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait for a cycle with its orders journaled
            health = client.get("/api/health")
            if client.get("/api/orders").json().get("orders"):
                break
            time.sleep(0.2)
        scanner.answer("GET /api/health", health.content)
        paths = _READ_PATHS if full else _READ_PATHS[:14]
        for path in paths:
            answer = client.get(path)
            scanner.answer(f"GET {path}", answer.content + repr(answer.headers).encode())
        with client.stream("GET", "/api/stream") as stream:
            scanner.answer("GET /api/stream", next(stream.iter_bytes()))
        wrong = [
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Bearer {token[:-1]}"},
            {"Authorization": f"Basic {token}"},
            {"Authorization": token},
        ]
        for path in ("/api/control/pause", "/api/control/strategies/buy/disable"):
            for headers in wrong if full else wrong[:2]:
                answer = client.post(path, headers=headers, json={"reason": "probe"})
                scanner.answer(f"POST {path} (bad token)", answer.content)
                if answer.status_code != 401:
                    problems.append(f"POST {path} without the token: {answer.status_code}")
        good = {"Authorization": f"Bearer {token}"}
        answer = client.post("/api/control/resume", headers=good, json={"reason": "probe"})
        scanner.answer("POST /api/control/resume", answer.content)
        if answer.status_code != 202:
            problems.append(f"POST /api/control/resume with the token: {answer.status_code}")
    return problems


def _exchange_config(key: str, secret: str) -> Any:
    import pandas as pd

    from greekfire.exchange.config import ExchangeConfig

    return ExchangeConfig(
        symbols=_SYMBOLS,
        seed=5,
        start=pd.Timestamp(_MONDAY_OPEN).to_pydatetime(),
        speed=0.0,
        key_id=key,
        secret_key=secret,
    )


@dataclass(slots=True)
class _Dynamic:
    problems: list[str] = field(default_factory=list)
    exit_codes: dict[str, int] = field(default_factory=dict)
    exceptions: list[str] = field(default_factory=list)
    checked_files: list[Path] = field(default_factory=list)
    init_config: Path | None = None


def _bot_runs(work: Path, scanner: _Scanner, env: dict[str, str], full: bool) -> _Dynamic:
    from greekfire.exchange.server import serve_in_thread

    key, secret = env["APCA_API_KEY_ID"], env["APCA_API_SECRET_KEY"]
    token = env["GREEKFIRE_DASHBOARD_TOKEN"]
    bad_key, bad_secret = env.pop("_BAD_KEY"), env.pop("_BAD_SECRET")
    (work / "gf_security_strategy.py").write_text(_STRATEGY_SOURCE, encoding="utf-8")
    bot = _Bot(work, env)
    dyn = _Dynamic()
    with serve_in_thread(_exchange_config(key, secret)) as market:
        url = market.base_url
        live = _write_yaml(
            work / "alpaca.yaml", _settings(work, url, url, broker="alpaca", cycles_interval_s=60)
        )
        # paced so the dashboard stays up while it is probed; SIGINT ends it gracefully after
        args = ("--dashboard", "--dashboard-port", "0", "--cycles", "400", "--pace", "0.5s")
        proc = bot.start(live, *args)
        board = _dashboard_url(bot, proc, 90)
        if board is None:
            dyn.problems.append(f"the bot never announced its dashboard: {bot.output()[-600:]}")
        else:
            dyn.problems += _probe_dashboard(board, token, scanner, full)
        dyn.exit_codes["alpaca_dashboard"] = _finish(proc)
        paper_work = work / "paper"
        paper_work.mkdir(mode=0o700)
        (paper_work / "gf_security_strategy.py").write_text(_STRATEGY_SOURCE, encoding="utf-8")
        paper = _write_yaml(
            work / "paper.yaml",
            _settings(paper_work, url, url, broker="paper", cycles_interval_s=60),
        )
        dyn.exit_codes["paper"] = bot.run(paper, "--cycles", "2" if full else "1")
        bad_env = {**env, "APCA_API_KEY_ID": bad_key, "APCA_API_SECRET_KEY": bad_secret}
        dyn.exit_codes["bad_credentials"] = bot.run(live, "--cycles", "1", env=bad_env)
        said = bot.output().lower()
        if not any(w in said for w in ("401", "unauthor", "forbidden", "credential", "auth")):
            dyn.problems.append(f"the bad-credential run did not mention auth: {said[-400:]}")
        if full:
            half = {**env, "APCA_API_SECRET_KEY": bad_secret}
            dyn.exit_codes["bad_secret_only"] = bot.run(live, "--cycles", "1", env=half)
            paper_bad = {**env, "APCA_API_KEY_ID": bad_key}
            dyn.exit_codes["bad_key_paper"] = bot.run(paper, "--cycles", "1", env=paper_bad)
        dyn.exceptions += _in_process_errors(url, bad_key, bad_secret, key, secret)
    broken = _write_yaml(
        work / "broken.yaml",
        {**_settings(work, "http://127.0.0.1:9", "", broker="alpaca", cycles_interval_s=60)}
        | {"risk": {"risk_fraction": "lots"}},
    )
    dyn.exit_codes["bad_config"] = bot.run(broken, "--cycles", "1")
    misplaced = _settings(work, "http://127.0.0.1:9", "", broker="alpaca", cycles_interval_s=60)
    misplaced["broker"]["alpaca"]["secret_key"] = env["APCA_API_SECRET_KEY"]
    dyn.exit_codes["secret_in_config"] = bot.run(_write_yaml(work / "leaky.yaml", misplaced))
    (work / "leaky.yaml").unlink()  # it holds the secret by design: not an output of the bot
    dyn.exit_codes["unreachable_exchange"] = bot.run(
        _write_yaml(
            work / "down.yaml",
            _settings(
                work / "down",
                "http://127.0.0.1:9",
                "http://127.0.0.1:9",
                broker="alpaca",
                cycles_interval_s=60,
            ),
        ),
        "--cycles",
        "1",
    )
    init = work / "init" / "trading_config.yaml"
    init.parent.mkdir(mode=0o700)
    script = Path(sys.executable).with_name("greekfire")
    subprocess.run([str(script), "init", str(init)], env=env, capture_output=True, check=False)
    dyn.init_config = init if init.exists() else None
    for path in bot.outputs:
        scanner.file(path)
    return dyn


def _finish(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def _in_process_errors(url: str, bad_key: str, bad_secret: str, key: str, secret: str) -> list[str]:
    """Force exceptions in-process (a 401 from the exchange, bad values); their text."""
    import asyncio

    from greekfire.broker.alpaca import AlpacaBroker
    from greekfire.broker.config import AlpacaBrokerConfig
    from greekfire.data.alpaca import AlpacaCredentials, AlpacaProvider
    from greekfire.engine.clock import SimulatedClock
    from greekfire.settings import load_secrets

    texts: list[str] = []

    def record(exc: BaseException) -> None:
        text = "".join(traceback.format_exception(exc)) + repr(exc) + repr(_exc_vars(exc))
        texts.append(f"{type(exc).__name__}: {text}")

    clock = SimulatedClock(_parse_ts(_MONDAY_OPEN))
    for k, s in ((bad_key, bad_secret), (key, bad_secret)):
        broker = AlpacaBroker(
            AlpacaBrokerConfig(base_url=url), key_id=k, secret_key=s, clock=clock, base_url=url
        )
        try:
            broker.account()
        except Exception as exc:
            record(exc)
        finally:
            broker.close()
        texts.append(f"repr(AlpacaBroker): {broker!r}")

    async def fetch() -> None:
        creds = AlpacaCredentials(bad_key, bad_secret)
        texts.append(f"repr(AlpacaCredentials): {creds!r}")
        provider = AlpacaProvider(creds, data_url=url, trading_url=url)
        try:
            start = _parse_ts("2026-10-01T00:00:00+00:00")
            await provider.bars("MSFT", start, _parse_ts(_MONDAY_OPEN), "1d")
        except Exception as exc:
            record(exc)
        finally:
            await provider.aclose()

    try:
        asyncio.run(fetch())
    except TypeError as exc:  # bars() signature drift: still an exception to inspect
        record(exc)
    secrets = load_secrets({"APCA_API_KEY_ID": key, "APCA_API_SECRET_KEY": secret})
    texts.append(f"repr(Secrets): {secrets!r} {secrets} {secrets.model_dump_json()}")
    return texts


def _exc_vars(exc: BaseException) -> dict[str, Any]:
    return {k: getattr(exc, k, None) for k in dir(exc) if not k.startswith("__")}


def _parse_ts(text: str) -> Any:
    import pandas as pd

    return pd.Timestamp(text).to_pydatetime()


# ---------------------------------------------------------------------------- outputs on disk
def _scan_tree(work: Path, scanner: _Scanner) -> None:
    for path in sorted(work.rglob("*")):
        if path.is_file() and not path.name.endswith((".stdout", ".stderr")):
            scanner.file(path)


def _scan_journal(db: Path, scanner: _Scanner) -> int:
    """Every TEXT/BLOB cell of every table; the tables read."""
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            for row in con.execute("SELECT * FROM " + quoted):
                for cell in row:
                    if isinstance(cell, str | bytes):
                        scanner.cells += 1
                        scanner.scan(f"{db.name}:{table}", cell)
    finally:
        con.close()
    return len(tables)


def _loose(paths: Iterable[Path]) -> tuple[int, list[str]]:
    """How many of ``paths`` (existing) were checked; those readable or writable by others."""
    checked, loose = 0, []
    for path in paths:
        if not path.exists():
            continue
        checked += 1
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            loose.append(f"{path}: {oct(mode)}")
    return checked, loose


def _private_files(work: Path, dyn: _Dynamic) -> list[Path]:
    journal = work / "journal.db"
    paper = work / "paper"
    files = [
        journal,
        Path(f"{journal}-wal"),
        Path(f"{journal}-shm"),
        work / "logs",
        work / "logs" / "trading_system.jsonl",
        paper / "journal.db",
        paper / "journal.paper.json",
        paper / "logs",
        paper / "logs" / "trading_system.jsonl",
    ]
    files += sorted((work / "logs").glob("*")) + sorted((paper / "logs").glob("*"))
    if dyn.init_config is not None:
        files.append(dyn.init_config)
    return list(dict.fromkeys(files))


# ---------------------------------------------------------------------------- the suite
def run(out_dir: Path, *, short: bool = False, seed: int = 0) -> SuiteResult:
    """Run the security suite; write its artifacts under ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Where the bot's work directory and the reports go (created).
    short : bool
        The ``make test`` version: fewer cycles and probes, no pip-audit (network).
    seed : int
        Salts the planted secrets.

    Returns
    -------
    SuiteResult
        Figures: outputs scanned, secret hits, SQL sites, deserialisation sites,
        vulnerabilities, loose permissions.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "security-work"
    if work.exists():
        raise ValueError(f"out_dir: {work} exists already; pass a fresh directory")
    work.mkdir(mode=0o700)
    key, secret = _new_secret("KEY", seed, 1), _new_secret("SECRET", seed, 2)
    token = _new_secret("TOKEN", seed, 3)
    bad_key, bad_secret = _new_secret("BADKEY", seed, 4), _new_secret("BADSECRET", seed, 5)
    planted = {
        "APCA_API_KEY_ID": key,
        "APCA_API_SECRET_KEY": secret,
        "GREEKFIRE_DASHBOARD_TOKEN": token,
        "bad APCA_API_KEY_ID": bad_key,
        "bad APCA_API_SECRET_KEY": bad_secret,
    }
    needles = {
        f"{label} ({form})": needle
        for label, value in planted.items()
        for form, needle in planted_forms(value).items()
    }
    scanner = _Scanner(needles)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APCA_", "GREEKFIRE_"))}
    env.update(
        {
            "APCA_API_KEY_ID": key,
            "APCA_API_SECRET_KEY": secret,
            "GREEKFIRE_DASHBOARD_TOKEN": token,
            "_BAD_KEY": bad_key,
            "_BAD_SECRET": bad_secret,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(work), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "120",
        }
    )
    failures: list[str] = []
    dyn = _bot_runs(work, scanner, env, full=not short)
    failures += dyn.problems
    if dyn.exit_codes.get("alpaca_dashboard") != 0:
        failures.append(f"the dashboard run exited {dyn.exit_codes.get('alpaca_dashboard')}")
    if dyn.exit_codes.get("paper") != 0:
        failures.append(f"the paper run exited {dyn.exit_codes.get('paper')}")
    for text in dyn.exceptions:
        scanner.text(f"in-process {text.split(':', 1)[0]}", text)
    _scan_tree(work, scanner)
    tables = _scan_journal(work / "journal.db", scanner) + _scan_journal(
        work / "paper" / "journal.db", scanner
    )
    failures += [f"planted secret found: {hit}" for hit in scanner.hits]

    token_problems = check_token_comparison()
    failures += token_problems
    sql = scan_sql()
    dynamic_sql = [s for s in sql if s.verdict == "dynamic"]
    failures += [
        f"SQL built from values: {s.path}:{s.line} {s.call}: {s.detail}" for s in dynamic_sql
    ]
    allowed, unexpected = scan_deserialisation()
    failures += [f"unsafe deserialisation: {u}" for u in unexpected]

    checked, loose = _loose(_private_files(work, dyn))
    failures += [f"loose permissions: {entry}" for entry in loose]

    # the audit needs PyPI's per-version JSON API (or OSV): without it nothing is audited,
    # which is reported as unchecked (params["unchecked"]), not as a broken guarantee
    vulns: int | str = "not run (short)"
    audited, skipped, unchecked = 0, 0, []
    audit_note = "not run in the short version (needs the network)"
    audit_source = "-"
    if not short:
        audit = pip_audit(out_dir, LOCK if LOCK.is_file() else None)
        audited, skipped, audit_note, audit_source = (
            audit.audited,
            audit.skipped,
            audit.note,
            audit.source,
        )
        failures += [f"vulnerability not accepted: {v}" for v in audit.unaccepted]
        vulns = audit.found if audited else "unavailable"
        if not audited:
            unchecked.append(f"pip-audit audited no dependency: {audit_note}")

    report = out_dir / "security.json"
    report.write_text(
        json.dumps(
            {
                "secret_hits": scanner.hits,
                "exit_codes": dyn.exit_codes,
                "sql_sites": [_site_dict(s) for s in sql],
                "deserialisation_allowlisted": allowed,
                "deserialisation_unexpected": unexpected,
                "loose_permissions": loose,
                "token_check": token_problems,
                "pip_audit": audit_note,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    figures = [
        Figure("outputs_files_scanned", scanner.files, "files", "files of the runs grepped"),
        Figure("outputs_bytes_scanned", scanner.bytes_, "bytes", "bytes grepped in all"),
        Figure("http_answers_scanned", scanner.http_answers, "answers", "dashboard answers"),
        Figure(
            "journal_cells_scanned", scanner.cells, "cells", f"TEXT/BLOB cells, {tables} tables"
        ),
        Figure("exception_texts_scanned", scanner.texts, "texts", "forced exceptions' text"),
        Figure("bot_runs", len(dyn.exit_codes), "runs", "greekfire run processes (incl. bad)"),
        Figure("planted_needles", len(needles), "needles", "secrets x encoded forms"),
        Figure("secret_hits", len(scanner.hits), "hits", "planted secrets found (must be 0)"),
        Figure("token_check_problems", len(token_problems), "", "constant-time compare issues"),
        Figure("sql_sites_checked", len(sql), "sites", "execute/executemany calls scanned"),
        Figure("sql_sites_dynamic", len(dynamic_sql), "sites", "built from values (must be 0)"),
        Figure("deserialisation_allowlisted", len(allowed), "sites", "accepted, with a reason"),
        Figure("deserialisation_unexpected", len(unexpected), "sites", "must be 0"),
        Figure("vulnerabilities_found", vulns, "", f"pip-audit on {audit_source}"),
        Figure("dependencies_audited", audited, "packages", "pip-audit got an answer for"),
        Figure("dependencies_not_audited", skipped, "packages", "pip-audit could not look up"),
        Figure("permission_files_checked", checked, "files", "journal, logs, state, config"),
        Figure("files_loose_permissions", len(loose), "files", "readable by others (must be 0)"),
    ]
    return SuiteResult(
        suite="security",
        passed=not failures,
        figures=figures,
        failures=failures,
        artifacts=[report] + ([out_dir / "pip-audit.json"] if not short else []),
        seconds=time.perf_counter() - started,
        params={
            "short": short,
            "seed": seed,
            "symbols": list(_SYMBOLS),
            "unchecked": unchecked,
            "pip_audit": audit_note,
        },
    )


def _site_dict(site: SqlSite) -> dict[str, Any]:
    return {
        "path": site.path,
        "line": site.line,
        "call": site.call,
        "verdict": site.verdict,
        "detail": site.detail,
    }
