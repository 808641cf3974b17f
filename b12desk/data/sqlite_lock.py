"""One writing b12desk per SQLite file: an advisory lock on "<database>.lock" that dies with its process.

SQLite's own locks only serialise single transactions. Two b12desk processes writing the same file
(a second window opened by mistake, or the command line while the app runs) each keep caches and run
checkpoints of their own; with the lock, the second one opens the database read-only and says which
process has it. flock is released by the kernel however the holder ends, even by SIGKILL or a power
cut, so a lock file left behind never blocks anyone. The same process may open the same file more than
once (the desktop and its sign-in, the tests): those share the one lock.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from b12desk.clock import system_clock
from b12desk.data.private_files import PRIVATE_FILE

LOCK_SUFFIX = ".lock"

try:
    import fcntl
except ImportError:  # Windows: no flock; msvcrt.locking below
    fcntl = None  # type: ignore[assignment]


@dataclass
class _Held:
    fd: int
    holders: int = 1


_registry: dict[str, _Held] = {}
_registry_guard = threading.Lock()
_read_only_reasons: dict[str, str] = {}


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + LOCK_SUFFIX)


def _key(database: Path) -> str:
    return str(lock_path(database.absolute()).resolve())


@dataclass(frozen=True)
class Holder:
    """Who holds the lock, as it wrote itself into the lock file (either may be unknown)."""

    pid: int | None
    started: str

    def describe(self) -> str:
        parts = []
        if self.pid is not None:
            parts.append(f"process {self.pid}")
        if self.started:
            parts.append(f"started at {self.started}")
        return f"Another b12desk ({', '.join(parts)})" if parts else "Another b12desk"


def read_only_sentence(holder: Holder) -> str:
    return (
        f"{holder.describe()} is writing to this database; this one opens it read-only: nothing can be "
        "saved until that one closes."
    )


@dataclass
class WriterLease:
    """This process's share of the lock on one database; release() once, when its Database is disposed."""

    key: str
    released: bool = field(default=False)

    def release(self) -> None:
        with _registry_guard:
            if self.released:
                return
            self.released = True
            held = _registry.get(self.key)
            if held is None:
                return
            held.holders -= 1
            if held.holders > 0:
                return
            del _registry[self.key]
            _unlock(held.fd)
            os.close(held.fd)


def _try_lock(fd: int) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt  # the first byte of the lock file, released by Windows when the process ends

    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined,unused-ignore]


def _read_holder(fd: int) -> Holder:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", errors="replace")
    except OSError:
        text = ""
    lines = text.splitlines()
    pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
    started = lines[1].strip() if len(lines) > 1 else ""
    return Holder(pid, started)


def _write_holder(fd: int) -> None:
    started = system_clock().now().strftime("%Y-%m-%d %H:%M")
    data = f"{os.getpid()}\n{started}\n".encode()
    with contextlib.suppress(OSError):  # who holds it is for the message only; the lock is what counts
        # On Windows the first byte is the locked one: the text goes after it.
        offset = 0 if fcntl is not None else 1
        os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        os.write(fd, data)


def acquire(database: Path) -> WriterLease | Holder:
    """The lease of the writer's lock on `database`, or who holds it when another process does."""
    key = _key(database)
    with _registry_guard:
        held = _registry.get(key)
        if held is not None:
            held.holders += 1
            return WriterLease(key)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(key, flags, PRIVATE_FILE)
        if not _try_lock(fd):
            holder = _read_holder(fd)
            os.close(fd)
            return holder
        _write_holder(fd)
        _registry[key] = _Held(fd)
        _read_only_reasons.pop(key, None)
        return WriterLease(key)


def holds(database: Path) -> bool:
    """Whether this process holds the writer's lock on `database`."""
    with _registry_guard:
        return _key(database) in _registry


def note_read_only(database: Path, reason: str) -> None:
    """Remember why this process opened `database` read-only, to say it again when a write is refused."""
    with _registry_guard:
        _read_only_reasons[_key(database)] = reason


def read_only_reason(database: Path | None = None) -> str | None:
    """Why `database` (or, with None, the one database this process opened read-only) is read-only."""
    with _registry_guard:
        if database is not None:
            return _read_only_reasons.get(_key(database))
        reasons = set(_read_only_reasons.values())
    return reasons.pop() if len(reasons) == 1 else None
