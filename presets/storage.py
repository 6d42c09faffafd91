"""Crash-safe saving of song and session files: atomic writes, a ``.bak`` of the previous version, autosave.

Call :func:`atomic_write` to save, :func:`read_with_fallback` to load (it falls back to the backup), and
run a :class:`presets.autosave.Autosaver` beside a live session. Everything here is control-side file
I/O: never call it from an audio callback.

What :func:`atomic_write` does to save ``song.yaml``, and what is on disk if the process is killed
(``kill -9``, a crash) at each step:

1. Write the new version to ``.song.yaml.tmp-<pid>-<random>`` in the same directory, with the file mode
   of the existing ``song.yaml``, and ``fsync`` it. Killed here: ``song.yaml`` and ``song.yaml.bak`` are
   untouched; a stray temp file may remain (it is never read; delete it at leisure).
2. With ``backup=True``: hard-link (or, where the file system cannot, copy and ``fsync``) the current
   ``song.yaml`` to a temp name, then rename that onto ``song.yaml.bak``. Killed here: ``song.yaml`` is
   the previous version; ``song.yaml.bak`` is either the version before it or the previous version, each
   complete, because a rename replaces a name in one step.
3. ``os.replace`` the temp file onto ``song.yaml``. From here on ``song.yaml`` is the new version, whole.
4. ``fsync`` the directory (POSIX), so the renames survive a power cut too, not just a crashed process.
   Before this step a power cut leaves either the old or the new ``song.yaml``, never a mix (the data was
   synced before the rename).

So a reader always finds a complete ``song.yaml``: the old version or the new one. An empty existing file
is not kept as the backup (it would only hide a good older ``.bak``). On any error the temp files are
removed, ``song.yaml`` is untouched and :class:`SaveError` names the path and the cause (permission
denied, disk full, directory missing...).

Errors (extending the tree in :mod:`presets.errors`)::

    PresetError
    ├── SaveError   (a file could not be saved: names the path and the cause)
    └── LoadError   (neither a file nor its backup could be read: names both paths and both reasons)
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from presets.errors import PresetError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LoadError",
    "SaveError",
    "atomic_write",
    "autosave_path",
    "backup_path",
    "read_with_fallback",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

# errno -> the words a musician reads in the error dialog.
_REASONS: dict[int, str] = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "disk full",
    errno.EROFS: "read-only file system",
    errno.EFBIG: "file too large for this system",
    errno.ENAMETOOLONG: "file name too long",
    errno.ENOENT: "directory missing",
    errno.ENOTDIR: "a parent of it is not a directory",
    errno.EISDIR: "it is a directory",
    errno.EIO: "input/output error (failing disk?)",
}
if hasattr(errno, "EDQUOT"):
    _REASONS[errno.EDQUOT] = "disk quota exceeded"

# fsync on a directory is refused by some file systems and by Windows; the data is synced anyway.
_DIR_SYNC_UNSUPPORTED = {errno.EINVAL, errno.EBADF, errno.EACCES, errno.EPERM, errno.EISDIR}
_DIR_SYNC_UNSUPPORTED.update(
    getattr(errno, name) for name in ("ENOTSUP", "EOPNOTSUPP") if hasattr(errno, name)
)

_O_BINARY = getattr(os, "O_BINARY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class SaveError(PresetError):
    """``cannot save PATH: REASON``; ``path``, ``reason`` and ``errno`` (None when not an OS error)."""

    def __init__(self, path: PathLike, reason: str, errno: int | None = None) -> None:
        self.path = Path(path)
        self.reason = reason
        self.errno = errno
        super().__init__(f"cannot save {self.path}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:  # picklable: errors cross process boundaries in job queues
        return (type(self), (self.path, self.reason, self.errno))


class LoadError(PresetError):
    """Neither the file nor its backup could be used; ``reasons`` pairs each path with why it failed."""

    def __init__(self, path: PathLike, reasons: tuple[tuple[Path, str], ...]) -> None:
        self.path = Path(path)
        self.reasons = reasons
        told = "; ".join(f"{p}: {why}" for p, why in reasons)
        super().__init__(f"cannot load {self.path}: {told}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.path, self.reasons))


def backup_path(path: PathLike) -> Path:
    """Where the previous version of ``path`` is kept: ``song.yaml`` -> ``song.yaml.bak``."""
    p = Path(path)
    return p.with_name(p.name + ".bak")


def autosave_path(path: PathLike) -> Path:
    """The autosave file beside ``path``: ``song.yaml`` -> ``song.autosave.yaml`` (idempotent)."""
    p = Path(path)
    if p.stem.endswith(".autosave"):
        return p
    return p.with_name(f"{p.stem}.autosave{p.suffix}")


def _reason(exc: OSError) -> str:
    return _REASONS.get(exc.errno or 0) or exc.strerror or str(exc)


def _temp_name(target: Path) -> Path:
    # Same directory as the target, so the final rename never crosses file systems.
    return target.with_name(f".{target.name[:200]}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def _sync_file(fd: int) -> None:
    # On macOS fsync() leaves the data in the drive's cache; F_FULLFSYNC pushes it to the platter.
    full = getattr(fcntl, "F_FULLFSYNC", None) if fcntl is not None else None
    if full is not None:
        try:
            fcntl.fcntl(fd, full)
            return
        except OSError:
            pass
    os.fsync(fd)


def _sync_dir(directory: Path) -> None:
    if os.name == "nt":
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_CLOEXEC)
    except OSError:
        return  # cannot open the directory for reading: nothing we can sync
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _DIR_SYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


def _write_temp(target: Path, chunks: Callable[[int], None], mode: int | None) -> Path:
    """Create a unique temp file beside ``target``, let ``chunks(fd)`` fill it, fsync; removed on error."""
    tmp = _temp_name(target)
    # 0o666 lets the umask decide a new file's mode, exactly as for any file the user creates.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY | _O_CLOEXEC, 0o666)
    try:
        try:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            chunks(fd)
            _sync_file(fd)
        finally:
            os.close(fd)
        if mode is not None and not hasattr(os, "fchmod"):
            os.chmod(tmp, mode)
    except BaseException:
        _remove_quietly(tmp)
        raise
    return tmp


def _write_all(data: bytes) -> Callable[[int], None]:
    def fill(fd: int) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    return fill


def _copy_of(source: Path) -> Callable[[int], None]:
    def fill(fd: int) -> None:
        with source.open("rb") as src, open(fd, "wb", closefd=False) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)

    return fill


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _keep_backup(target: Path, mode: int) -> None:
    """Make ``NAME.bak`` the current ``target``, atomically: a temp name first, then one rename."""
    bak = backup_path(target)
    tmp = _temp_name(bak)
    try:
        os.link(target, tmp)  # no copy: the old inode lives on under the backup name
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return  # the old file vanished meanwhile (another writer): nothing to keep
        tmp = _write_temp(bak, _copy_of(target), mode)  # file systems without hard links (FAT, SMB)
    try:
        os.replace(tmp, bak)
    except BaseException:
        _remove_quietly(tmp)
        raise


def atomic_write(path: PathLike, data: bytes | str, *, backup: bool = True, exclusive: bool = False) -> Path:
    """Save ``data`` (str is written as UTF-8) to ``path`` so that a crash never leaves a partial file.

    The steps and what survives a crash at each are in the module docstring. With ``backup`` the previous
    version is kept as ``NAME.bak`` (see :func:`backup_path`). With ``exclusive`` an existing ``path`` is
    never replaced, even one that appears during the save (:class:`SaveError` with ``errno.EEXIST``).
    Returns the path written (a symlink's target, which is saved through the link). Raises
    :class:`SaveError` naming the path and the cause; the existing file is then untouched and no temp file
    is left behind.
    """
    if isinstance(data, str):
        payload = data.encode("utf-8")
    elif isinstance(data, bytes):
        payload = data
    else:
        raise TypeError(f"data must be bytes or str, got {type(data).__name__}")
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))  # replace the file the link points at, keep the link
    directory = target.parent
    if not directory.is_dir():
        raise SaveError(target, f"directory missing ({directory} does not exist)", errno.ENOENT)
    replaced = False
    tmp: Path | None = None
    try:
        try:
            st: os.stat_result | None = os.stat(target)
        except FileNotFoundError:
            st = None
        if st is not None:
            if exclusive:
                raise SaveError(target, "already exists", errno.EEXIST)
            if stat.S_ISDIR(st.st_mode):
                raise SaveError(target, "it is a directory", errno.EISDIR)
            if not os.access(target, os.W_OK):
                # rename() would overwrite it anyway; a file the user made read-only stays unsaved.
                raise SaveError(target, "permission denied (the file is read-only)", errno.EACCES)
        mode = stat.S_IMODE(st.st_mode) if st is not None else None
        tmp = _write_temp(target, _write_all(payload), mode)
        if backup and st is not None and st.st_size > 0:
            _keep_backup(target, stat.S_IMODE(st.st_mode))
        if exclusive:
            _link_new(tmp, target)
        else:
            os.replace(tmp, target)
        replaced = True
        _sync_dir(directory)
    except FileExistsError as exc:
        if tmp is not None:
            _remove_quietly(tmp)
        raise SaveError(target, "already exists", errno.EEXIST) from exc
    except OSError as exc:
        if tmp is not None and not replaced:
            _remove_quietly(tmp)
        if replaced:
            reason = f"saved, but not yet safe from a power cut: syncing {directory} failed: {_reason(exc)}"
        else:
            reason = _reason(exc)
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                reason += f" (cannot write in {directory})"
        raise SaveError(target, reason, exc.errno) from exc
    except BaseException:
        if tmp is not None and not replaced:
            _remove_quietly(tmp)
        raise
    return target


def _link_new(tmp: Path, target: Path) -> None:
    """Move ``tmp`` to ``target`` unless ``target`` exists (FileExistsError), atomically where the file
    system has hard links."""
    try:
        os.link(tmp, target)  # refuses an existing path, even one that appeared since it was checked
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some network and FAT file systems): check, then rename
        if target.exists():
            raise FileExistsError(target) from None
        os.replace(tmp, target)
        return
    _remove_quietly(tmp)


def _read_checked(path: Path, validate: Callable[[bytes], None] | None) -> tuple[bytes | None, str]:
    """The file's bytes, or None and why they cannot be used."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, _reason(exc)
    if not data:
        return None, "empty file"
    if validate is not None:
        try:
            validate(data)
        except Exception as exc:  # any validator failure means: do not trust this copy
            return None, f"invalid: {exc}" if str(exc) else f"invalid: {type(exc).__name__}"
    return data, ""


def read_with_fallback(path: PathLike, validate: Callable[[bytes], None] | None = None) -> tuple[bytes, Path]:
    """Read ``path``; if it is missing, empty or ``validate`` raises, read ``NAME.bak`` instead.

    Returns the bytes and the path actually read, so the caller can tell the user "restored from the
    backup". ``validate`` should raise on content it cannot load (e.g. call the song parser). Raises
    :class:`LoadError` naming both paths and both reasons when neither can be used.
    """
    main = Path(path)
    data, why_main = _read_checked(main, validate)
    if data is not None:
        return data, main
    bak = backup_path(main)
    data, why_bak = _read_checked(bak, validate)
    if data is not None:
        log.warning("%s: %s; loaded the backup %s instead", main, why_main, bak)
        return data, bak
    raise LoadError(main, ((main, why_main), (bak, why_bak)))
