"""The b12desk command line: the same services as the GUI, for administrators, scripts and scanners."""

from __future__ import annotations

import argparse
import gc
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

PASSWORD_ENV = "B12DESK_PASSWORD"
NEW_PASSWORD_ENV = "B12DESK_NEW_PASSWORD"
ROLES = ("nurse", "pharmacist", "manager", "admin")


class CliError(Exception):
    """A message for the person at the terminal, and the exit code to leave with."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _common(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    default: Any = None if top else argparse.SUPPRESS
    p.add_argument(
        "--db",
        metavar="URL",
        default=default,
        help="SQLAlchemy database URL (default: $B12DESK_DATABASE_URL, else the SQLite file in the "
        "per-user data folder)",
    )
    p.add_argument(
        "--user",
        metavar="NAME",
        default=default,
        help=f"sign in as NAME; the password comes from ${PASSWORD_ENV} or a prompt",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="use the demo database (kept apart from the real one), creating it with demo data",
    )


# The monitoring worklists by name (services.monitoring.Worklist), kept here so --help needs no import.
_WORKLISTS = (
    "today",
    "overdue",
    "tasks",
    "lapsed",
    "ready_for_maintenance",
    "awaiting_review",
    "not_responding",
)


def _iso_date(text: str) -> date:
    from b12desk.domain.dates import DateTextError, read_date

    try:
        return read_date(text)
    except DateTextError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="b12desk",
        description="Vitamin B12 injection treatment desk. With no command, opens the desktop app.",
    )
    _common(parser, top=True)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, **kw)
        _common(p)
        return p

    p_db = add("db", "create, migrate, check or back up the database")
    db_sub = p_db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, text in (
        ("upgrade", "create the database or migrate it to the current schema (SQLite is backed up first)"),
        ("status", "show the database, its schema revision and the head revision"),
    ):
        _common(db_sub.add_parser(name, help=text, description=text))
    check_text = (
        "verify storage (SQLite quick_check), foreign keys, the stock ledger and the audit hash chain; "
        "exit 1 and name the first fault"
    )
    p_check = db_sub.add_parser("check", help=check_text, description=check_text)
    _common(p_check)
    p_check.add_argument(
        "--full", action="store_true", help="SQLite's full integrity_check (every index against its table)"
    )
    p_backup = db_sub.add_parser("backup", help="copy a SQLite database to a checked backup file")
    _common(p_backup)
    p_backup.add_argument(
        "--to", metavar="FOLDER", type=Path, help="folder for the backup (default: data folder)"
    )
    restore_text = (
        "replace the SQLite database with a backup file, after checking the file and backing up the "
        "database it replaces"
    )
    p_restore = db_sub.add_parser("restore", help=restore_text, description=restore_text)
    _common(p_restore)
    p_restore.add_argument("file", metavar="FILE", type=Path, help="the backup file to restore")
    p_restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p_pat = add("patient", "read the roster")
    pat_sub = p_pat.add_subparsers(dest="patient_command", metavar="ACTION", required=True)
    p_list = pat_sub.add_parser("list", help="list patients")
    _common(p_list)
    p_list.add_argument("--search", default="", help="words that must all appear in the MRN or name")
    p_list.add_argument("--archived", action="store_true", help="list archived patients instead")
    p_list.add_argument("--json", action="store_true")
    p_show = pat_sub.add_parser("show", help="one patient's record, labs and history")
    _common(p_show)
    p_show.add_argument("mrn")
    p_show.add_argument("--json", action="store_true")

    p_imp = add("import", "import data from files")
    imp_sub = p_imp.add_subparsers(dest="import_command", metavar="WHAT", required=True)
    p_ip = imp_sub.add_parser(
        "patients",
        help="import patients from CSV",
        description="Every row is validated first. While any row is bad nothing is imported, unless "
        "--only-good-rows is given.",
    )
    _common(p_ip)
    p_ip.add_argument("file", type=Path, nargs="?")
    p_ip.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
    p_ip.add_argument(
        "--only-good-rows", action="store_true", help="import the good rows even if some are bad"
    )
    p_ip.add_argument("--template", type=Path, metavar="FILE", help="write the expected header row to FILE")
    p_ia = imp_sub.add_parser(
        "administrations",
        help="import dose history given before b12desk (CSV or .xlsx)",
        description="Doses given before the clinic used b12desk, one row each (CSV, or the first sheet of an "
        ".xlsx workbook), recorded as given elsewhere: no stock is drawn. Each patient needs a verified "
        "plan; a plan that starts after the history must be marked as continuing treatment begun "
        "elsewhere. Every row is checked first; while any row is bad nothing is imported.",
    )
    _common(p_ia)
    p_ia.add_argument("file", type=Path, nargs="?")
    p_ia.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
    p_ia.add_argument(
        "--template",
        type=Path,
        metavar="FILE",
        help="write the expected columns and an example row to FILE (.csv, or .xlsx for a workbook)",
    )

    p_sched = add(
        "schedule", "list regimen templates, or preview one's planned doses and tasks from a start date"
    )
    p_sched.add_argument("template", nargs="?", help="template code (see --list) or id")
    p_sched.add_argument("--list", action="store_true", help="list the templates")
    p_sched.add_argument("--start", type=_iso_date, help="first dose date, YYYY-MM-DD (default today)")
    p_sched.add_argument("--until", type=_iso_date, help="last date to show (default a year on)")
    p_sched.add_argument("--dose", type=int, metavar="MCG", help="dose in mcg (default the template's)")
    p_sched.add_argument("--severe-anaemia", action="store_true", help="include severe-anaemia tasks")
    p_sched.add_argument("--json", action="store_true")

    p_due = add(
        "due",
        "what is due: doses and monitoring tasks due today (default), doses overdue, lapsed maintenance, "
        "or another worklist",
    )
    p_due.add_argument(
        "--date", type=_iso_date, help="the clinic day to list for, YYYY-MM-DD (default today)"
    )
    p_due.add_argument("--overdue", action="store_true", help="doses past the end of their window")
    p_due.add_argument(
        "--lapsed", action="store_true", help="maintenance with no dose for over 1.5 intervals (relapse risk)"
    )
    p_due.add_argument(
        "--list",
        dest="lists",
        action="append",
        default=[],
        metavar="NAME",
        choices=[w.replace("_", "-") for w in _WORKLISTS],
        help="another worklist: " + ", ".join(w.replace("_", "-") for w in _WORKLISTS),
    )
    p_due.add_argument("--json", action="store_true")

    p_scan = add("scan", "parse a GS1 pack scan and show the matching product and lot (scanner set-up test)")
    p_scan.add_argument("code", help="what the scanner typed; quote it. GS may be typed as <GS> or ^]")
    p_scan.add_argument("--json", action="store_true")

    p_form = add("formulary", "the product catalogue")
    form_sub = p_form.add_subparsers(dest="formulary_command", metavar="ACTION", required=True)
    _common(form_sub.add_parser("list", help="products with usable stock on hand"))
    _common(form_sub.add_parser("seed", help="load the shipped seed formulary into an empty catalogue"))
    _common(form_sub.add_parser("alerts", help="expiring lots, vials past discard-by, products to reorder"))

    p_dose = add("dose", "check, record, list or correct doses (the same checks as the give-dose screen)")
    dose_sub = p_dose.add_subparsers(dest="dose_command", metavar="ACTION", required=True)
    for name, text in (
        ("check", "show what the checks find for a dose, saving nothing; exit 1 on a hard stop"),
        ("record", "record a dose when nothing blocks it; warnings need --acknowledge CODE --reason TEXT"),
    ):
        p = dose_sub.add_parser(name, help=text, description=text)
        _common(p)
        p.add_argument("--patient", required=True, metavar="MRN")
        p.add_argument("--dose", required=True, help='the dose as given, e.g. "1,000 mcg" or "1 mg"')
        p.add_argument("--product", metavar="ID|GTIN", help="the product (id from formulary list, or GTIN)")
        p.add_argument("--lot", metavar="LOT", help="the lot number printed on the pack")
        p.add_argument("--vial", type=int, metavar="ID", help="the open multi-dose vial drawn from")
        p.add_argument("--site", help="injection site, e.g. ventrogluteal_left")
        p.add_argument("--at", metavar="WHEN", help='when it was given, "YYYY-MM-DD HH:MM" clinic time')
        p.add_argument("--route", choices=[r for r in ("im", "deep_sc", "sc")], help="default: the plan's")
        p.add_argument(
            "--outcome", choices=("given", "refused", "not_given"), default="given", help="default given"
        )
        p.add_argument("--note", default="", help="a note; required when the dose was not given")
        p.add_argument(
            "--acknowledge", action="append", default=[], metavar="CODE", help="accept a warning by its code"
        )
        p.add_argument(
            "--reason", action="append", default=[], help="why (one for each --acknowledge, or one for all)"
        )
        p.add_argument("--json", action="store_true")
    p_dlist = dose_sub.add_parser("list", help="a patient's dose records, newest first, with their ids")
    _common(p_dlist)
    p_dlist.add_argument("--patient", required=True, metavar="MRN")
    p_dlist.add_argument("--json", action="store_true")
    p_fix = dose_sub.add_parser(
        "correct",
        help="mark a dose record entered in error, or correct its site, time or note",
        description="The original record stays readable and marked; the correction needs a reason.",
    )
    _common(p_fix)
    p_fix.add_argument("id", type=int, help="the dose record's id (see dose list)")
    p_fix.add_argument("--entered-in-error", action="store_true", help="the record should not exist")
    p_fix.add_argument("--site", help="the site actually used")
    p_fix.add_argument("--at", metavar="WHEN", help='the time actually given, "YYYY-MM-DD HH:MM"')
    p_fix.add_argument("--note", help="the note as it should read")
    p_fix.add_argument("--reason", required=True, help="why the record is corrected")
    p_fix.add_argument("--json", action="store_true")

    p_demo = add(
        "demo-data",
        "fill an empty demo database with deterministic synthetic clinic data (an administrator, --user)",
    )
    p_demo.add_argument(
        "--i-know-this-is-not-the-demo",
        dest="not_the_demo",
        action="store_true",
        help="fill a database that is not the demo one (--demo) on purpose: a test or benchmark copy",
    )
    p_demo.add_argument("--patients", type=int, default=2000)
    p_demo.add_argument("--years", type=int, default=2)
    p_demo.add_argument("--seed", type=int, default=1)

    # Labels (and exports) live in modules of their own beside this one, which use its helpers: imported
    # here, once this module is whole.
    from b12desk.cli_export import add_export_parser
    from b12desk.cli_labels import add_labels_parser
    from b12desk.cli_report import add_report_parser
    from b12desk.cli_users import add_user_parsers

    add_user_parsers(sub)
    add_labels_parser(sub)
    add_export_parser(sub)
    add_report_parser(sub)
    return parser


# --- helpers -------------------------------------------------------------------------------------------


def _password(prompt: str, env: str) -> str:
    value = os.environ.get(env)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise CliError(f"No password: set {env} or run the command in a terminal to be asked for it.")
    return getpass.getpass(prompt)


def _open(args: argparse.Namespace, *, seed_demo: bool = True) -> Any:
    from b12desk.services.startup import open_app_database

    # SQLAlchemy and the models are loaded and live as long as the command: keep their objects out of
    # the cyclic collector's walks, which would otherwise rescan them each time a thousand rows are read.
    gc.freeze()

    opened = open_app_database(
        getattr(args, "db", None), demo=getattr(args, "demo", False), seed_demo=seed_demo
    )
    _OPENED.append(opened.db)
    if opened.read_only_reason:
        print(f"b12desk: {opened.read_only_reason}", file=sys.stderr)
    return opened


def _sign_in(args: argparse.Namespace, db: Any) -> Any:
    from b12desk.services import auth

    username = getattr(args, "user", None)
    if not username:
        raise CliError("This command reads or writes patient data: sign in with --user NAME.")
    password = _password(f"Password for {username}: ", PASSWORD_ENV)
    return auth.sign_in(db, username=username, password=password)


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _print_json_rows(rows: Sequence[dict[str, Any]]) -> None:
    """A JSON list, one object a line: readable, and written by json's C encoder (an indented dump
    goes through the pure-Python one, several times slower for a whole roster)."""
    out = sys.stdout
    out.write("[\n")
    last = len(rows) - 1
    for n, row in enumerate(rows):
        out.write(json.dumps(row))
        out.write(",\n" if n < last else "\n")
    out.write("]\n")


def _roster_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "mrn": r.mrn,
        "family_name": r.family_name,
        "given_name": r.given_name,
        "date_of_birth": r.date_of_birth.isoformat(),
        "sex": r.sex.value,
        "cause": r.cause.value,
        "neuro_involvement": r.neuro_involvement,
        "archived": r.archived,
        "regimen": r.regimen,
        "phase": r.phase,
        "next_due": r.next_due.isoformat() if r.next_due is not None else None,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    if value.__class__.__name__ == "Decimal":
        return _decimal_text(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _decimal_text(value: Any) -> str:
    """1000, not 1E+3; 0.5, not 0.500."""
    return format(value.normalize(), "f")


# --- commands ------------------------------------------------------------------------------------------


def cmd_gui(args: argparse.Namespace) -> int:
    from b12desk.services.common import ServiceError

    try:
        opened = _open(args)
    except ServiceError as exc:
        print(f"b12desk: {exc}", file=sys.stderr)
        has_display = sys.platform in ("win32", "darwin") or bool(
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        )
        # Started from a desktop icon there is no terminal to read the message in: show it in a window.
        if has_display and not sys.stdin.isatty() and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
            from b12desk.ui.app import show_startup_error

            return show_startup_error(str(exc))
        return 1
    password = os.environ.get(PASSWORD_ENV) if args.user else None
    preload = None
    if args.user and password is not None:
        from b12desk.ui.preload import begin_sign_in  # free of Qt: it runs while Qt loads

        preload = begin_sign_in(opened.db, args.user, password)
    from b12desk.ui.app import run_gui  # Qt loads only for the desktop app

    return run_gui(
        opened,
        username=args.user,
        password=password,
        exit_after_shown=os.environ.get("B12DESK_EXIT_AFTER_SHOWN") == "1",
        preload=preload,
    )


def cmd_db(args: argparse.Namespace) -> int:
    from b12desk.data import migrate
    from b12desk.data.audit_head import check_chain
    from b12desk.data.db import open_database, resolve_url
    from b12desk.data.integrity import check_database, start_storage_check
    from b12desk.services.startup import backup_dir

    if args.db_command == "restore":
        return _db_restore(args)
    if args.db_command == "upgrade":
        result = _open(args, seed_demo=False).upgrade
        if not result.changed:
            print(f"Database is up to date (revision {result.to_revision}).")
        else:
            print(f"Database migrated from {result.from_revision or 'empty'} to {result.to_revision}.")
        if result.backup:
            print(f"Backup taken first: {result.backup}")
        return 0
    db = open_database(resolve_url(getattr(args, "db", None), demo=getattr(args, "demo", False)))
    try:
        if args.db_command == "status":
            print(f"database: {db.describe()}")
            revision = migrate.current_revision(db)
            print(f"revision: {revision or 'empty (run: b12desk db upgrade)'}")
            print(f"head:     {migrate.head_revision(db)}")
            try:
                migrate.check_revision_known(revision)
            except migrate.SchemaTooNew as exc:
                raise CliError(str(exc), code=2) from None
            return 0
        if args.db_command == "backup":
            from b12desk.data.db import sqlite_path

            path = sqlite_path(db.url)
            if path is None or not path.exists():
                raise CliError(
                    "db backup copies SQLite files; back up PostgreSQL with pg_dump on the server."
                )
            try:
                target = migrate.backup_sqlite(path, args.to or backup_dir(), "manual")
            except migrate.BackupFailed as exc:
                raise CliError(str(exc)) from None
            print(f"Backup written and checked: {target}")
            from b12desk.data.audit_head import write_head

            write_head(db)  # the chain as it is in this backup, signed, outside the database
            return 0
        # check
        storage = start_storage_check(db, full=args.full)  # beside the chain and the other checks
        chain = check_chain(db)
        faults = check_database(db, full=args.full, storage=storage)
        for fault in faults:
            print(f"FAULT: {fault}")
        if chain.problem:
            print(f"FAULT: {chain.problem}")
            print(f"First broken audit event: {chain.first_broken_id}")
        if chain.head_problem:
            print(f"FAULT: {chain.head_problem}")
        if faults or not chain.ok:
            return 1
        print(f"OK: database {db.describe()} is intact; {chain.events_checked} audit events verified.")
        return 0
    finally:
        db.dispose()


def _db_restore(args: argparse.Namespace) -> int:
    """`db restore FILE`: check the file, confirm, back up what it replaces, swap it in, then upgrade."""
    import sqlite3

    from b12desk.data import migrate, sqlite_lock
    from b12desk.data.db import check_url, resolve_url, sqlite_path
    from b12desk.data.sqlite_restore import (
        RestoreRefused,
        count_patients,
        inspect_backup,
        keep_damaged_copy,
        restore_into,
    )
    from b12desk.services.startup import backup_dir

    url = resolve_url(getattr(args, "db", None), demo=getattr(args, "demo", False))
    check_url(url)
    database = sqlite_path(url)
    if database is None:
        raise CliError(
            "db restore replaces a SQLite file; restore a PostgreSQL database on the server with pg_restore "
            "(or psql, for a plain SQL dump)."
        )
    try:
        candidate = inspect_backup(args.file)
    except (RestoreRefused, migrate.SchemaTooNew) as exc:
        raise CliError(f"{exc} Nothing was restored.") from None
    if args.file.absolute().resolve() == database.absolute().resolve():
        raise CliError(f"{args.file} is the database itself; name a backup file. Nothing was restored.")
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError("Nothing was restored: confirm with --yes, or run the command in a terminal.")
        current = count_patients(database)
        holding = f" (now {current:,} patients)" if current is not None else ""
        answer = input(
            f"Replace {database}{holding} with {args.file} ({candidate.patients:,} patients, taken "
            f"{candidate.taken})? Type yes: "
        )
        if answer.strip().lower() != "yes":
            print("Nothing was restored.")
            return 1
    replaced_head = _head_before_restore(url)
    kept: Path | None = None
    lease = sqlite_lock.acquire(database)
    if isinstance(lease, sqlite_lock.Holder):
        raise CliError(
            f"{lease.describe()} is writing to {database}: close it, then restore. Nothing was restored."
        )
    try:
        if database.exists() and database.stat().st_size:
            try:
                kept = migrate.backup_sqlite(database, backup_dir(), "before-restore")
                print(f"The database it replaces was backed up first: {kept}")
            except migrate.BackupFailed as exc:
                if not exc.damaged:  # a full disk, say: keep everything as it is
                    raise CliError(f"{exc} Nothing was restored.") from None
                kept = keep_damaged_copy(database, backup_dir())
                print(f"The database it replaces cannot be backed up ({exc}); its file was copied: {kept}")
        restore_into(args.file, database)
    except (OSError, sqlite3.Error) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise CliError(f"The restore failed ({detail}); the database was not replaced.") from None
    finally:
        lease.release()
    print(
        f"Restored {args.file} ({candidate.patients:,} patients, revision {candidate.revision}) "
        f"into {database}."
    )
    opened = _open(args, seed_demo=False)
    result = opened.upgrade
    if result.changed:
        print(f"Then migrated from {result.from_revision or 'empty'} to {result.to_revision}.")
    _audit_restore(opened.db, args.file, kept, replaced_head)
    return 0


def _head_before_restore(url: str) -> Any:
    """The audit head recorded for the database about to be replaced, if a sound one exists."""
    from b12desk.data.audit_head import HeadFileProblem, read_head
    from b12desk.data.db import open_database

    db = open_database(url)
    try:
        return read_head(db)
    except HeadFileProblem:
        return None
    finally:
        db.dispose()


def _audit_restore(db: Any, source: Path, kept: Path | None, replaced: Any) -> None:
    """A restore takes the audit trail back to the backup's: the first event after it says so, with how
    long the replaced trail was and where it was kept, so the rollback is itself in the trail (and the
    head written at exit then starts from the restored chain)."""
    from b12desk.data.audit import append_event

    with db.sessions.begin() as s:
        append_event(
            s,
            staff_id=None,
            action="restore",
            entity="database",
            entity_id="restore",
            old=(
                {"events": replaced.events, "last_id": replaced.last_id, "last_hash": replaced.last_hash}
                if replaced is not None
                else None
            ),
            new={"restored_from": str(source), "replaced_database_kept_as": str(kept) if kept else ""},
            reason="Database restored from a backup: events written after that backup are in the copy kept.",
        )


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _patient_lines(found: Any, clock: Any) -> list[tuple[str, str]]:
    """A patient's record as (label, value) lines in plain words: labels, yes or no, YYYY-MM-DD."""
    from b12desk.domain.enums import CAUSE_LABELS, PRESENTATION_LABELS, SEX_LABELS
    from b12desk.domain.patients import PATIENT_FIELD_LABELS

    p = found.data
    label = PATIENT_FIELD_LABELS
    flags = [label[name] for name in _FLAG_FIELDS if getattr(p, name)]
    trained = p.self_injection_trained_on
    if found.archived:
        when = f", on {clock.local(found.archived_at):%Y-%m-%d}" if found.archived_at is not None else ""
        archived = f"yes{when}" + (f": {found.archive_reason}" if found.archive_reason else "")
    else:
        archived = "no"
    return [
        (label["mrn"], p.mrn),
        (label["family_name"], p.family_name),
        (label["given_name"], p.given_name),
        (label["date_of_birth"], p.date_of_birth.isoformat() if p.date_of_birth else "-"),
        (label["sex"], SEX_LABELS[p.sex]),
        (label["phone"], p.phone or "-"),
        (label["email"], p.email or "-"),
        (label["address"], p.address or "-"),
        (label["cause"], CAUSE_LABELS[p.cause]),
        (label["presentation"], PRESENTATION_LABELS[p.presentation]),
        (label["neuro_involvement"], _yes_no(p.neuro_involvement)),
        (label["neuro_symptoms"], p.neuro_symptoms or "-"),
        (label["pregnant_or_breastfeeding"], _yes_no(p.pregnant_or_breastfeeding)),
        (label["self_injection_trained_on"], trained.isoformat() if trained else "not trained"),
        (label["self_injection_trainer"], p.self_injection_trainer or "-"),
        ("Contraindications and cautions", "; ".join(flags) if flags else "none"),
        (label["allergies"], p.allergies or "-"),
        (label["notes"], p.notes or "-"),
        ("Archived", archived),
    ]


