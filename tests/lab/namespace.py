"""A private mount namespace for the lab: tmpfs over the directories the real services write to.

The calling process moves into a new mount namespace, so the machine's own `/run`, `/etc/sssd`,
`/etc/nsswitch.conf`, … stay untouched and everything started from here sees only the lab's copies.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import tempfile
import threading
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_entered = False
_machine_root: int | None = None  # the machine's "/" as seen before the unshare


class NamespaceError(RuntimeError):
    """The private namespace could not be set up."""


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise NamespaceError(f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def enter_private_namespace() -> None:
    """Move this (single-threaded) process into its own mount namespace; idempotent."""
    global _entered, _machine_root
    if _entered:
        return
    if os.geteuid() != 0:
        raise NamespaceError("the lab needs root (it mounts tmpfs in a private mount namespace)")
    if threading.active_count() != 1:
        raise NamespaceError("enter the lab namespace before starting threads")
    _machine_root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # Nothing mounted from here on propagates back to the machine.
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _entered = True


def in_private_namespace() -> bool:
    return _entered


def machine_path(path: str) -> Path:
    """`path` as the machine outside the lab sees it (through a handle on its root kept from before)."""
    if _machine_root is None:
        return Path(path)
    return Path(f"/proc/self/fd/{_machine_root}") / path.lstrip("/")


def mount_tmpfs(path: str | Path, keep_contents: bool = False, mode: int = 0o755) -> None:
    """Mount an empty tmpfs over `path`; with keep_contents, copy what was there onto it first."""
    if not _entered:
        raise NamespaceError("refusing to mount outside the lab's private namespace")
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    st = target.stat()
    saved: Path | None = None
    if keep_contents:
        saved = Path(tempfile.mkdtemp(prefix="sessrec-lab-save-"))
        _copy_tree_with_owners(target, saved)
    _mount("tmpfs", str(target), "tmpfs", 0, f"mode={mode:o}")
    os.chown(target, st.st_uid, st.st_gid)
    if saved is not None:
        _copy_tree_with_owners(saved, target)
        shutil.rmtree(saved)


def mount_private(dirs: tuple[tuple[str, bool], ...]) -> None:
    """A tmpfs over each existing directory of (path, keep_contents) pairs."""
    for path, keep in dirs:
        if os.path.isdir(path):
            mount_tmpfs(path, keep_contents=keep)


def _copy_tree_with_owners(src: Path, dst: Path) -> None:
    for entry in src.iterdir():
        target = dst / entry.name
        st = entry.lstat()
        if entry.is_symlink():
            os.symlink(os.readlink(entry), target)
        elif entry.is_dir():
            target.mkdir()
            _copy_tree_with_owners(entry, target)
            os.chmod(target, st.st_mode & 0o7777)
        else:
            shutil.copy2(entry, target)
        os.lchown(target, st.st_uid, st.st_gid)


def private_dev(stage: Path, symlinks: dict[str, str]) -> None:
    """Put a tmpfs over /dev holding binds of the machine's nodes plus `symlinks` (e.g. log → journald).

    The machine's /dev is devtmpfs, shared with everything else; a new name there (such as /dev/log)
    would appear outside the lab, so the lab gets its own /dev instead."""
    if not _entered:
        raise NamespaceError("refusing to replace /dev outside the lab's private namespace")
    stage.mkdir(parents=True, exist_ok=True)
    _mount("/dev", str(stage), None, MS_BIND | MS_REC)
    _mount("tmpfs", "/dev", "tmpfs", 0, "mode=755")
    for entry in os.scandir(stage):
        source, target = Path(entry.path), Path("/dev", entry.name)
        if entry.name in ("pts", "ptmx"):
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(source), target)
        elif entry.is_dir(follow_symlinks=False):
            target.mkdir()
            _mount(str(source), str(target), None, MS_BIND | MS_REC)
        else:
            target.touch()
            _mount(str(source), str(target), None, MS_BIND)
    # Terminals: an own devpts instance whose ptmx every user may open (the recorder runs as the user).
    Path("/dev/pts").mkdir()
    _mount("devpts", "/dev/pts", "devpts", 0, "newinstance,ptmxmode=0666,mode=0620,gid=5")
    os.symlink("pts/ptmx", "/dev/ptmx")
    for name, points_to in symlinks.items():
        os.symlink(points_to, Path("/dev", name))


def bind_file(source: str | Path, target: str | Path) -> None:
    """Bind-mount `source` over the existing file `target` (e.g. a private nsswitch.conf)."""
    if not _entered:
        raise NamespaceError("refusing to bind-mount outside the lab's private namespace")
    _mount(str(source), str(target), None, MS_BIND)
