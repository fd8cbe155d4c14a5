"""Files the agent writes whole: a new file, synced, renamed over the old one, so a reader sees either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace(path: Path, text: str, mode: int, dir_mode: int = 0o777) -> None:
    """Replace `path` with `text`, mode `mode` (its directory made with `dir_mode` if missing)."""
    path.parent.mkdir(mode=dir_mode, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
