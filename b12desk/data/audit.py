"""The signed, hash-chained audit trail: append inside the caller's transaction, verify end to end.

Each event's hash is an HMAC-SHA256, under a key kept outside the database (data/audit_key.py), of its
contents and the hash of the event before it. Events written before keys existed keep their plain SHA-256
hash (key_id NULL) and may only come before the first signed one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from json.encoder import encode_basestring_ascii as _quote  # the C escaper json.dumps uses
from typing import Any

from sqlalchemy import DateTime, String, select, text, type_coerce
from sqlalchemy.orm import Session

from b12desk.data.audit_key import AuditKey, AuditKeyError, key_path, load_key
from b12desk.data.models import AuditEvent
from b12desk.data.types import utcnow

GENESIS_HASH = "0" * 64
# Any constant works; it names the lock that serialises appends to the chain on PostgreSQL.
_PG_AUDIT_LOCK_KEY = 0x0B12DE5C


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot audit a {type(value).__name__}")


def canonical_json(values: Mapping[str, Any] | None) -> str:
    return json.dumps(values or {}, sort_keys=True, separators=(",", ":"), default=_json_default)


def event_hash(
    *,
    prev_hash: str,
    at: datetime,
    staff_id: int | None,
    action: str,
    entity: str,
    entity_id: str,
    old_values: str,
    new_values: str,
    reason: str,
    key: AuditKey | None,
) -> str:
    """The event's HMAC under `key`; plain SHA-256 only for events written before keys (key None)."""
    payload = json.dumps(
        [prev_hash, at.isoformat(), staff_id, action, entity, entity_id, old_values, new_values, reason],
        separators=(",", ":"),
    ).encode("utf-8")
    return key.sign(payload) if key is not None else hashlib.sha256(payload).hexdigest()


def _missing_key_message(path: Any) -> str:
    return (
        f"This database's audit trail is signed with a key this computer does not hold: {path} is "
        "missing. Copy audit.key from the computer or backup that holds it to that place (or point "
        "B12DESK_AUDIT_KEY_FILE to it)."
    )


def signing_key(last_key_id: str | None) -> AuditKey | None:
    """The key to sign the next event with. A chain with no signed event yet (a new database, or one from
    before keys) gets this computer's key, made if need be; a signed chain must be continued with its own
    key, never a new one, or every event after it would be unverifiable."""
    key = load_key(create=False)
    if key is None:
        if last_key_id is not None:
            raise AuditKeyError(_missing_key_message(key_path()))
        key = load_key(create=True)
        assert key is not None
    if last_key_id is not None and key.key_id != last_key_id:
        raise AuditKeyError(
            f"This database's audit trail is signed with key {last_key_id}, but {key.path} holds key "
            f"{key.key_id}: copy the clinic's audit.key there (keep this one aside)."
        )
    return key