_FLAG_FIELDS = (  # in the patient dialog's order
    "flag_b12_hypersensitivity",
    "flag_cobalt_allergy",
    "flag_lebers_disease",
    "flag_benzyl_alcohol_sensitivity",
)


def _print_labelled(lines: Sequence[tuple[str, str]]) -> None:
    """Label and value side by side; a value of several lines keeps to its column."""
    width = max(len(label) for label, _ in lines) + 2
    for label, value in lines:
        first, *rest = str(value).splitlines() or [""]
        print(f"{label + ':':{width}}{first}".rstrip())
        for more in rest:
            print(f"{'':{width}}{more}".rstrip())


def cmd_patient(args: argparse.Namespace) -> int:
    from b12desk.domain.enums import CAUSE_LABELS
    from b12desk.services import clinic, patients

    db = _open(args).db
    actor = _sign_in(args, db)
    with db.readers.begin() as s:  # reading only: never waits behind a workstation that is writing
        if args.patient_command == "list":
            words = args.search.lower().split()
            rows = [
                r
                for r in patients.roster(s, actor)
                if r.archived == args.archived
                and all(w in f"{r.mrn} {r.family_name} {r.given_name}".lower() for w in words)
            ]
            if args.json:
                _print_json_rows([_roster_json(r) for r in rows])
            else:
                _print_table(
                    ("MRN", "name", "born", "cause", "neuro", "regimen", "phase", "next due"),
                    [
                        (
                            r.mrn,
                            f"{r.family_name}, {r.given_name}",
                            r.date_of_birth.isoformat(),
                            CAUSE_LABELS[r.cause],
                            _yes_no(r.neuro_involvement),
                            r.regimen or "no plan",
                            r.phase.replace("_", " "),
                            r.next_due.isoformat() if r.next_due is not None else "",
                        )
                        for r in rows
                    ],
                )
                print(f"{len(rows)} patient(s)")
            return 0
        found = patients.find_patient_by_mrn(s, actor, args.mrn)
        if found is None:
            raise CliError(f"No patient with MRN {args.mrn.upper()}.")
        labs = patients.list_labs(s, actor, found.id)
        history = patients.patient_history(s, actor, found.id)
        clock = clinic.clinic_clock(s)
    if args.json:
        print(
            json.dumps(
                _jsonable(
                    {
                        "patient": asdict(found.data),
                        "archived": found.archived,
                        "labs": [asdict(x) for x in labs],
                        "history": [asdict(h) for h in history],
                    }
                ),
                indent=1,
                default=str,
            )
        )
        return 0
    _print_labelled(_patient_lines(found, clock))
    print(f"\nLabs ({len(labs)}):")
    from b12desk.domain.lab_bands import BAND_LABELS

    _print_table(
        ("taken", "test", "value", "unit", "canonical", "band", "status"),
        [
            (
                x.taken_on.isoformat(),
                x.test_name,
                x.value_text,
                x.unit,
                "" if x.value_canonical is None else f"{x.value_canonical.normalize():f} {x.canonical_unit}",
                BAND_LABELS[x.band] if x.band else "",
                x.status.value.replace("_", " "),
            )
            for x in labs
        ],
    )
    for note in dict.fromkeys(x.band_advice for x in labs if x.band_advice):
        print(f"  {note}")
    print(f"\nHistory ({len(history)}):")
    _print_table(
        ("when", "who", "action", "reason"),
        [
            (f"{clock.local(h.at):%Y-%m-%d %H:%M}", h.who, h.action.replace("_", " "), h.reason)
            for h in history
        ],
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from b12desk.services import imports

    if args.import_command == "administrations":
        return _import_history(args)
    if args.template:
        imports.write_template(args.template)
        print(f"Template written: {args.template}")
        return 0
    if args.file is None:
        raise CliError("Name the CSV file to import, or use --template FILE to write the expected columns.")
    db = _open(args).db
    actor = _sign_in(args, db)
    with db.readers.begin() as s:  # checking the file takes no write lock
        checked = imports.validate_file(s, actor, args.file)
    if args.dry_run:
        report = checked.report(imported=0, dry_run=True)
    else:
        with db.sessions.begin() as s:
            report = imports.write_validated(s, actor, checked, only_good_rows=args.only_good_rows)
    _print_row_problems(report.problems)
    bad_lines = len({p.line for p in report.problems})
    print(f"{report.rows_read} row(s) read, {report.good_rows} good, {bad_lines} line(s) with problems.")
    if report.rows_read == 0:
        print("Nothing to import: the file has its header row but no rows below it.")
        return 1
    if report.dry_run:
        print("Dry run: nothing was imported.")
        return 1 if report.problems else 0
    if report.good_rows == 0:
        print("Nothing was imported: no row is good. Fix the lines above and import the file again.")
        return 1
    if report.problems and not args.only_good_rows:
        print(
            "Nothing was imported. Fix the lines above, or re-run with --only-good-rows to import the "
            f"{report.good_rows} good row(s) alone."
        )
        return 1
    print(f"Imported {report.imported} patient(s).")
    return 0


def _print_row_problems(problems: Sequence[Any], warning: str = "") -> None:
    """Each problem of a row by its line (and MRN when the row has one), on stderr."""
    for p in problems:
        print(f"line {p.line}: {p.mrn + ': ' if p.mrn else ''}{warning}{p.message}", file=sys.stderr)


def _import_history(args: argparse.Namespace) -> int:
    from b12desk.services import history_import

    if args.template:
        history_import.write_template(args.template)
        print(f"Template written: {args.template}")
        return 0
    if args.file is None:
        raise CliError(
            "Name the CSV or .xlsx file to import, or use --template FILE to write the expected columns."
        )
    db = _open(args).db
    actor = _sign_in(args, db)
    # Checked and written in one transaction: the rules hold against the data as it is when written.
    with (db.readers if args.dry_run else db.sessions).begin() as s:
        report = history_import.import_history(s, actor, args.file, dry_run=args.dry_run)
    _print_row_problems(report.problems)
    _print_row_problems(report.warnings, "warning, recorded with the dose: ")
    bad_lines = len({p.line for p in report.problems})
    print(f"{report.rows_read} row(s) read, {report.good_rows} good, {bad_lines} line(s) with problems.")
    if report.rows_read == 0:
        print("Nothing to import: the file has its header row but no rows below it.")
        return 1
    if report.dry_run:
        print("Dry run: nothing was imported.")
        return 1 if report.problems else 0
    if report.problems:
        print("Nothing was imported: fix the lines above and import the file again.")
        return 1
    print(
        f"Imported {report.imported} dose record(s), as given elsewhere (no stock drawn); "
        f"{report.plans_updated} schedule(s) brought up to date."
    )
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from b12desk.services import demo_data

    if args.patients < 1 or args.years < 1:
        raise CliError("--patients and --years must be at least 1.")
    opened = _open(args, seed_demo=False)
    if opened.demo:
        from b12desk.services.startup import ensure_demo_users

        ensure_demo_users(opened.db)  # demo mode: the accounts its sign-in window offers
    actor = _sign_in(args, opened.db)

    def progress(stage: str, rows: int) -> None:
        print(f"  {stage}: {rows:,} rows", file=sys.stderr, flush=True)

    stats = demo_data.fill_with_demo_data(
        opened.db,
        actor,
        demo_database=opened.demo,
        not_the_demo=args.not_the_demo,
        patients=args.patients,
        years=args.years,
        seed=args.seed,
        progress=progress,
    )
    for key, value in asdict(stats).items():
        if isinstance(value, dict):
            for table, count in value.items():
                print(f"{table}: {count}")
        else:
            print(f"{key}: {round(value, 3) if isinstance(value, float) else value}")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from b12desk.domain.units import format_dose
    from b12desk.services import clinic, plans

    db = _open(args).db
    with db.sessions.begin() as s:
        templates = plans.reference_templates(s, include_inactive=True)
        days = clinic.open_days(s)
        today = clinic.clinic_clock(s).today()
        strengths = {f: plans.strength_for(s, f) for f in {t.formulation for t in templates}}
    if args.list or not args.template:
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "id": t.id,
                            "code": t.code,
                            "version": t.version,
                            "name": t.name,
                            "formulation": t.formulation.value,
                            "source": t.source,
                        }
                        for t in templates
                    ],
                    indent=1,
                )
            )
        else:
            _print_table(
                ("id", "code", "version", "formulation", "name", "source"),
                [(t.id, t.code, t.version, t.formulation.value, t.name, t.source[:60]) for t in templates],
            )
        return 0
    match = [t for t in templates if t.code == args.template or str(t.id) == args.template]
    if not match:
        raise CliError(f"No template '{args.template}'; list them with: b12desk schedule --list")
    template = match[0]
    if not template.definition.phases:
        raise CliError(f"The template '{template.code}' has no phases yet: a pharmacist edits it first.")
    start = args.start or today
    conditions = frozenset({"severe_anaemia"}) if args.severe_anaemia else frozenset()
    from decimal import Decimal

    schedule = plans.preview_schedule(
        template.definition,
        start=start,
        days=days,
        until=args.until,
        dose_mcg=Decimal(args.dose) if args.dose else None,
        conditions=conditions,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "template": {
                        "id": template.id,
                        "code": template.code,
                        "version": template.version,
                        "name": template.name,
                        "source": template.source,
                    },
                    "start": start.isoformat(),
                    "open_days": sorted(days),
                    "doses": [
                        {
                            "phase": d.phase_kind.value,
                            "number": d.number,
                            "due": d.due.isoformat(),
                            "window_end": d.window_end.isoformat(),
                            "dose_mcg": str(d.dose_mcg),
                        }
                        for d in schedule.doses
                    ],
                    "tasks": [
                        {
                            "kind": t.kind.value,
                            "label": t.label,
                            "lab_test_code": t.lab_test_code,
                            "due": t.due.isoformat(),
                            "window_end": t.window_end.isoformat(),
                        }
                        for t in schedule.tasks
                    ],
                },
                indent=1,
            )
        )
        return 0
    print(f"{template.name} (version {template.version})")
    print(f"Source: {template.source}")
    for phase in template.definition.phases:
        print(f"  {phase.describe()}")
    print(f"Start {start.isoformat()}; clinic open on {', '.join(_DAY_NAMES[d] for d in sorted(days))}.\n")
    _print_table(
        ("date", "day", "what", "dose"),
        [
            (
                d.due.isoformat(),
                _DAY_NAMES[d.due.weekday()],
                f"{d.phase_kind.value} dose {d.number}",
                format_dose(d.dose_mcg, strengths[template.formulation]),
            )
            for d in schedule.doses
        ],
    )
    print()
    _print_table(
        ("due", "until", "task"),
        [(t.due.isoformat(), t.window_end.isoformat(), t.label) for t in schedule.tasks],
    )
    return 0


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def cmd_scan(args: argparse.Namespace) -> int:
    from b12desk.domain.gs1 import Gs1Error, parse_gs1
    from b12desk.services import clinic, inventory

    try:
        parse_gs1(args.code)
    except Gs1Error as exc:
        raise CliError(f"the scan is not valid: {exc}") from None
    db = _open(args).db
    actor = _sign_in(args, db)
    with db.sessions.begin() as s:
        result = inventory.lookup_scan(s, actor, args.code)
        today = clinic.clinic_clock(s).today()
    info = inventory.scan_as_dict(result, today=today)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    for key in ("gtin", "ndc_digits", "expiry", "lot", "serial"):
        print(f"{key:12} {info[key] if info[key] is not None else '-'}")
    for ai, value in info["other"].items():
        print(f"({ai}){' ' * (8 - len(ai))} {value}")
    product = info["product"]
    print(
        f"{'product':12} {product['label'] if product else 'not in the formulary: a pharmacist can link it'}"
    )
    lot = info["lot_record"]
    print(
        f"{'lot record':12} "
        + (
            f"{lot['lot_number']}, expiry {lot['expiry']}, {lot['quantity']} on hand"
            if lot
            else "not received yet"
        )
    )
    if not info["usable"]:
        print("WARNING: this pack is past its expiry date.")
    return 0


