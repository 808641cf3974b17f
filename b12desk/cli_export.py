"""`b12desk export KIND --from DATE --to DATE -o FILE.xlsx`: the Excel reports from the command line, for
managers' scheduled exports. b12desk.cli adds the parser (add_export_parser) and calls cmd_export."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

# Kept here so that --help needs no import of the services (services.reports.ReportKind has the same).
KINDS: dict[str, str] = {
    "administrations": "every dose record of the period",
    "due": "patients due, overdue and lapsed on the --to day",
    "inventory": "lots holding stock, in expiry buckets as of the --to day",
    "wastage": "stock wasted in the period, by reason",
    "usage": "doses given per product and month",
    "nurse-activity": "what each staff member recorded in the period",
}
DEFAULT_DAYS = 30  # the period when --from is not given: the 30 days ending on --to


def add_export_parser(sub: Any) -> argparse.ArgumentParser:
    """The `export` command, on the subparsers of b12desk.cli.build_parser."""
    from b12desk.cli import _common

    text = "write an Excel report (.xlsx): " + ", ".join(KINDS)
    kinds = "; ".join(f"{name}: {what}" for name, what in KINDS.items())
    p: argparse.ArgumentParser = sub.add_parser(
        "export", help=text, description=f"{text}. Needs a manager or administrator account."
    )
    _common(p)
    p.add_argument("kind", metavar="KIND", help=kinds)
    p.add_argument(
        "--from",
        dest="start",
        metavar="DATE",
        help=f"first clinic day, YYYY-MM-DD (default {DEFAULT_DAYS - 1} days before --to)",
    )
    p.add_argument("--to", dest="end", metavar="DATE", help="last clinic day, YYYY-MM-DD (default today)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.xlsx", help="the workbook to write")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def _date(text: str | None, option: str) -> date | None:
    from b12desk.cli import CliError
    from b12desk.domain.dates import DateTextError, read_date

    if text is None:
        return None
    try:
        return read_date(text, what=option)
    except DateTextError as exc:
        raise CliError(str(exc), code=2) from None


def _output(text: str) -> Path:
    from b12desk.cli import CliError

    path = Path(text).expanduser()
    if path.suffix.lower() != ".xlsx":
        raise CliError(f"-o {text}: give a file name ending in .xlsx.", code=2)
    return path


def _progress(quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return None

    def show(done: int, total: int | None) -> bool:
        of = f" of {total:,}" if total else ""
        print(f"\r{done:,}{of} rows", end="", file=sys.stderr, flush=True)
        return True

    return show


def _export(args: argparse.Namespace) -> int:
    from b12desk.cli import CliError, _open, _sign_in
    from b12desk.exports.workbooks import export_workbook
    from b12desk.services import clinic, reports

    names = ", ".join(KINDS)
    kind_text = (args.kind or "").strip().lower().replace("_", "-")
    if kind_text not in KINDS:
        raise CliError(f"'{args.kind}' is not a report; use one of {names}.", code=2)
    kind = reports.ReportKind(kind_text)
    start, end = _date(args.start, "--from"), _date(args.end, "--to")
    path = _output(args.output)
    db = _open(args).db
    actor = _sign_in(args, db)
    with db.readers() as s:  # a long read: a deferred BEGIN, so nobody's writes wait behind it
        reports.authorize(s, actor)
        end = end or clinic.clinic_clock(s).today()
        start = start or end - timedelta(days=DEFAULT_DAYS - 1)
        parameters = reports.ReportParameters(start, end).validated()
        progress = _progress(args.quiet)
        result = export_workbook(kind, s, actor, parameters, path, progress=progress, audit=False)
        if progress is not None:
            print(file=sys.stderr)
    with db.sessions.begin() as s:
        reports.record_export(s, actor, kind, parameters, rows=result.rows, file_name=path.name)
    if not args.quiet:
        when = (
            f"on {end.isoformat()}"
            if kind in reports.AS_OF_KINDS
            else f"from {start.isoformat()} to {end.isoformat()}"
        )
        print(f"Wrote {reports.REPORT_TITLES[kind]} {when}: {result.rows:,} rows to {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Run the export; every expected failure is a message on stderr and an exit code, never a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from b12desk.cli import CliError
    from b12desk.data.db import UnsupportedDatabase
    from b12desk.services.common import ServiceError, ValidationFailed

    try:
        return _export(args)
    except CliError as exc:
        print(f"b12desk: {exc}", file=sys.stderr)
        return exc.code
    except ValidationFailed as exc:
        for message in exc.errors.values():
            print(f"b12desk: {message}", file=sys.stderr)
        return 1
    except (ServiceError, UnsupportedDatabase) as exc:
        print(f"b12desk: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        from b12desk.data.db import BUSY_MESSAGE, is_busy

        if is_busy(exc):
            print(f"b12desk: {BUSY_MESSAGE}", file=sys.stderr)
            return 2
        print(f"b12desk: database error: {getattr(exc, 'orig', None) or exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the disk filled while the workbook's sheets were being streamed
        print(f"b12desk: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m b12desk.cli_export export ...`, until b12desk.cli offers the command itself."""
    parser = argparse.ArgumentParser(prog="b12desk")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_export_parser(sub)
    return cmd_export(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
