"""Writing files so that no reader ever sees half of one, and a failure leaves the old one;
and checking, before reading one, that a path names a regular file.

Every file `tuner` writes for a user (labels, models and their cards, reports) goes
through here: written beside the target under a temporary name, then renamed over it.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "durable_copy", "durable_write",
           "not_a_regular_file", "same_file"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block
    ends without an error, removed when it raises."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, data: str | bytes, *, encoding: str = "utf-8") -> None:
    """Write ``data`` (text or bytes) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding=encoding)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_write(path: str | Path, text: str) -> None:
    """`atomic_write` of ``text``, flushed to disk with its rename (see `durable_copy`)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(path.parent)


def durable_copy(src: str | Path, dst: str | Path) -> None:
    """Copy ``src`` over ``dst`` so that ``dst`` is, at every moment and after a crash or
    power cut, either its old content or the whole new one: written beside it under a
    temporary name, flushed, renamed over it, and the rename flushed with its folder."""
    dst = Path(dst)
    with atomic_path(dst) as tmp:
        with open(src, "rb") as f_in, open(tmp, "wb") as f_out:
            shutil.copyfileobj(f_in, f_out, 1 << 20)
            f_out.flush()
            os.fsync(f_out.fileno())
    _fsync_dir(dst.parent)


def not_a_regular_file(path: str | Path, *, max_bytes: int | None = None) -> str | None:
    """Why ``path`` cannot be read as a data or model file, in a few words; None if it can.

    Checked before opening: a FIFO blocks ``open()`` until a writer comes, and a device
    such as /dev/zero (or a symlink to it) never ends. ``max_bytes`` bounds a file that is
    read whole.
    """
    try:
        info = os.stat(path)  # follows symlinks: the target is what would be read
    except FileNotFoundError:
        return "no such file"
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            return f"the path is too long ({len(str(path))} characters)"
        return f"cannot read it ({e.strerror or e})"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a FIFO, device or socket); give a file"
    if max_bytes is not None and info.st_size > max_bytes:
        return f"is {info.st_size / 2**30:.1f} GiB, more than the {max_bytes / 2**30:.0f} GiB " \
            "a file of this kind can be"
    return None


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name one file: through symlinks and hard links when both
    exist, by their resolved paths when one does not yet."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()