def cmd_formulary(args: argparse.Namespace) -> int:
    from b12desk.domain.units import format_ml
    from b12desk.services import inventory

    db = _open(args).db
    actor = _sign_in(args, db)
    with db.sessions.begin() as s:
        if args.formulary_command == "seed":
            from b12desk.data.reference import formulary

            count = inventory.seed_formulary(s, actor, [e.product_values() for e in formulary()])
            print(f"Loaded {count} product(s) from the seed formulary.")
            return 0
        if args.formulary_command == "alerts":
            alerts = inventory.alerts(s, actor)
            print(alerts.summary())
            for band, lots in sorted(alerts.expiring.items()):
                for lot in lots:
                    when = "EXPIRED" if band == 0 else f"within {band} days"
                    print(f"  lot {lot.lot_number}: expiry {lot.expiry} ({when}), {lot.quantity} on hand")
            for v in alerts.vials_past_discard_by:
                print(f"  vial {v.id} (lot {v.lot_number}): discard-by {v.discard_by:%Y-%m-%d %H:%M} passed")
            for p in alerts.below_reorder:
                print(f"  {p.label}: {p.sealed_usable} usable, reorder level {p.data.reorder_level}")
            return 0
        rows = inventory.list_products(s, actor)
    _print_table(
        ("id", "product", "GTIN", "sealed", "open vials", "open volume"),
        [
            (p.id, p.label, p.data.gtin or "", p.sealed_usable, p.open_vials, format_ml(p.open_ml))
            for p in rows
        ],
    )
    return 0


