"""``greekfire init``: write the commented example configuration."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from greekfire.errors import ConfigError
from greekfire.settings import example_config

__all__ = ["write_example_config"]


def write_example_config(path: Path, *, force: bool) -> Path:
    """Write :func:`greekfire.settings.example_config` to ``path`` with mode 0600.

    Parameters
    ----------
    path : Path
        Where to write (e.g. ``trading_config.yaml``); missing directories are created.
    force : bool
        Replace an existing file; without it an existing file is left untouched.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ConfigError
        ``path`` exists and ``force`` is false (field: the path), or it cannot be written.
    """
    path = Path(path)
    if path.exists() and not force:
        raise ConfigError(str(path), f"'{path}' already exists; pass --force to overwrite it")
    if path.is_dir():
        raise ConfigError(str(path), f"'{path}' is a directory, not a config file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600; replace() makes the write atomic.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(example_config())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(str(path), f"cannot write '{path}': {exc}") from None
    return path
