"""The audit trail as an Excel workbook: the filter and who exported it first, then every matching event
(newest first) and, on a sheet of its own, each changed field with its value before and after.

Streamed: events are read in keyset batches and written to openpyxl write-only sheets, so memory stays
flat however many events match; text that looks like a formula is kept as text (exports.xlsx).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from b12desk.clock import Clock
from b12desk.exports import xlsx
from b12desk.exports.xlsx import Column, ColumnType
from b12desk.services import audit_log, clinic
from b12desk.services.audit_log import AuditFilter
from b12desk.services.common import Actor

T, INT, DT = ColumnType.TEXT, ColumnType.INT, ColumnType.DATETIME
PROGRESS_EVERY = 1_000  # events between progress calls

Progress = Callable[[int, int | None], bool]  # (events done, events in all or None) -> False to cancel

EVENT_COLUMNS = (
    Column("Event id", INT),
    Column("When (clinic time)", DT),
    Column("User", T),
    Column("Full name", T),
    Column("Action", T),
    Column("Record kind", T),
    Column("Record id", T),
    Column("Reason", T, 40),
    Column("Fields changed", T, 40),
)
CHANGE_COLUMNS = (
    Column("Event id", INT),
    Column("When (clinic time)", DT),
    Column("User", T),
    Column("Action", T),
    Column("Record kind", T),
    Column("Record id", T),
    Column("Field", T),
    Column("Before", T, 40),
    Column("After", T, 40),
)


@dataclass(frozen=True, slots=True)
class AuditExportResult:
    path: Path
    events: int  # rows of the Events sheet
    changes: int  # rows of the Changes sheet
    cancelled: bool = False  # then nothing was written


def audit_workbook(
    session: Session,
    actor: Actor,
    audit_filter: AuditFilter,
    path: Path | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    audit: bool = True,
) -> AuditExportResult:
    """Write the events matching `audit_filter` to `path`. Needs READ_AUDIT and EXPORT_REPORTS, checked
    before the file is touched; `audit=False` leaves the export's own audit event to the caller (the GUI
    writes it in a short transaction of its own after this read)."""
    audit_log.authorize_export(session, actor)
    audit_filter = audit_filter.validated()
    path = Path(path)
    clock = (clock or clinic.clinic_clock(session)).frozen()
    zone = clock.zone
    described = audit_log.describe_filter(session, actor, audit_filter)
    total = audit_log.count_audit(session, actor, audit_filter, clock=clock)
    temporary = xlsx.writable_target(path)
    wb = xlsx.new_workbook()
    try:
        parameters = xlsx.SheetWriter(
            wb, "Parameters", (Column("Parameter", T, 30), Column("Value", ColumnType.MIXED, 60))
        )
        events = xlsx.SheetWriter(wb, "Events", EVENT_COLUMNS)
        changes = xlsx.SheetWriter(wb, "Changes", CHANGE_COLUMNS)
        done = 0
        if progress is not None and progress(0, total) is False:
            raise _Cancelled
        for page in audit_log.audit_batches(session, actor, audit_filter, clock=clock):
            for row in page:
                when = row.at.astimezone(zone).replace(tzinfo=None)
                kind = audit_log.kind_label(row.entity)
                events.append(
                    [
                        row.id,
                        when,
                        row.username or "system",
                        row.full_name,
                        row.action,
                        kind,
                        row.entity_id,
                        row.reason,
                        ", ".join(change.field for change in row.changes),
                    ]
                )
                for change in row.changes:
                    changes.append(
                        [
                            row.id,
                            when,
                            row.username or "system",
                            row.action,
                            kind,
                            row.entity_id,
                            change.field,
                            audit_log.value_text(change.old),
                            audit_log.value_text(change.new),
                        ]
                    )
                done += 1
                if progress is not None and done % PROGRESS_EVERY == 0 and progress(done, total) is False:
                    raise _Cancelled
        written = events.close()
        changed = changes.close()
        parameters.extend(
            [
                ("Report", "Audit trail"),
                *described,
                ("Exported by", f"{actor.full_name} ({actor.username}, {actor.role.value})"),
                ("Exported at (clinic time)", _local(clock.now(), clock)),
                ("Clinic time zone", clock.zone_name),
                ("Events", written),
                ("Changed fields", changed),
                ("Order", "Newest first"),
            ]
        )
        parameters.close()
        xlsx.save(wb, temporary, path)
    except _Cancelled:
        xlsx.discard(wb, temporary)
        return AuditExportResult(path, 0, 0, cancelled=True)
    except BaseException:
        xlsx.discard(wb, temporary)
        raise
    if progress is not None:
        progress(written, written)
    if audit:
        audit_log.record_export(session, actor, audit_filter, events=written, file_name=path.name)
    return AuditExportResult(path, written, changed)


class _Cancelled(Exception):
    pass


def _local(moment: datetime, clock: Clock) -> datetime:
    """An instant as Excel holds it: clinic wall-clock time, without a zone."""
    return moment.astimezone(clock.zone).replace(tzinfo=None)
