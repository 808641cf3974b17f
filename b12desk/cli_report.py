"""`b12desk report patient MRN -o FILE.pdf`: a patient's treatment record as a PDF (plans and their
verification, every dose with site, lot and nurse, corrections struck through with their reason, labs with
trend charts, signature lines). The export is audited; a refusal or a failure leaves no file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from b12desk.cli import CliError, _common, _open, _sign_in


def add_report_parser(sub: Any) -> argparse.ArgumentParser:
    """Add `report` and its kinds to the top-level subparsers."""
    text = "print a report to a PDF: a patient's treatment record"
    p: argparse.ArgumentParser = sub.add_parser("report", help=text, description=text)
    _common(p)
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    help_text = (
        "a patient's treatment record: plans and their verification, every dose with site, lot and nurse, "
        "corrections struck through with their reason, labs with trend charts, signature lines"
    )
    k = kinds.add_parser("patient", help=help_text, description=help_text)
    _common(k)
    k.add_argument("mrn", metavar="MRN", help="the patient's MRN")
    k.add_argument("-o", "--output", metavar="FILE.pdf", required=True, type=Path, help="the PDF to write")
    k.add_argument(
        "--signer",
        metavar="NAME",
        default=None,
        help="the name printed on the first signature line (default: the signed-in user's full name)",
    )
    return p


def cmd_report(args: argparse.Namespace) -> int:
    """Gather the record and write the PDF in one transaction: the audit event of the export is kept only
    when the file was written."""
    from b12desk.exports.patient_report import write_patient_record
    from b12desk.services import patients
    from b12desk.services.common import ServiceError
    from b12desk.services.patient_record import patient_record

    output: Path = args.output
    try:
        if output.is_dir():
            raise CliError(f"{output} is a folder: give a file name such as record.pdf.")
        if not output.parent.is_dir():
            raise CliError(f"Cannot write {output}: the folder {output.parent} does not exist.")
        db = _open(args).db
        actor = _sign_in(args, db)
        with db.sessions.begin() as s:
            found = patients.find_patient_by_mrn(s, actor, args.mrn)
            if found is None:
                raise CliError(f"No patient with MRN {args.mrn.strip().upper()}.")
            record = patient_record(s, actor, found.id)
            signer = args.signer if args.signer is not None else actor.full_name
            pages = write_patient_record(output, record, signer=signer or None)
    except (CliError, ServiceError) as exc:
        print(f"b12desk: {exc}", file=sys.stderr)
        return getattr(exc, "code", 1)
    print(
        f"Wrote the treatment record of {record.patient.name} ({record.patient.mrn}) on {pages} page(s) "
        f"to {output}: {len(record.doses)} dose record(s), {len(record.labs)} laboratory result(s)."
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m b12desk.cli_report report patient MRN -o FILE.pdf --user NAME`, until cli.py adds it."""
    parser = argparse.ArgumentParser(prog="b12desk")
    add_report_parser(parser.add_subparsers(dest="command", required=True))
    return cmd_report(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
