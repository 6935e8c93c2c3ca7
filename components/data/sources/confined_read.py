"""Read one user image from where confinement.py resolved it, and from nowhere else.

Locally the file is opened without following a final symlink, checked to be a regular file
(a directory, FIFO or device is `not_a_file`; a FIFO is opened non-blocking, so it cannot hang
the build), checked again through /proc/self/fd to lie inside the roots (a folder swapped for a
symlink after resolution is caught), and read only when it is within the byte cap. (S3 objects
and URLs are read by the fetcher, components/data/fetch/.)
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from components.checks.image import too_many_bytes
from components.checks.limits import SampleLimits
from components.checks.reasons import Problem, Reason
from components.data.sources.confinement import Roots

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _not_a_file(path: Path, mode: int) -> Problem:
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return Problem(Reason.NOT_A_FILE, f"{path} is {kind}")


def _open_failure(path: Path, err: OSError) -> Problem:
    if isinstance(err, FileNotFoundError):
        return Problem(Reason.MISSING_FILE, f"{path} does not exist")
    if err.errno == errno.ELOOP:  # a symlink loop, or a link put there after resolution
        return Problem(Reason.NOT_A_FILE, f"{path} is a symlink loop or changed while read")
    return Problem(Reason.UNREADABLE_FILE, f"cannot open {path}: {err.strerror or err}")


def _opened_path(fd: int) -> Path | None:
    """What the open descriptor really is, where the system says (Linux); None elsewhere."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


def open_confined(path: Path, roots: Roots) -> int | Problem:
    """A descriptor of the regular file `path` (a real path inside `roots`), or why not. The
    caller closes it."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as err:
        return _open_failure(path, err)
    try:
        mode = os.fstat(fd).st_mode
        opened = _opened_path(fd)
    except OSError as err:
        os.close(fd)
        return Problem(Reason.UNREADABLE_FILE, f"cannot read {path}: {err.strerror or err}")
    if not stat.S_ISREG(mode):
        os.close(fd)
        return _not_a_file(path, mode)
    if opened is not None and not roots.admits_path(opened):
        os.close(fd)
        return Problem(Reason.OUTSIDE_ROOT, f"{path} turned out to be {opened} when opened")
    return fd


def read_local(path: Path, roots: Roots, limits: SampleLimits) -> bytes | Problem:
    """The bytes of the regular file `path` (a real path inside `roots`), or why not."""
    fd = open_confined(path, roots)
    if isinstance(fd, Problem):
        return fd
    with os.fdopen(fd, "rb") as handle:
        try:
            size = os.fstat(fd).st_size
            if size > limits.max_image_bytes:
                return too_many_bytes(size, limits)
            data = handle.read(size + 1)  # read(n) allocates n bytes up front: not the cap
        except OSError as err:
            return Problem(Reason.UNREADABLE_FILE, f"cannot read {path}: {err.strerror or err}")
    if len(data) > size:  # it grew while being read: what was checked is not what is there
        return Problem(Reason.UNREADABLE_FILE, f"{path} changed while it was read")
    return data