def _last_link(session: Session) -> tuple[str, str | None]:
    last = session.execute(
        select(AuditEvent.hash, AuditEvent.key_id).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return (last[0], last[1]) if last is not None else (GENESIS_HASH, None)


def check_signing_key(session: Session) -> None:
    """Raise AuditKeyError now, at start-up, rather than at the first save, if this computer cannot sign."""
    signing_key(_last_link(session)[1])


def changed_values(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that differ, so the audit says exactly what an edit changed."""
    keys = [k for k in new if old.get(k) != new.get(k)]
    return {k: old.get(k) for k in keys}, {k: new[k] for k in keys}


def append_event(
    session: Session,
    *,
    staff_id: int | None,
    action: str,
    entity: str,
    entity_id: object,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Add one event chained to the latest one, in the caller's transaction."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Two workstations appending at once would both read the same last hash and fork the chain.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK_KEY})
    session.flush()
    prev_hash, last_key_id = _last_link(session)
    key = signing_key(last_key_id)
    # Microsecond precision survives both engines, so the hash can be recomputed from the stored row.
    at = utcnow()
    old_json, new_json = canonical_json(old), canonical_json(new)
    signed = {"key_id": key.key_id} if key is not None else {}  # unsigned: only before keys existed
    event = AuditEvent(
        **signed,
        at=at,
        staff_id=staff_id,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        old_values=old_json,
        new_values=new_json,
        reason=reason,
        prev_hash=prev_hash,
        hash=event_hash(
            prev_hash=prev_hash,
            at=at,
            staff_id=staff_id,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            old_values=old_json,
            new_values=new_json,
            reason=reason,
            key=key,
        ),
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """One audit event of a bulk append (an import), in the order it is to be chained."""

    action: str
    entity: str
    entity_id: object
    new: Mapping[str, Any] | None = None
    old: Mapping[str, Any] | None = None
    reason: str = ""


def append_events(
    session: Session, *, staff_id: int | None, events: Sequence[PendingEvent], batch_size: int = 2000
) -> int:
    """Chain many events at once (bulk imports): one read of the last hash, hashes computed here, rows
    written with executemany in the caller's transaction. The same chain as append_event, one at a time."""
    if not events:
        return 0
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK_KEY})
    session.flush()
    prev_hash, last_key_id = _last_link(session)
    key = signing_key(last_key_id)
    at = utcnow()
    rows: list[dict[str, Any]] = []
    table = AuditEvent.__table__
    for event in events:
        old_json, new_json = canonical_json(event.old), canonical_json(event.new)
        entity_id = str(event.entity_id)
        digest = event_hash(
            prev_hash=prev_hash,
            at=at,
            staff_id=staff_id,
            action=event.action,
            entity=event.entity,
            entity_id=entity_id,
            old_values=old_json,
            new_values=new_json,
            reason=event.reason,
            key=key,
        )
        rows.append(
            {
                "at": at,
                "staff_id": staff_id,
                "action": event.action,
                "entity": event.entity,
                "entity_id": entity_id,
                "old_values": old_json,
                "new_values": new_json,
                "reason": event.reason,
                "prev_hash": prev_hash,
                "hash": digest,
                **({"key_id": key.key_id} if key is not None else {}),
            }
        )
        prev_hash = digest
        if len(rows) >= batch_size:
            session.execute(table.insert(), rows)  # type: ignore[attr-defined]
            rows = []
    if rows:
        session.execute(table.insert(), rows)  # type: ignore[attr-defined]
    return len(events)


@dataclass(frozen=True, slots=True)
class ChainReport:
    events_checked: int
    first_broken_id: int | None
    problem: str
    head_problem: str = ""  # the chain against the newest signed head file: shortened or rewritten

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None and not self.head_problem


@dataclass(frozen=True, slots=True)
class ChainHead:
    """What the chain was when last seen whole (data/audit_head.py keeps it, signed, outside the database)."""

    events: int
    last_id: int
    last_hash: str
    written_at: str


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # one encoder for the whole walk


def _payload(
    prev: Any,
    at: str,
    staff_id: Any,
    action: Any,
    entity: Any,
    entity_id: Any,
    old: Any,
    new: Any,
    reason: Any,
) -> str:
    """The text event_hash hashes, as json.dumps writes it: its own C string escaper on each field,
    put together here (three times faster than encoding the list). Anything but the expected types
    (a NULL written over a column, say) goes through the encoder itself, so the result is the same."""
    if staff_id is None or type(staff_id) is int:
        q = _quote  # raises TypeError for anything but a str
        staff = "null" if staff_id is None else str(staff_id)
        try:
            return (
                f"[{q(prev)},{q(at)},{staff},{q(action)},{q(entity)},{q(entity_id)},"
                f"{q(old)},{q(new)},{q(reason)}]"
            )
        except TypeError:
            pass
    return _ENCODER.encode([prev, at, staff_id, action, entity, entity_id, old, new, reason])


