"""Owner-only files: the data directory 0700, everything in it 0600.

The databases hold bcrypt hashes, encrypted keys and the whole trading history, the logs hold
order details: no other local account may read them. Every command that writes into the data
directory starts with `restrict_umask()` (so what it creates is private from the first byte) and
`make_home_private()` (so an install made before this rule is fixed on its next start, with one
log line). SQLite creates a database's `-wal` and `-shm` with the database file's own mode, so a
0600 database keeps its journal private whatever the umask. Every other file tradebot writes into it
(settings, credentials, sessions, health) goes through `write_file_atomically`.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600
PRIVATE_UMASK = 0o077  # no bit for group or others on anything this process creates
SHOWN_NAMES = 5  # the log line names this many changed paths, then counts the rest


def restrict_umask() -> int:
    """Make every file and directory this process creates owner-only; returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def make_home_private(home: Path) -> list[Path]:
    """Create `home` 0700 if missing; make it, its directories 0700 and its files 0600.

    Symbolic links are neither followed nor changed (a link may point outside the directory).
    Returns the paths whose mode was changed, empty when everything was private already.
    """
    home.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
    changed = [home] if _restrict(home) else []
    for directory, subdirectories, files in os.walk(home):  # os.walk does not follow links
        base = Path(directory)
        changed.extend(base / name for name in [*subdirectories, *files] if _restrict(base / name))
    return changed


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (SQLite then fills it as a new database)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    except FileExistsError:
        return
    os.close(descriptor)


def write_file_atomically(path: Path, content: str | bytes, *, durable: bool = True) -> None:
    """Replace `path` with `content` (text as UTF-8) in one step, owner-only (0600).

    The content goes to a temporary file beside `path`, which is then renamed over it: a reader
    sees the old file or the new one, never half of either, and a crash leaves no partial file.
    `durable` also puts the content on the disk before the rename (fsync), so a power cut cannot
    leave an empty file in its place; a file rewritten every cycle (health) may skip it.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(descriptor, PRIVATE_FILE)  # mkstemp makes it 0600 already; say it, these are private
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def prepare_private_home(home: Path, report: Callable[[str], None]) -> None:
    """`restrict_umask()` and `make_home_private(home)`, reporting once what had to be fixed."""
    restrict_umask()
    changed = make_home_private(home)
    if changed:
        shown = ", ".join(str(path.relative_to(home)) for path in changed[:SHOWN_NAMES])
        more = f" and {len(changed) - SHOWN_NAMES} more" if len(changed) > SHOWN_NAMES else ""
        report(
            f"made {len(changed)} path(s) of {home} owner-only (directories 0700, files 0600), "
            f"readable by other local users before: {shown}{more}"
        )


def _restrict(path: Path) -> bool:
    """Take group's and others' bits off `path` (the owner's stay); True when it changed."""
    try:
        status = path.lstat()
    except FileNotFoundError:  # removed meanwhile (a temporary file, a checkpointed WAL)
        return False
    if stat.S_ISLNK(status.st_mode) or not status.st_mode & PRIVATE_UMASK:
        return False
    os.chmod(path, stat.S_IMODE(status.st_mode) & ~PRIVATE_UMASK)
    return True
