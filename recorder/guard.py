"""What a recorded user can slip into the recorder before it runs, and the host's setting for it.

Python's own doors (`usercustomize`, `PYTHONPATH`, `PYTHONINSPECT`, ...) are closed by the installed entry
points, which start Python isolated (`-I`). The dynamic loader's are not: it has already acted when Python
runs. `loader_findings()` tells whether it was given LD_PRELOAD, LD_AUDIT or LD_LIBRARY_PATH (in our
environment at start), and whether a shared object is mapped that is not the system's (owned by root, in
directories only root may change), which also catches a preloaded library that removed its variable.
Code that ran that way could have changed this check too: refusing is what is left to do, and a recorder
started with AT_SECURE (a set-uid launcher, the next step) has the loader ignore these variables itself.

The local setting, /etc/sessrec/recorder.conf (root's, not writable by others; absent: the defaults):

    [recorder]
    # refuse (default): no session starts; warn: record, with a warning on the terminal and in the start
    # record
    loader_environment = refuse
    # with warn: scrub (default) removes LD_PRELOAD, LD_AUDIT and LD_LIBRARY_PATH from the recorded
    # session's environment; keep passes them on
    loader_environment_session = scrub
"""

from __future__ import annotations

import os
import stat

CONFIG = "/etc/sessrec/recorder.conf"
LOADER_VARIABLES = ("LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH")
CHOICES = {"loader_environment": ("refuse", "warn"), "loader_environment_session": ("scrub", "keep")}


class ConfigError(Exception):
    """The local setting cannot be trusted or read; the text is one line."""


class Settings:
    """The local setting's values (a plain class: the recorder starts at every login)."""

    __slots__ = ("loader_environment", "loader_environment_session")

    def __init__(self, loader_environment: str = "refuse", loader_environment_session: str = "scrub") -> None:
        self.loader_environment = loader_environment
        self.loader_environment_session = loader_environment_session


def _root_only(st: os.stat_result) -> bool:
    if stat.S_ISLNK(st.st_mode):  # a symlink's own mode means nothing
        return st.st_uid == 0
    return st.st_uid == 0 and not st.st_mode & 0o022


def _trusted_path(path: str, cache: dict[str, bool]) -> bool:
    """`path` and every directory above it are root's and writable by nobody else."""
    while True:
        known = cache.get(path)
        if known is not None:
            return known
        try:
            ok = _root_only(os.lstat(path))
        except OSError:
            ok = False
        cache[path] = ok
        if not ok:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def load_settings(path: str = CONFIG) -> Settings:
    """The local setting; the defaults if the file does not exist. ConfigError if it is not root's alone
    (a file anyone else could have written is no setting), not a regular file, or not understood."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode) or not _trusted_path(path, {}):
        raise ConfigError(f"{path} is not a regular file that only root can change; not using it")
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ConfigError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    values = {}
    for section in parser.sections():
        if section != "recorder":
            raise ConfigError(f"{path}: unknown section [{section}]")
        for key, value in parser.items(section):
            if key not in CHOICES:
                raise ConfigError(f"{path}: unknown setting {key}")
            if value not in CHOICES[key]:
                raise ConfigError(f"{path}: {key} must be {' or '.join(CHOICES[key])}, not {value!r}")
            values[key] = value
    return Settings(**values)


def foreign_objects(maps: str = "/proc/self/maps") -> list[str]:
    """Executable mappings of files that are not the system's: not root's, in a directory someone else
    may change, deleted since, or in memory only (memfd)."""
    found: list[str] = []
    cache: dict[str, bool] = {}
    seen: set[str] = set()
    with open(maps, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) < 6 or "x" not in parts[1]:
                continue
            path = parts[5].rstrip("\n")
            if not path.startswith("/") or path in seen:
                continue
            seen.add(path)
            if path.endswith(" (deleted)") or path.startswith("/memfd:") or not _trusted_path(path, cache):
                found.append(path)
    return found


def loader_findings(environ=os.environ) -> list[str]:
    """One line for each way the dynamic loader was given code of someone's choosing (empty: none)."""
    found = [f"{name} is set" for name in LOADER_VARIABLES if name in environ]
    found += [f"{path} is mapped but is not the system's" for path in foreign_objects()]
    return found


def session_environment(settings: Settings, environ=os.environ) -> dict | None:
    """The recorded session's environment: ours without the loader variables when the setting scrubs
    them (and any is set), else None (ours as it is)."""
    if settings.loader_environment_session == "keep" or not any(n in environ for n in LOADER_VARIABLES):
        return None
    return {k: v for k, v in environ.items() if k not in LOADER_VARIABLES}