def _at_text(value: Any) -> str:
    """The stored (naive UTC) time as the aware isoformat() the hash was made from."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).isoformat()
        return value.isoformat() + "+00:00"
    text_value = str(value).replace(" ", "T", 1)  # SQLite hands the stored text back
    if text_value.endswith(".000000"):
        text_value = text_value[:-7]  # isoformat() leaves out zero microseconds
    return text_value + "+00:00"


def verify_chain(
    session: Session, *, batch_size: int = 20_000, head: ChainHead | None = None, key: AuditKey | None = None
) -> ChainReport:
    """Walk the chain in id order; the first event whose link, hash or signature does not hold is named.
    With `head`, the chain must still hold the event the head ended at, unchanged, and at least as many
    events: anything else means events were removed or the chain was rewritten.

    Read as plain rows on the session's connection (no ORM objects), hashed with one reused encoder:
    the same digest as event_hash, several times faster.
    """
    key = key if key is not None else load_key(create=False)
    prev_hash = GENESIS_HASH
    checked = 0
    last_id = 0
    signed_seen = False  # unsigned events may only come before the first signed one
    head_hash: str | None = None
    sha256 = hashlib.sha256
    payload_of = _payload
    connection = session.connection()
    c = AuditEvent.__table__.c
    # The timestamp as the database stores it (text on SQLite), not converted row by row on the way out.
    at_column = type_coerce(c.at, String if connection.dialect.name == "sqlite" else DateTime())
    while True:
        stmt = (
            select(
                c.id,
                at_column,
                c.staff_id,
                c.action,
                c.entity,
                c.entity_id,
                c.old_values,
                c.new_values,
                c.reason,
                c.prev_hash,
                c.hash,
                c.key_id,
            )
            .where(c.id > last_id)
            .order_by(c.id)
            .limit(batch_size)
        )
        rows = connection.execute(stmt).all()
        if not rows:
            return ChainReport(checked, None, "", _against_head(head, checked, last_id, head_hash))
        for row in rows:
            event_id, at, staff_id, action, entity, entity_id, old, new, reason, prev, digest, key_id = row
            what = f"audit event {event_id} ({action} {entity} {entity_id})"
            if prev != prev_hash:
                return ChainReport(
                    checked,
                    event_id,
                    f"{what} does not link to the event before it: an event was removed or changed",
                )
            payload = payload_of(
                prev, _at_text(at), staff_id, action, entity, entity_id, old, new, reason
            ).encode("utf-8")
            if key_id is None:
                if signed_seen:
                    return ChainReport(
                        checked,
                        event_id,
                        f"{what} is not signed, yet comes after signed events: it was written outside "
                        "b12desk",
                    )
                expected = sha256(payload).hexdigest()
            else:
                if key is None:
                    return ChainReport(checked, event_id, _missing_key_message(key_path()))
                if key_id != key.key_id:
                    return ChainReport(
                        checked,
                        event_id,
                        f"{what} is signed with key {key_id}, not with this clinic's key {key.key_id} "
                        f"({key.path}): it was forged, or this computer holds another clinic's key",
                    )
                signed_seen = True
                expected = key.sign(payload)
            if expected != digest:
                return ChainReport(
                    checked,
                    event_id,
                    f"{what} was altered after it was written: its contents no longer match its signature",
                )
            prev_hash = digest
            checked += 1
            last_id = event_id
            if head is not None and event_id == head.last_id:
                head_hash = digest


def _against_head(head: ChainHead | None, checked: int, last_id: int, head_hash: str | None) -> str:
    if head is None:
        return ""
    if head_hash is None or checked < head.events:
        return (
            f"the audit trail was shortened: on {head.written_at} it held {head.events} events ending at "
            f"event {head.last_id}; now it holds {checked}"
            + (f" ending at event {last_id}" if checked else "")
            + ". Events were removed: restore the newest backup and compare."
        )
    if head_hash != head.last_hash:
        return (
            f"the audit trail was rewritten: event {head.last_id} no longer has the signature it had on "
            f"{head.written_at}. Restore the newest backup and compare."
        )
    return ""