def _site(text: str | None) -> Any:
    from b12desk.domain.enums import InjectionSite

    if text is None:
        return None
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    words = key.split("_")
    if words and words[0] in ("left", "right"):  # "left ventrogluteal"
        key = "_".join([*words[1:], words[0]])
    try:
        return InjectionSite(key)
    except ValueError:
        names = ", ".join(s.value for s in InjectionSite)
        raise CliError(f"'{text}' is not an injection site; use one of {names}.") from None


def _when(text: str | None, clock: Any, option: str = "--at") -> Any:
    """ "YYYY-MM-DD HH:MM" in clinic time (a date alone is its midnight; ISO 8601 with an offset is
    taken as written); None for now."""
    from datetime import datetime
    from datetime import time as clock_time

    from b12desk.domain.dates import DateTextError, read_date_time

    if text is None:
        return None
    try:
        day, at = read_date_time(text, what=option)
    except DateTextError as exc:
        try:
            moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1))  # with an offset
        except ValueError:
            raise CliError(str(exc)) from None
        return moment.replace(tzinfo=clock.zone) if moment.tzinfo is None else moment
    return datetime.combine(day, at or clock_time(), tzinfo=clock.zone)


def _acknowledgements(codes: list[str], reasons: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    if len(reasons) == 1:
        reasons = reasons * len(codes)
    if len(reasons) != len(codes):
        raise CliError("Give one --reason for each --acknowledge (or one reason for all of them).")
    return dict(zip(codes, reasons, strict=True))


def _finding_json(f: Any) -> dict[str, str]:
    return {"code": f.code, "kind": f.severity.value, "field": f.field, "message": f.message}


def cmd_dose(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from b12desk.data.models import Lot, Product
    from b12desk.domain.enums import AdministrationOutcome, Route
    from b12desk.domain.units import QuantityError, format_mcg, format_ml, parse_dose_mcg
    from b12desk.services import administrations, clinic, patients

    db = _open(args).db
    actor = _sign_in(args, db)
    with db.sessions.begin() as s:
        clock = clinic.clinic_clock(s)
        if args.dose_command == "correct":
            return _dose_correct(args, s, actor, clock)
        found = patients.find_patient_by_mrn(s, actor, args.patient)
        if found is None:
            raise CliError(f"No patient with MRN {args.patient.upper()}.")
        if args.dose_command == "list":
            rows = administrations.patient_administrations(s, actor, found.id)
            if args.json:
                print(json.dumps([_jsonable(asdict(r)) for r in rows], indent=1, default=str))
                return 0
            _print_table(
                ("id", "given", "dose", "volume", "site", "outcome", "status", "by"),
                [
                    (
                        r.id,
                        clock.local(r.given_at).strftime("%Y-%m-%d %H:%M"),
                        format_mcg(r.dose_mcg),
                        format_ml(r.volume_ml),
                        r.site.value if r.site else "",
                        r.outcome.value + (" elsewhere" if r.external else ""),
                        r.status.value.replace("_", " "),
                        r.given_by,
                    )
                    for r in rows
                ],
            )
            return 0
        try:
            dose = parse_dose_mcg(args.dose)
        except QuantityError as exc:
            raise CliError(str(exc)) from None
        product_id = None
        if args.product:
            text = args.product.strip()
            if text.isdigit():
                by = Product.gtin == text.zfill(14) if len(text) > 9 else Product.id == int(text)
                product_id = s.scalar(select(Product.id).where(by))
            if product_id is None:
                raise CliError(f"No product '{text}': give its id or GTIN (see b12desk formulary list).")
        lot_id = None
        if args.lot:
            if product_id is None:
                raise CliError("Name the --product whose lot this is.")
            lot_id = s.scalar(select(Lot.id).where(Lot.product_id == product_id, Lot.lot_number == args.lot))
            if lot_id is None:
                raise CliError(f"Lot {args.lot} of product {product_id} has not been received.")
        request = administrations.DoseRequest(
            patient_id=found.id,
            dose_mcg=dose,
            site=_site(args.site),
            product_id=product_id,
            lot_id=lot_id,
            vial_id=args.vial,
            given_at=_when(args.at, clock),
            route=Route(args.route) if args.route else None,
            outcome=AdministrationOutcome(args.outcome),
            note=args.note,
        )
        acknowledged = _acknowledgements(args.acknowledge, args.reason)
        if args.dose_command == "check":
            check = administrations.check_dose(s, actor, request)
            _print_check(args, check, clock)
            return 1 if check.hard_stops else 0
        try:
            row = administrations.record_dose(
                s,
                actor,
                request,
                acknowledged=acknowledged,
                password=os.environ.get(PASSWORD_ENV) if acknowledged else None,
            )
        except administrations.DoseRefused as exc:
            check = administrations.check_dose(s, actor, request)
            _print_check(args, check, clock, refused=True)
            if not check.hard_stops and exc.unacknowledged:
                codes = " ".join(f"--acknowledge {f.code}" for f in exc.unacknowledged)
                print(f"To save it, accept each warning: {codes} --reason '...'", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(_jsonable(asdict(row)), indent=1, default=str))
    else:
        print(
            f"Recorded dose {row.id}: {format_mcg(row.dose_mcg)} ({format_ml(row.volume_ml)}) "
            f"{row.route.value.upper()} {row.site.value if row.site else ''} at "
            f"{clock.local(row.given_at):%Y-%m-%d %H:%M} by {row.given_by}."
        )
    return 0


def _print_check(args: argparse.Namespace, check: Any, clock: Any, *, refused: bool = False) -> None:
    from b12desk.domain.units import format_mcg, format_ml, format_strength

    if args.json:
        print(
            json.dumps(
                {
                    "saved": False if refused else None,
                    "can_save": not check.hard_stops,
                    "plan": check.plan_id,
                    "given_at": clock.local(check.given_at).isoformat(),
                    "expected": None
                    if check.expected is None
                    else {
                        "phase": check.expected.phase_kind.value,
                        "number": check.expected.number,
                        "dose_mcg": _decimal_text(check.expected.dose_mcg),
                        "min_interval_days": check.expected.min_interval_days,
                    },
                    "volume_ml": None if check.volume_ml is None else _decimal_text(check.volume_ml),
                    "findings": [_finding_json(f) for f in check.findings],
                },
                indent=1,
            )
        )
        return
    out = sys.stderr if refused else sys.stdout
    if check.expected is not None:
        volume = ""
        if check.volume_ml is not None and check.strength_mcg_per_ml is not None:
            volume = f" = {format_ml(check.volume_ml)} of {format_strength(check.strength_mcg_per_ml)}"
        print(
            f"Expected: {check.expected.describe()}, {format_mcg(check.expected.dose_mcg)}{volume}", file=out
        )
    if not check.findings:
        print("No findings: the dose can be saved.", file=out)
    for f in check.findings:
        print(f"{'STOP   ' if f.blocks else 'WARNING'} [{f.code}] {f.message}", file=out)
    if refused:
        print("Nothing was saved.", file=out)


def _dose_correct(args: argparse.Namespace, s: Any, actor: Any, clock: Any) -> int:
    from b12desk.services import administrations

    if args.entered_in_error:
        if args.site or args.at or args.note is not None:
            raise CliError("--entered-in-error marks the whole record: give no --site, --at or --note.")
        row, stock = administrations.mark_entered_in_error(
            s, actor, args.id, reason=args.reason, password=_password("Password: ", PASSWORD_ENV)
        )
        print(f"Dose record {row.id} marked entered in error; {stock}.")
        return 0
    if not (args.site or args.at or args.note is not None):
        raise CliError("Say what to correct: --site, --at or --note (or --entered-in-error).")
    kwargs: dict[str, Any] = {}
    if args.site:
        kwargs["site"] = _site(args.site)
    row = administrations.amend_administration(
        s, actor, args.id, reason=args.reason, given_at=_when(args.at, clock), note=args.note, **kwargs
    )
    print(f"Dose record {args.id} corrected; the corrected record is {row.id}.")
    return 0


def cmd_due(args: argparse.Namespace) -> int:
    from b12desk.services import clinic, monitoring

    names = [*(["overdue"] if args.overdue else []), *(["lapsed"] if args.lapsed else [])]
    names += [n.replace("-", "_") for n in args.lists if n.replace("-", "_") not in names]
    wanted = [monitoring.Worklist(n) for n in (names or ["today"])]
    db = _open(args).db
    actor = _sign_in(args, db)
    with db.sessions.begin() as s:
        today = args.date or clinic.clinic_clock(s).today()
        lists = {name: monitoring.worklist(s, actor, name, today=today) for name in wanted}
    if args.json:
        _print_json_rows([_work_item_json(item, today) for rows in lists.values() for item in rows])
        return 0
    for n, (name, rows) in enumerate(lists.items()):
        if n:
            print()
        print(f"{monitoring.WORKLIST_TITLES[name]} on {today.isoformat()}: {len(rows)}")
        if not rows:
            continue
        _print_table(
            ("patient", "MRN", "born", "what", "due", "window ends", "why"),
            [
                (
                    f"{r.family_name}, {r.given_name}",
                    r.mrn,
                    r.date_of_birth.isoformat(),
                    r.label,
                    r.due_on.isoformat() if r.due_on else "",
                    r.window_end.isoformat() if r.window_end else "",
                    ("OVERDUE " if r.overdue(today) and name != monitoring.Worklist.OVERDUE else "")
                    + r.detail,
                )
                for r in rows
            ],
        )
    return 0


def _work_item_json(r: Any, today: date) -> dict[str, Any]:
    return {
        "worklist": r.worklist.value,
        "patient_id": r.patient_id,
        "mrn": r.mrn,
        "family_name": r.family_name,
        "given_name": r.given_name,
        "date_of_birth": r.date_of_birth.isoformat(),
        "plan_id": r.plan_id,
        "event_id": r.event_id,
        "kind": r.kind.value if r.kind else None,
        "what": r.label,
        "due_on": r.due_on.isoformat() if r.due_on else None,
        "window_end": r.window_end.isoformat() if r.window_end else None,
        "overdue": r.overdue(today),
        "since": r.since.isoformat() if r.since else None,
        "why": r.detail,
    }


def cmd_export(args: argparse.Namespace) -> int:
    from b12desk.cli_export import cmd_export as export

    return export(args)


def cmd_report(args: argparse.Namespace) -> int:
    from b12desk.cli_report import cmd_report as report

    return report(args)


def cmd_user(args: argparse.Namespace) -> int:
    from b12desk.cli_users import cmd_user as user

    return user(args)


def cmd_passwd(args: argparse.Namespace) -> int:
    from b12desk.cli_users import cmd_passwd as passwd

    return passwd(args)


def cmd_labels(args: argparse.Namespace) -> int:
    from b12desk.cli_labels import cmd_labels as labels

    return labels(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "due": cmd_due,
    "labels": cmd_labels,
    "passwd": cmd_passwd,
    "export": cmd_export,
    "report": cmd_report,
    "schedule": cmd_schedule,
    "scan": cmd_scan,
    "formulary": cmd_formulary,
    "db": cmd_db,
    "user": cmd_user,
    "patient": cmd_patient,
    "import": cmd_import,
    "demo-data": cmd_demo_data,
    "dose": cmd_dose,
}


def password_in_url_warning(url: str | None) -> str:
    """A password typed into --db is in the process list, readable by every user of the computer."""
    if not url:
        return ""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        password = make_url(url).password
    except ArgumentError:
        return ""  # said properly when the address is used
    if not password:
        return ""
    return (
        "the password in --db can be read by every user of this computer while b12desk runs (it is in "
        "the process list). Put the address in the B12DESK_DATABASE_URL environment variable instead, or "
        "leave the password out and keep it in a PostgreSQL password file (~/.pgpass) or service file "
        "(~/.pg_service.conf)."
    )


def main(argv: Sequence[str] | None = None) -> int:
    t0 = time.time()
    os.environ.setdefault("B12DESK_T0", str(t0))
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from b12desk import __version__

        print(f"b12desk {__version__}")
        return 0
    from sqlalchemy.exc import SQLAlchemyError

    from b12desk.data.audit_key import AuditKeyError
    from b12desk.data.db import UnsupportedDatabase
    from b12desk.services.common import ServiceError, ValidationFailed

    warning = password_in_url_warning(getattr(args, "db", None))
    if warning:
        print(f"b12desk: warning: {warning}", file=sys.stderr)
    try:
        handler = COMMANDS.get(args.command or "", cmd_gui)
        return handler(args)
    except CliError as exc:
        print(f"b12desk: {exc}", file=sys.stderr)
        return exc.code
    except ValidationFailed as exc:
        for message in exc.errors.values():
            print(f"b12desk: {message}", file=sys.stderr)
        return 1
    except (ServiceError, UnsupportedDatabase) as exc:
        print(f"b12desk: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    except AuditKeyError as exc:  # a save refused, whole: this computer cannot sign the audit trail
        print(f"b12desk: {exc.refused_save}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        from b12desk.data.db import BUSY_MESSAGE, is_busy, read_only_message

        if read_only := read_only_message(exc):
            print(f"b12desk: {read_only}", file=sys.stderr)
            return 1
        if is_busy(exc):
            print(f"b12desk: {BUSY_MESSAGE}", file=sys.stderr)
            return 2
        print(f"b12desk: database error: {getattr(exc, 'orig', None) or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head or less that closed early
        sys.stderr.close()
        return 0
    finally:
        _record_audit_heads()


_OPENED: list[Any] = []  # the databases this command opened, whose audit head is recorded on exit


def _record_audit_heads() -> None:
    """The audit chain's head, signed, outside the database: `db check` then sees a chain cut short."""
    if not _OPENED:
        return  # a command that opened no database loads none of this
    from sqlalchemy.exc import SQLAlchemyError

    from b12desk.data.audit_head import write_head
    from b12desk.data.audit_key import AuditKeyError

    while _OPENED:
        db = _OPENED.pop()
        try:
            write_head(db)
        except (OSError, SQLAlchemyError, AuditKeyError) as exc:
            print(f"b12desk: warning: the audit head was not recorded ({exc})", file=sys.stderr)
