"""The streaming writer: text that looks like a formula is stored as text and comes back unchanged."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from b12desk.exports import xlsx
from b12desk.exports.xlsx import Column, ColumnType

FORMULA_LIKE = [
    '=HYPERLINK("http://evil.example","Click")',
    "=1+2",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+2",
    "\r=1+2",
    "=",
]

# Roster text as a CSV import may hold it: any text, often starting as a formula would.
texts = st.one_of(
    st.text(),
    st.builds(lambda start, rest: start + rest, st.sampled_from(sorted(xlsx.FORMULA_STARTS)), st.text()),
    st.sampled_from(FORMULA_LIKE),
)


def _round_trip(values: list[str]) -> list[tuple[object, str, bool]]:
    """Written through SheetWriter (text and mixed columns), read back: (value, data_type, quotePrefix)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.xlsx"
        wb = xlsx.new_workbook()
        sheet = xlsx.SheetWriter(wb, "T", [Column("Text"), Column("Mixed", ColumnType.MIXED)])
        for value in values:
            sheet.append((value, value))
        sheet.close()
        wb.save(path)
        ws = load_workbook(path)["T"]
        return [(c.value, c.data_type, bool(c.quotePrefix)) for row in ws.iter_rows(min_row=2) for c in row]


@settings(derandomize=True, max_examples=200)
@given(st.lists(texts, min_size=1, max_size=5))
@example(FORMULA_LIKE)
@example(["_x0041_ stays as typed", "a\r\nb", "  spaces  ", "\x00\x1f control"])
def test_text_is_stored_as_text_and_round_trips(values: list[str]) -> None:
    cells = _round_trip(values)
    expected = [xlsx.clean_text(v) for v in values for _ in range(2)]
    for (value, data_type, quoted), text in zip(cells, expected, strict=True):
        if text == "":
            assert value is None  # an empty cell
            continue
        assert data_type == "s", f"{text!r} was stored as {data_type!r}"
        assert value == text
        assert quoted == xlsx.needs_guard(text), "formula-like text carries Excel's quote prefix"


def test_formula_like_text_is_never_a_formula() -> None:
    for value, data_type, quoted in _round_trip(FORMULA_LIKE):
        assert data_type == "s" and quoted
        assert isinstance(value, str) and value[0] in xlsx.FORMULA_STARTS


def test_characters_xml_cannot_hold_are_replaced_and_long_text_cut() -> None:
    assert xlsx.clean_text("a\x00b\x1fc\td") == "a\ufffdb\ufffdc\td"
    long = "x" * 40_000
    assert len(xlsx.clean_text(long)) == xlsx.EXCEL_MAX_TEXT
