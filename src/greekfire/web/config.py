"""The ``dashboard`` config section and the rule for where the dashboard may listen.

The token that protects the controls is a secret: it comes only from the environment
(``GREEKFIRE_DASHBOARD_TOKEN``, :class:`greekfire.settings.Secrets`), never from the file.
"""

from __future__ import annotations

from typing import Final

from pydantic import Field

from greekfire.domain.config import Section
from greekfire.errors import ConfigError

__all__ = ["LOOPBACK_HOSTS", "TOKEN_ENV_VAR", "DashboardConfig", "check_bind", "is_loopback"]

LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts the dashboard may bind without a token."""

TOKEN_ENV_VAR: Final = "GREEKFIRE_DASHBOARD_TOKEN"
"""The environment variable holding the controls' bearer token."""


class DashboardConfig(Section):
    """The web dashboard (``greekfire run --dashboard``, ``greekfire dashboard``)."""

    enabled: bool = Field(default=False, description="Serve the dashboard from the bot.")
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address to bind; anything but 127.0.0.1, localhost or ::1 needs the token"
        f" in {TOKEN_ENV_VAR}.",
    )
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port (0: any free port).")
    history_points: int = Field(
        default=2000, ge=1, le=10000, description="Points of the equity curve served by default."
    )
    bench_dir: str = Field(
        default="reports", description="Folder of the latest `make bench` report (bench.json)."
    )


def is_loopback(host: str) -> bool:
    """True for the loopback hosts (``127.0.0.1``, ``localhost``, ``::1``)."""
    return host.strip().strip("[]").lower() in LOOPBACK_HOSTS


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback ``host`` when no token protects the controls.

    Raises
    ------
    ConfigError
        Field ``dashboard.host``: ``host`` is not a loopback address and ``token`` is empty.
    """
    if not is_loopback(host) and not token:
        raise ConfigError(
            "dashboard.host",
            f"refusing to bind the dashboard to {host!r} without a token: set {TOKEN_ENV_VAR}"
            " or bind 127.0.0.1, localhost or ::1",
        )
