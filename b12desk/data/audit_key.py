"""The secret that signs the audit trail: a key file outside the database, so that someone who can write
the database (a copied file, an SQL login) still cannot forge, rewrite or shorten the chain unseen."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from b12desk.data.private_files import private_dir, private_file, private_umask

AUDIT_KEY_ENV = "B12DESK_AUDIT_KEY_FILE"
KEY_FILE_NAME = "audit.key"
_HEADER = "b12desk audit key v1"


class AuditKeyError(RuntimeError):
    """The key file is missing where the chain needs it, unreadable, or not the chain's own key. The
    message says what is wrong and how to mend it; each caller says what it means for the act at hand."""

    @property
    def refused_save(self) -> str:
        return f"{self} Nothing was saved."


@dataclass(frozen=True, slots=True)
class AuditKey:
    secret: bytes
    path: Path
    # A fingerprint safe to store beside each event: it names the key without revealing it. Computed once
    # (the chain's walk compares it with every event).
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hmac.new(self.secret, b"b12desk audit key id", hashlib.sha256).hexdigest()[:16]
        object.__setattr__(self, "key_id", digest)

    def sign(self, payload: bytes) -> str:
        return hmac.digest(self.secret, payload, "sha256").hex()


def key_path() -> Path:
    """B12DESK_AUDIT_KEY_FILE, else audit.key in the data folder."""
    override = os.environ.get(AUDIT_KEY_ENV)
    if override:
        return Path(override)
    from b12desk.data.db import data_dir

    return data_dir() / KEY_FILE_NAME


_cache: dict[Path, AuditKey] = {}


def _read(path: Path) -> AuditKey:
    try:
        lines = path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditKeyError(f"The audit key file {path} cannot be read ({exc}).") from None
    text = " ".join(lines)
    if not text.startswith(_HEADER) or len(lines) != len(_HEADER.split()) + 1:
        raise AuditKeyError(f"{path} is not a b12desk audit key file: restore it from the clinic's copy.")
    try:
        secret = bytes.fromhex(lines[-1])
    except ValueError:
        raise AuditKeyError(f"{path} is damaged: restore it from the clinic's copy.") from None
    if len(secret) < 32:
        raise AuditKeyError(f"{path} holds a key too short to sign with: restore it from the clinic's copy.")
    return AuditKey(secret=secret, path=path)


def load_key(*, create: bool) -> AuditKey | None:
    """This workstation's key; None when there is no key file and `create` is false. A new key is 32 random
    bytes in a 0600 file, written whole (temporary name, then rename) so a crash never leaves half a key."""
    path = key_path()
    cached = _cache.get(path)
    if cached is not None and path.exists():
        return cached
    if path.exists():
        key = _read(path)
        private_file(path)
    elif not create:
        return None
    else:
        private_dir(path.parent)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with private_umask(), temporary.open("x", encoding="ascii") as handle:
            handle.write(f"{_HEADER}\n{secrets.token_hex(32)}\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # fails if another process made one meanwhile: theirs is kept
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
        key = _read(path)
        private_file(path)
    _cache[path] = key
    return key
