"""`b12desk labels KIND ... -o FILE.pdf`: syringe, opened-vial, dose-card and lot or shelf labels as a PDF."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

from b12desk.cli import CliError, _common, _open, _sign_in

# The layouts of b12desk.exports.labels.LAYOUTS, named here so --help loads no reportlab (a test checks).
LAYOUT_NAMES = ("a4-21", "letter-30", "roll-57x32")
KINDS = {
    "syringe": "the syringe of a recorded dose: patient, MRN, drug, dose in mcg and mL, route, site, time",
    "vial": "an opened multi-dose vial: product, lot, opened, discard-by, opened by",
    "card": "a patient's dose card: cause, schedule, next appointments and checks, the clinic's phone",
    "lot": "a lot's label with its GS1 DataMatrix, or a product's shelf label with its GS1-128 barcode",
}


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number.") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more.")
    return value


def add_labels_parser(sub: Any) -> argparse.ArgumentParser:
    """Add `labels` and its kinds to the top-level subparsers."""
    text = "print labels to a PDF: syringe, opened vial, patient dose card, lot or shelf"
    p: argparse.ArgumentParser = sub.add_parser("labels", help=text, description=text)
    _common(p)
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, help_text in KINDS.items():
        k = kinds.add_parser(kind, help=help_text, description=help_text)
        _common(k)
        if kind == "syringe":
            k.add_argument(
                "--administration",
                metavar="ID",
                type=int,
                action="append",
                required=True,
                help="the dose record's id (see `b12desk dose list`); repeat for more",
            )
        elif kind == "vial":
            k.add_argument(
                "--vial",
                metavar="ID",
                type=int,
                action="append",
                required=True,
                help="the opened vial's id; repeat for more",
            )
        elif kind == "card":
            k.add_argument(
                "--patient",
                metavar="MRN",
                action="append",
                required=True,
                help="the patient's MRN; repeat for more",
            )
        else:
            which = k.add_mutually_exclusive_group(required=True)
            which.add_argument("--lot", metavar="ID", type=int, action="append", help="a lot's id")
            which.add_argument(
                "--product", metavar="ID", type=int, action="append", help="a product's id, for a shelf label"
            )
        k.add_argument(
            "-o", "--output", metavar="FILE.pdf", required=True, type=Path, help="the PDF to write"
        )
        k.add_argument(
            "--layout",
            choices=LAYOUT_NAMES,
            default="a4-21",
            help="a4-21: A4 sheet of 21 (63.5 x 38.1 mm); letter-30: US Letter sheet of 30 "
            "(2.625 x 1 in); roll-57x32: one 57 x 32 mm label a page (default: a4-21)",
        )
        k.add_argument(
            "--start",
            metavar="N",
            type=_positive,
            default=1,
            help="the first free position on a partly used sheet, 1 = top-left, along the rows",
        )
        k.add_argument("--copies", metavar="N", type=_positive, default=1, help="copies of each label")
    return p


def _gather(args: argparse.Namespace, session: Any, actor: Any) -> list[Any]:
    from b12desk.services import label_data, patients

    if args.kind == "syringe":
        return [label_data.syringe_label(session, actor, i) for i in args.administration]
    if args.kind == "vial":
        return [label_data.vial_label(session, actor, i) for i in args.vial]
    if args.kind == "card":
        cards = []
        for mrn in args.patient:
            found = patients.find_patient_by_mrn(session, actor, mrn)
            if found is None:
                raise CliError(f"No patient with MRN {mrn.upper()}.")
            cards.append(label_data.dose_card(session, actor, found.id))
        return cards
    if args.lot:
        return [label_data.lot_label(session, actor, i) for i in args.lot]
    return [label_data.shelf_label(session, actor, i) for i in args.product]


def cmd_labels(args: argparse.Namespace) -> int:
    """Gather the labels, draw them into memory, then write the file: a refusal leaves no half-made PDF."""
    from b12desk.exports.labels import LAYOUTS, LabelError, check_start, write_labels
    from b12desk.services.common import ServiceError

    output: Path = args.output
    try:
        layout = LAYOUTS[args.layout]
        check_start(layout, args.start)
        if output.is_dir():
            raise CliError(f"{output} is a folder: give a file name such as labels.pdf.")
        if not output.parent.is_dir():
            raise CliError(f"Cannot write {output}: the folder {output.parent} does not exist.")
        db = _open(args).db
        actor = _sign_in(args, db)
        with db.sessions.begin() as s:
            labels = _gather(args, s, actor)
        labels = [label for label in labels for _ in range(args.copies)]
        buffer = io.BytesIO()
        pages = write_labels(buffer, labels, layout, start=args.start, title=f"b12desk {args.kind} labels")
        try:
            output.write_bytes(buffer.getvalue())
        except OSError as exc:
            raise CliError(f"Cannot write {output}: {exc.strerror or exc}.") from None
    except (CliError, ServiceError, LabelError) as exc:
        print(f"b12desk: {exc}", file=sys.stderr)
        return getattr(exc, "code", 1)
    where = f", from position {args.start}" if args.start > 1 else ""
    print(f"Wrote {len(labels)} label(s) on {pages} page(s) to {output} ({layout.title}{where}).")
    return 0
