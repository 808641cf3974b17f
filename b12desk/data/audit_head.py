"""The audit chain's head (how many events, the last one's id and hash), signed and kept outside the
database at every backup and exit, so that `db check` can tell a chain that was shortened or recomputed
from one that merely grew."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from b12desk.data.audit import ChainHead, ChainReport, verify_chain
from b12desk.data.audit_key import AuditKey, load_key
from b12desk.data.db import Database, data_dir, display_url, sqlite_path
from b12desk.data.models import AuditEvent
from b12desk.data.private_files import private_dir, private_umask
from b12desk.data.types import utcnow

HEADS_FOLDER = "audit-heads"


class HeadFileProblem(RuntimeError):
    """The head file exists but is not one b12desk signed with this key: altered or from elsewhere."""


def _identity(db: Database) -> str:
    path = sqlite_path(db.url)
    return str(path.resolve()) if path is not None else display_url(db.url)


def head_path(db: Database) -> Path:
    digest = hashlib.sha256(_identity(db).encode("utf-8")).hexdigest()[:16]
    return data_dir() / HEADS_FOLDER / f"{digest}.json"


def _body(db: Database, head: ChainHead) -> str:
    return json.dumps(
        {
            "database": _identity(db),
            "events": head.events,
            "last_id": head.last_id,
            "last_hash": head.last_hash,
            "written_at": head.written_at,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def current_head(db: Database) -> ChainHead:
    with db.read_connection() as conn:
        count, last_id = conn.execute(select(func.count(), func.max(AuditEvent.id))).one()
        last_hash = (
            conn.execute(select(AuditEvent.hash).where(AuditEvent.id == last_id)).scalar_one()
            if last_id is not None
            else ""
        )
        conn.rollback()
    return ChainHead(
        events=int(count),
        last_id=int(last_id or 0),
        last_hash=str(last_hash),
        written_at=utcnow().strftime("%Y-%m-%d %H:%M:%S UTC"),
    )


def write_head(db: Database, key: AuditKey | None = None) -> Path | None:
    """Record the chain's head now; nothing when this computer holds no key yet (nothing was signed)."""
    key = key or load_key(create=False)
    if key is None:
        return None
    head = current_head(db)
    body = _body(db, head)
    path = head_path(db)
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with private_umask(), temporary.open("w", encoding="utf-8") as handle:
        json.dump({"head": json.loads(body), "signature": key.sign(body.encode("utf-8"))}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)  # whole or not at all: a crash never leaves half a head
    return path


def read_head(db: Database, key: AuditKey | None = None) -> ChainHead | None:
    """The newest head written for this database; None if none was ever written here."""
    path = head_path(db)
    if not path.exists():
        return None
    key = key or load_key(create=False)
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        head = stored["head"]
        signature = stored["signature"]
        parsed = ChainHead(
            events=int(head["events"]),
            last_id=int(head["last_id"]),
            last_hash=str(head["last_hash"]),
            written_at=str(head["written_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        raise HeadFileProblem(f"the audit head file {path} is damaged or was altered") from None
    if key is None or signature != key.sign(_body(db, parsed).encode("utf-8")):
        raise HeadFileProblem(
            f"the audit head file {path} does not carry this clinic's signature: it was altered, or "
            "copied from another database"
        )
    return parsed


def check_chain(db: Database) -> ChainReport:
    """The chain verified end to end and against the newest head; a damaged or foreign head file is
    itself a fault. A chain found whole becomes the new head."""
    key = load_key(create=False)
    head_problem = ""
    try:
        head = read_head(db, key)
    except HeadFileProblem as exc:
        head, head_problem = None, str(exc)
    with db.readers() as session:
        report = verify_chain(session, key=key, head=head)
    if head_problem:
        return replace(report, head_problem=head_problem)
    if report.ok:
        write_head(db, key)
    return report
