"""Low-level file output shared by every package: atomic writes, checksums, directory locks.

Every file the toolkit writes goes through `atomic_write`: a temporary sibling named
`.<name>.<random>.tmp`, fsync, then os.replace onto the target, so a reader never sees a torn
file and a kill leaves at most a temporary that `remove_temporaries` deletes on the next run.
A full disk raises DiskFull (a UserError: one line with the path and "no space left"); any
other operating-system error of a write (read-only, a file where a folder belongs) a PathError
naming the path. `checked_path` is the one test of a path inside a directory the toolkit
writes: no part of it a symbolic link, each part of the expected type.
JSON is written with numbers as numbers (numpy scalars and arrays converted); any other
object that JSON cannot hold is a TypeError naming it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from tacfn.core.errors import UserError, excerpt

try:  # POSIX: flock; on Windows the lock falls back to msvcrt (see _acquire)
    import fcntl
except ImportError:
    fcntl = None  # type: ignore[assignment]

TEMP_SUFFIX = ".tmp"
WINDOWS_LOCK_OFFSET = 1 << 30  # msvcrt locks a byte far past the holder's pid, which stays readable


class DiskFull(UserError):
    """A write failed for lack of space; the CLI prints it as one line and exits 2."""


class PathError(UserError):
    """A path the toolkit cannot or will not write (a symbolic link, the wrong file type, no
    permission, a run's own file); the CLI prints it as one line and exits 2."""


class Locked(UserError):
    """Another process holds a directory's lock; the CLI prints it as one line and exits 2."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_disk_full(exc: BaseException) -> bool:
    """ENOSPC / EDQUOT, or torch.save's RuntimeError from its zip writer when a write failed."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(exc, RuntimeError) and "inline_container.cc" in str(exc):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and _is_disk_full(cause)


def write_error(path: str | os.PathLike[str], exc: BaseException) -> UserError:
    """The one-line error of a failed write to `path`: DiskFull for a full disk, else a
    PathError with the system's reason (and the part of the path it concerns)."""
    if _is_disk_full(exc):
        return DiskFull(f"{path}: no space left on device; free space and rerun")
    filename = getattr(exc, "filename", None)
    where = f"{filename}: " if filename and str(filename) != str(path) else ""
    return PathError(f"{path}: cannot write ({where}{getattr(exc, 'strerror', None) or exc})")


def checked_path(root: str | os.PathLike[str], *parts: str, file: bool = False) -> Path:
    """`root/parts...` when no existing part below `root` is a symbolic link or of the wrong
    type (every part a directory; the last a regular file when `file`), else a PathError
    naming the part. Parts that do not exist yet pass: they are created as plain ones."""
    path = Path(root)
    for position, part in enumerate(parts, 1):
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):  # not there yet, nor what follows
            break
        except OSError as exc:
            raise PathError(f"{path}: cannot read ({exc.strerror})") from None
        want = "regular file" if file and position == len(parts) else "directory"
        if stat.S_ISLNK(mode):
            raise PathError(
                f"{path}: is a symbolic link; expected a plain {want} (the toolkit never "
                f"follows a link inside {root}); remove the link"
            )
        if not (stat.S_ISREG(mode) if want == "regular file" else stat.S_ISDIR(mode)):
            raise PathError(f"{path}: exists and is not a {want}; remove or rename it")
    return Path(root).joinpath(*parts)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Write through `write(binary file)` into a temporary sibling, fsync, os.replace onto path.

    The file gets the permissions a plain open() would (0o666 less the umask). On any failure
    the temporary is removed; a full disk raises DiskFull and any other operating-system error
    a PathError, naming the path. os.replace replaces a link at `path`, never its target.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if _is_disk_full(exc) or (isinstance(exc, OSError) and exc.errno is not None):
            raise write_error(path, exc) from None
        raise
    return path


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def json_value(value: object) -> Any:
    """A numpy scalar or array as the Python number or list JSON holds; anything else that
    JSON cannot hold is a TypeError naming its type (json.dumps' `default`)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"JSON cannot hold {excerpt(value)} (type {type(value).__name__})")


def write_json(path: str | os.PathLike[str], value: Any) -> Path:
    return write_text(path, json.dumps(value, indent=2, sort_keys=True, default=json_value) + "\n")


def remove_temporaries(directory: str | os.PathLike[str], names: tuple[str, ...] = ("*",)) -> int:
    """Delete temporaries left in `directory` by interrupted atomic writes; return how many.

    `names` (glob patterns) limits it to the temporaries of those target files. Call it only
    while no other writer writes those files (under their lock, or in a cell's own directory
    before the cell starts).
    """
    count = 0
    found = {t for name in names for t in Path(directory).glob(f".{name}.*{TEMP_SUFFIX}")}
    for tmp in sorted(found):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            count += 1
    return count


def file_digest(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """{"bytes", "sha256"} of a file, as cell.json records its artefacts."""
    return {"bytes": os.path.getsize(path), "sha256": file_digest(path)}


def file_problem(path: str | os.PathLike[str], expected: dict[str, Any]) -> str | None:
    """Why the file at path differs from its recorded {"bytes", "sha256"}, or None if it matches."""
    path = Path(path)
    if not path.is_file():
        return f"{path}: missing"
    size = path.stat().st_size
    if size != expected.get("bytes"):
        return f"{path}: damaged ({size} bytes, cell.json records {expected.get('bytes')})"
    if file_digest(path) != expected.get("sha256"):
        return f"{path}: damaged (sha256 differs from cell.json)"
    return None


def _acquire(fd: int, wait: bool) -> bool:
    """Lock `fd` exclusively (flock; msvcrt on Windows); False when another process holds it
    and `wait` is False."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt  # Windows

    os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
    while True:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            if not wait:
                return False
            time.sleep(0.1)


@contextmanager
def directory_lock(
    directory: str | os.PathLike[str], name: str, wait: bool, what: str
) -> Iterator[Path]:
    """Hold an exclusive lock on `directory/name` for the block (flock; msvcrt on Windows).

    wait=False raises Locked at once when another process holds it (naming the holder's pid
    and `what` it does); wait=True blocks until the holder is done. The lock is released when
    the process ends, however it ends, so a killed holder never blocks the next one. A lock
    that is a link or not a regular file, or cannot be created or written, is a PathError.
    """
    path = checked_path(directory, name, file=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        if not _acquire(fd, wait):
            os.lseek(fd, 0, os.SEEK_SET)
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            raise Locked(
                f"{Path(directory)}: another process (pid {holder}) is {what} in this directory "
                f"(lock {path}); wait for it to finish or choose another directory"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            raise write_error(path, exc) from None
        yield path
    finally:
        os.close(fd)
