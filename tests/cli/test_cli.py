"""The command line end to end on a real SQLite file: set-up, sign-in, import, integrity check."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from unittest import mock

import pytest

from b12desk.cli import main
from tests.clinic_time import clinic_now
from tests.conftest import PASSWORD, Staffing

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def db_url(fresh_db: tuple[object, Staffing], tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'b12desk.sqlite3'}"


def test_first_admin_on_an_empty_database_then_sign_in_required(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    monkeypatch.setenv("B12DESK_NEW_PASSWORD", "a long password")
    assert main(["user", "add", "chief", "--role", "admin", "--db", url]) == 0
    # A second user now needs a signed-in administrator.
    assert main(["user", "add", "nurse1", "--role", "nurse", "--db", url]) == 1
    assert "sign in with --user" in capsys.readouterr().err
    monkeypatch.setenv("B12DESK_PASSWORD", "a long password")
    assert main(["user", "add", "nurse1", "--role", "nurse", "--db", url, "--user", "chief"]) == 0


def test_first_user_must_be_admin(tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("B12DESK_NEW_PASSWORD", "a long password")
    assert main(["user", "add", "n", "--role", "nurse", "--db", f"sqlite:///{tmp_path / 'x.sqlite3'}"]) == 1
    assert "--role admin" in capsys.readouterr().err


def test_patient_commands_need_sign_in(db_url: str, capsys: Capture) -> None:
    assert main(["patient", "list", "--db", db_url]) == 1
    assert "sign in" in capsys.readouterr().err


def test_wrong_password_is_refused_without_traceback(
    db_url: str, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B12DESK_PASSWORD", "wrong")
    assert main(["patient", "list", "--db", db_url, "--user", "nurse"]) == 1
    err = capsys.readouterr().err
    assert "wrong password" in err
    assert "Traceback" not in err


def test_csv_import_reports_bad_lines_and_imports_nothing(
    db_url: str, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text(
        "mrn,family_name,given_name,date_of_birth,cause\n"
        "K1,Adeyemi,Tola,1970-02-03,pernicious_anaemia\n"
        "K2,Brown,,1980-01-01,dietary\n"
        "K3,Chen,Li,03/04/1990,dietary\n"
        "K4,Diaz,Ana,1990-04-03,not a cause\n",
        encoding="utf-8",
    )
    assert main(["import", "patients", str(csv_file), "--db", db_url, "--user", "manager"]) == 1
    out = capsys.readouterr()
    assert "line 3: K2: Enter the given name." in out.err
    assert "line 4: K3: Date of birth: '03/04/1990' is not a date" in out.err
    assert "line 5: K4: Cause of deficiency: 'not a cause'" in out.err
    assert "Nothing was imported" in out.out
    assert main(["patient", "list", "--db", db_url, "--user", "manager"]) == 0
    assert "0 patient(s)" in capsys.readouterr().out

    assert (
        main(["import", "patients", str(csv_file), "--db", db_url, "--user", "manager", "--only-good-rows"])
        == 0
    )
    assert "Imported 1 patient(s)." in capsys.readouterr().out
    assert main(["patient", "list", "--db", db_url, "--user", "manager", "--search", "adeyemi"]) == 0
    assert "K1" in capsys.readouterr().out


def test_patient_show_and_list_read_as_words_and_their_json_is_unchanged(
    db_url: str, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text(
        "mrn,family_name,given_name,date_of_birth,sex,cause,presentation,neuro_involvement,neuro_symptoms,"
        "flag_lebers_disease,flag_cobalt_allergy,address\n"
        "S1,Okafor,Grace,1961-04-09,female,pernicious_anaemia,deficiency_with_anaemia,yes,paraesthesia,yes,yes,"
        '"1 High Street\nRedwater"\n',
        encoding="utf-8",
    )
    assert main(["import", "patients", str(csv_file), "--db", db_url, "--user", "manager"]) == 0
    capsys.readouterr()
    assert main(["patient", "show", "s1", "--db", db_url, "--user", "nurse"]) == 0
    out = capsys.readouterr().out
    record = out.split("\n\nLabs")[0]
    for raw in ("pernicious_anaemia", "deficiency_with_anaemia", "False", "True", "None", "flag_", "_"):
        assert raw not in record, raw
    lines = dict(re.findall(r"^([A-Z][^:\n]*(?:: counsel)?):\s+(.*)$", record, re.MULTILINE))
    assert lines["MRN"] == "S1" and lines["Family name"] == "Okafor"
    assert lines["Date of birth"] == "1961-04-09"
    assert lines["Sex"] == "Female"
    assert lines["Cause of deficiency"] == "Pernicious anaemia"
    assert lines["What is treated"] == "Deficiency with anaemia"
    assert lines["Neurologic involvement"] == "yes" and lines["Pregnant or breastfeeding"] == "no"
    assert lines["Contraindications and cautions"] == "Cobalt allergy: counsel; Leber's disease"
    assert lines["Trained to self-inject on"] == "not trained"
    assert lines["Archived"] == "no"
    assert re.search(r"^Address: +1 High Street\n +Redwater$", record, re.MULTILINE)

    assert main(["patient", "show", "S1", "--json", "--db", db_url, "--user", "nurse"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown) == {"patient", "archived", "labs", "history"} and shown["archived"] is False
    assert (
        shown["patient"]["cause"] == "pernicious_anaemia" and shown["patient"]["flag_lebers_disease"] is True
    )
    assert shown["patient"]["date_of_birth"] == "1961-04-09"
    assert shown["patient"]["self_injection_trained_on"] is None

    assert main(["patient", "list", "--db", db_url, "--user", "nurse"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[2].split() == [
        "S1", "Okafor,", "Grace", "1961-04-09", "Pernicious", "anaemia", "yes", "no", "plan"
    ]  # fmt: skip
    assert main(["patient", "list", "--json", "--db", db_url, "--user", "nurse"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["cause"] == "pernicious_anaemia" and row["neuro_involvement"] is True
    assert row["regimen"] == "" and row["next_due"] is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "There is no file {path}: check the file's name and folder."),
        (b"mrn,family_name\nK1,M\xfcller\n", "roster.csv is not UTF-8 text: save it from the spreadsheet as"),
        (b"", "roster.csv is empty: its first line must be the header row naming the columns"),
        (b"name,born\nGrace,1961\n", "Missing column(s): mrn, family_name, given_name, date_of_birth. The"),
    ],
)
@pytest.mark.parametrize("what", ["patients", "administrations"])
def test_a_file_that_cannot_be_read_is_said_of_the_file_and_offers_no_good_rows(
    db_url: str,
    tmp_path: Path,
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
    content: bytes | None,
    message: str,
    what: str,
) -> None:
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    path = tmp_path / "roster.csv"
    if content is not None:
        path.write_bytes(content)
    if what == "administrations" and "Missing column" in message:
        message = "Missing column(s): mrn, given_at. The first line of roster.csv"
    for extra in ([], ["--dry-run"], ["--only-good-rows"] if what == "patients" else []):
        assert main(["import", what, str(path), "--db", db_url, "--user", "manager", *extra]) == 1
        out = capsys.readouterr()
        assert out.err.startswith("b12desk: " + message.format(path=path)), out.err
        assert not re.search(r"line \d", out.err)
        assert "good row" not in out.out and "--only-good-rows" not in out.out


def test_when_no_row_is_good_nothing_offers_to_import_the_good_rows(
    db_url: str, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    csv_file = tmp_path / "roster.csv"
    csv_file.write_text(
        "mrn,family_name,given_name,date_of_birth,cause\nK1,Adeyemi,Tola,1970-02-30,dietary\nK2,Brown\n",
        encoding="utf-8",
    )
    command = ["import", "patients", str(csv_file), "--db", db_url, "--user", "manager"]
    assert main(command) == 1
    out = capsys.readouterr()
    assert out.err.splitlines() == [
        "line 2: K1: Date of birth: 1970-02-30 is not a date in the calendar (February 1970 has 28 days).",
        "line 3: K2: The row has 2 columns; the header has 5: the row stops after family_name. A comma may "
        "be missing, or a value may hold a line break without double quotes around it (which ends the row "
        "early and starts another): each row needs a value, or an empty one between commas, for every "
        "column.",
    ]
    assert "2 row(s) read, 0 good, 2 line(s) with problems." in out.out
    assert "Nothing was imported: no row is good." in out.out
    assert "--only-good-rows" not in out.out and "0 good row" not in out.out
    assert main([*command, "--only-good-rows"]) == 1
    assert "Nothing was imported: no row is good." in capsys.readouterr().out
    csv_file.write_text("mrn,family_name,given_name,date_of_birth\n", encoding="utf-8")
    assert main(command) == 1
    assert "Nothing to import: the file has its header row but no rows below it." in capsys.readouterr().out
    raw = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    assert raw.execute("SELECT count(*) FROM audit_events WHERE action = 'import'").fetchone() == (0,)
    raw.close()


def test_dry_run_writes_nothing(
    db_url: str, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    csv_file = tmp_path / "ok.csv"
    csv_file.write_text("mrn,family_name,given_name,date_of_birth\nZ9,Ng,Mo,1944-05-06\n", encoding="utf-8")
    assert main(["import", "patients", str(csv_file), "--dry-run", "--db", db_url, "--user", "manager"]) == 0
    assert "Dry run" in capsys.readouterr().out
    assert main(["patient", "list", "--db", db_url, "--user", "manager"]) == 0
    assert "0 patient(s)" in capsys.readouterr().out


def test_template_has_the_expected_header(tmp_path: Path) -> None:
    target = tmp_path / "t.csv"
    assert main(["import", "patients", "--template", str(target)]) == 0
    assert (
        target.read_text(encoding="utf-8")
        .splitlines()[0]
        .startswith("mrn,family_name,given_name,date_of_birth")
    )


def test_nurse_may_not_import(
    db_url: str, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    csv_file = tmp_path / "ok.csv"
    csv_file.write_text("mrn,family_name,given_name,date_of_birth\nZ9,Ng,Mo,1944-05-06\n", encoding="utf-8")
    assert main(["import", "patients", str(csv_file), "--db", db_url, "--user", "nurse"]) == 1
    assert "may not import patients" in capsys.readouterr().err


def test_db_check_names_an_audit_row_changed_by_raw_sql(
    db_url: str, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    csv_file = tmp_path / "ok.csv"
    csv_file.write_text("mrn,family_name,given_name,date_of_birth\nZ9,Ng,Mo,1944-05-06\n", encoding="utf-8")
    assert main(["import", "patients", str(csv_file), "--db", db_url, "--user", "manager"]) == 0
    assert main(["db", "check", "--db", db_url]) == 0
    assert "audit events verified" in capsys.readouterr().out

    raw = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    target = raw.execute("SELECT id FROM audit_events WHERE entity='patient'").fetchone()[0]
    raw.execute(
        "UPDATE audit_events SET new_values = replace(new_values, 'Ng', 'Xx') WHERE id = ?", (target,)
    )
    raw.commit()
    raw.close()
    assert main(["db", "check", "--db", db_url]) == 1
    out = capsys.readouterr().out
    assert f"First broken audit event: {target}" in out
    assert "altered" in out


def test_db_check_catches_a_deleted_audit_row(
    db_url: str, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    csv_file = tmp_path / "ok.csv"
    csv_file.write_text(
        "mrn,family_name,given_name,date_of_birth\nZ9,Ng,Mo,1944-05-06\nZ8,Ng,Al,1944-05-06\n",
        encoding="utf-8",
    )
    assert main(["import", "patients", str(csv_file), "--db", db_url, "--user", "manager"]) == 0
    raw = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    first, second = [
        r[0] for r in raw.execute("SELECT id FROM audit_events WHERE entity='patient' ORDER BY id")
    ]
    raw.execute("DELETE FROM audit_events WHERE id = ?", (first,))
    raw.commit()
    raw.close()
    assert main(["db", "check", "--db", db_url]) == 1
    assert f"First broken audit event: {second}" in capsys.readouterr().out


def test_unreachable_database_gives_a_message(capsys: Capture) -> None:
    code = main(["db", "upgrade", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none"])
    assert code != 0
    err = capsys.readouterr().err
    assert "Cannot open the database" in err
    assert "Traceback" not in err


def test_upgrade_backs_up_an_existing_sqlite_file_before_migrating(tmp_path: Path) -> None:
    from b12desk.data import migrate
    from b12desk.data.db import open_database

    path = tmp_path / "old.sqlite3"
    db = open_database(f"sqlite:///{path}")
    from alembic import command

    cfg = migrate.alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")  # an older schema (an unknown revision is refused before any copy)
    result = migrate.upgrade(db, backup_dir=tmp_path / "backups")
    assert result.from_revision == "0004" and result.backup is not None
    backups = list((tmp_path / "backups").glob("old-*-before-*.sqlite3"))
    assert len(backups) == 1
    check = sqlite3.connect(backups[0])
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    db.dispose()


def test_schedule_lists_templates_and_previews_one(tmp_path: Path, capsys: Capture) -> None:
    import json

    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    assert main(["schedule", "--list", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "uk_hoc_no_neuro" in out and "hydroxocobalamin" in out
    assert (
        main(
            [
                "schedule",
                "uk_hoc_no_neuro",
                "--start",
                "2026-01-05",
                "--until",
                "2026-05-01",
                "--db",
                url,
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert [x["due"] for x in data["doses"]] == [
        "2026-01-05",
        "2026-01-07",
        "2026-01-09",
        "2026-01-12",
        "2026-01-14",
        "2026-01-16",
        "2026-04-16",
    ]
    assert data["template"]["source"].startswith("BNF")
    assert main(["schedule", "uk_hoc_no_neuro", "--start", "2026-01-05", "--db", url]) == 0
    text = capsys.readouterr().out
    assert "1,000 mcg (1 mL of 1,000 mcg/mL)" in text and "µg" not in text
    assert main(["schedule", "nope", "--db", url]) == 1
    assert "b12desk schedule --list" in capsys.readouterr().err


def test_scan_prints_fields_and_refuses_a_bad_check_digit(
    db_url: str, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    assert (
        main(["scan", "]d2010030517003125117270300" + "10LOT42", "--json", "--db", db_url, "--user", "nurse"])
        == 0
    )
    info = json.loads(capsys.readouterr().out)
    assert (info["gtin"], info["expiry"], info["lot"], info["product"]) == (
        "00305170031251",
        "2027-03-31",
        "LOT42",
        None,
    )
    assert main(["scan", "0100305170031252", "--db", db_url, "--user", "nurse"]) == 1
    assert "check digit 2, expected 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "message"),
    [("garbage", "is not a database address"), ("mysql://u@h/db", "SQLite or PostgreSQL, not mysql")],
)
def test_an_unusable_database_address_gets_a_message(url: str, message: str, capsys: Capture) -> None:
    for command in (["db", "upgrade"], ["db", "check"], ["patient", "list"]):
        assert main([*command, "--db", url]) == 1
        err = capsys.readouterr().err
        assert message in err and "sqlite:///" in err and "Traceback" not in err


def test_a_bad_date_says_the_expected_form(capsys: Capture) -> None:
    with pytest.raises(SystemExit):
        main(["schedule", "uk_hoc_no_neuro", "--start", "13/01/2026"])
    assert "'13/01/2026' is not a date; write it as YYYY-MM-DD (e.g. 2026-03-02)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-13-01", "there is no month 13: months run from 01 to 12"),
        ("2026-02-30", "February 2026 has 28 days"),
    ],
)
def test_an_impossible_date_says_so_not_the_form_it_already_has(text: str, why: str, capsys: Capture) -> None:
    with pytest.raises(SystemExit):
        main(["schedule", "uk_hoc_no_neuro", "--until", text])
    err = capsys.readouterr().err
    assert f"argument --until: {text} is not a date in the calendar ({why})." in err
    assert "YYYY-MM-DD" not in err


def test_dose_times_are_read_in_clinic_time_and_an_impossible_one_says_why() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from b12desk.cli import CliError, _when
    from b12desk.clock import Clock

    zone = ZoneInfo("Europe/London")
    clock = Clock(zone)
    assert _when("2026-03-02 09:30", clock) == datetime(2026, 3, 2, 9, 30, tzinfo=zone)
    assert _when("2026-03-02T09:30+01:00", clock).utcoffset().total_seconds() == 3600
    with pytest.raises(CliError) as caught:
        _when("2026-02-30 10:00", clock)
    assert str(caught.value) == "--at: 2026-02-30 is not a date in the calendar (February 2026 has 28 days)."
    with pytest.raises(CliError, match=r"^--at: 'yesterday' is not a date; write YYYY-MM-DD"):
        _when("yesterday", clock)


# --- doses from the command line, on the demo database --------------------------------------------------


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A demo clinic (demo users, password "demo") in a file of its own, shared by the dose tests."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    with mock.patch.dict(os.environ, {"B12DESK_PASSWORD": "demo"}):
        argv = ["demo-data", "--demo", "--db", url, "--user", "admin", "--patients", "80", "--years", "1"]
        assert main([*argv, "--seed", "4"]) == 0
    return url


def _demo_candidates(url: str) -> list[tuple[str, int, str]]:
    """(MRN, product id, lot number) of active hydroxocobalamin plans and an in-date ampoule lot."""
    raw = sqlite3.connect(url.removeprefix("sqlite:///"))
    lot = raw.execute(
        "SELECT l.product_id, l.lot_number FROM lots l JOIN products p ON p.id = l.product_id "
        "WHERE p.container = 'ampoule' AND l.quantity_on_hand > 0 AND l.expiry >= date('now', '+2 day') "
        "ORDER BY l.expiry LIMIT 1"
    ).fetchone()
    mrns = [
        r[0]
        for r in raw.execute(
            "SELECT pa.mrn FROM treatment_plans t JOIN patients pa ON pa.id = t.patient_id "
            "WHERE t.status = 'active' AND t.formulation = 'hydroxocobalamin' AND NOT pa.archived "
            "AND NOT pa.flag_b12_hypersensitivity ORDER BY pa.mrn"
        )
    ]
    raw.close()
    return [(mrn, lot[0], lot[1]) for mrn in mrns]


def test_dose_check_json_and_record_on_the_demo_database(
    demo_db: str, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setenv("B12DESK_PASSWORD", "demo")
    base = ["--db", demo_db, "--user", "nurse"]
    chosen = None
    for mrn, product, lot in _demo_candidates(demo_db):
        args = ["dose", "check", "--patient", mrn, "--product", str(product), "--lot", lot]
        code = main([*args, "--dose", "1,000 mcg", "--site", "left ventrogluteal", "--json", *base])
        report = json.loads(capsys.readouterr().out)
        assert code == (1 if any(f["kind"] == "hard_stop" for f in report["findings"]) else 0)
        if code == 0 and not report["findings"]:
            chosen = (mrn, product, lot, report)
            break
    assert chosen is not None, "no demo patient can have a dose now"
    mrn, product, lot, report = chosen
    assert report["can_save"] and report["volume_ml"] == "1" and report["expected"]["dose_mcg"] == "1000"

    # One fact wrong at a time: each refused with its message, nothing saved.
    common = ["--patient", mrn, "--product", str(product), "--lot", lot, "--site", "ventrogluteal_left"]
    assert main(["dose", "record", *common, "--dose", "1 mcg", *base]) == 1
    err = capsys.readouterr().err
    assert "[dose_mismatch]" in err and "check mcg against mg" in err and "Nothing was saved." in err
    assert main(["dose", "record", *common, "--dose", "0,5 mg", *base]) == 1
    assert "write decimals with a point" in capsys.readouterr().err
    assert main(["dose", "record", *common, "--dose", "1 mg", "--at", "2999-01-01 10:00", *base]) == 1
    assert "[time_in_future]" in capsys.readouterr().err
    assert main(["dose", "record", *common[:6], "--site", "dorsogluteal_left", "--dose", "1 mg", *base]) == 1
    assert "[site_disabled]" in capsys.readouterr().err
    assert main(["dose", "record", *common, "--dose", "1 mg", "--site", "elbow", *base]) == 1
    assert "is not an injection site" in capsys.readouterr().err

    assert main(["dose", "record", *common, "--dose", "1 mg", *base]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Recorded dose ") and "1,000 mcg (1 mL) IM ventrogluteal_left" in out
    dose_id = int(out.split()[2].rstrip(":"))
    # The same day again: a hard stop.
    assert main(["dose", "check", *common, "--dose", "1 mg", *base]) == 1
    assert "[second_dose_same_day]" in capsys.readouterr().out

    assert main(["dose", "list", "--patient", mrn, *base]) == 0
    assert str(dose_id) in capsys.readouterr().out
    assert (
        main(["dose", "correct", str(dose_id), "--entered-in-error", "--reason", "wrong patient", *base]) == 0
    )
    assert "marked entered in error; 1 container returned to lot" in capsys.readouterr().out
    assert main(["db", "check", "--db", demo_db]) == 0


def test_a_warning_is_recorded_only_when_acknowledged_with_a_reason(
    demo_db: str, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B12DESK_PASSWORD", "demo")
    base = ["--db", demo_db, "--user", "nurse"]
    import json

    for mrn, product, lot in _demo_candidates(demo_db)[::-1]:
        common = ["--patient", mrn, "--product", str(product), "--lot", lot, "--dose", "1 mg"]
        common += ["--site", "deltoid_right", "--at", _yesterday_or_earlier()]
        main(["dose", "check", *common, "--json", *base])
        if [f["code"] for f in json.loads(capsys.readouterr().out)["findings"]] == ["backdated"]:
            break
    else:
        pytest.fail("no demo patient for a backdated dose")
    assert main(["dose", "record", *common, *base]) == 1
    err = capsys.readouterr().err
    assert "WARNING [backdated]" in err and "--acknowledge backdated" in err
    assert (
        main(["dose", "record", *common, "--acknowledge", "backdated", "--reason", "paper chart", *base]) == 0
    )
    assert "Recorded dose" in capsys.readouterr().out


def _yesterday_or_earlier() -> str:
    return (clinic_now() - timedelta(hours=30)).strftime("%Y-%m-%d %H:%M")


@pytest.fixture
def damaged_copy(demo_db: str, tmp_path: Path) -> Path:
    """A copy of the demo clinic to damage, checkpointed so that the whole file is in one place."""
    source = sqlite3.connect(demo_db.removeprefix("sqlite:///"))
    source.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    copy = tmp_path / "damaged.sqlite3"
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    return copy


def test_db_check_reports_a_damaged_page_and_a_ledger_that_does_not_add_up(
    damaged_copy: Path, capsys: Capture
) -> None:
    url = f"sqlite:///{damaged_copy}"
    assert main(["db", "check", "--db", url]) == 0
    capsys.readouterr()

    raw = sqlite3.connect(damaged_copy)
    lot = raw.execute("SELECT id, lot_number FROM lots ORDER BY id LIMIT 1").fetchone()
    raw.execute("UPDATE lots SET quantity_on_hand = quantity_on_hand + 5 WHERE id = ?", (lot[0],))
    # An opened vial's volume changed by hand, with no movement in its ledger.
    vial = raw.execute("SELECT id FROM vials WHERE remaining_ml > 0.5 ORDER BY id LIMIT 1").fetchone()[0]
    raw.execute("UPDATE vials SET remaining_ml = remaining_ml - 0.5 WHERE id = ?", (vial,))
    raw.commit()
    assert main(["db", "check", "--db", url]) == 1
    out = capsys.readouterr().out
    assert f"FAULT: lot {lot[1]} (id {lot[0]})" in out and "ledger sums to" in out
    assert re.search(rf"FAULT: vial {vial} holds [0-9.]+ mL but its ledger sums to", out), out

    page_size = raw.execute("PRAGMA page_size").fetchone()[0]
    root = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = 'ix_administrations_plan_given'")
    page = root.fetchone()[0]
    raw.close()
    with damaged_copy.open("r+b") as f:  # an index page overwritten, as a failing disk might
        f.seek((page - 1) * page_size + 8)
        f.write(b"\xff" * 64)
    assert main(["db", "check", "--db", url]) == 1
    out = capsys.readouterr().out
    assert f"FAULT: SQLite integrity: *** in database main ***\nOn tree page {page}" in out
    assert f"FAULT: lot {lot[1]}" in out  # the other checks still ran beside the storage check


TREATMENT_TEMPLATES = (
    "uk_hoc_no_neuro",
    "uk_hoc_neuro",
    "us_cnc_fda",
    "us_cnc_common",
    "post_bariatric_treatment",
)


def _schedule_json(url: str, code: str, capsys: Capture) -> dict[str, object]:
    import json

    assert (
        main(["schedule", code, "--start", "2026-01-05", "--until", "2026-03-31", "--db", url, "--json"]) == 0
    )
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


@pytest.mark.parametrize("code", TREATMENT_TEMPLATES)
def test_schedule_json_checks_potassium_a_day_after_the_first_dose_and_platelets_in_the_first_weeks(
    tmp_path: Path, capsys: Capture, code: str
) -> None:
    data = _schedule_json(f"sqlite:///{tmp_path / 's.sqlite3'}", code, capsys)
    first = date.fromisoformat(data["doses"][0]["due"])  # type: ignore[index]
    tasks = data["tasks"]
    potassium = [t for t in tasks if t["lab_test_code"] == "potassium"]  # type: ignore[union-attr, index]
    assert [(date.fromisoformat(t["due"]) - first).days for t in potassium] == [1]
    assert [(date.fromisoformat(t["window_end"]) - first).days for t in potassium] == [2]  # by 48 hours
    platelets = sorted(
        (date.fromisoformat(t["due"]) - first).days
        for t in tasks  # type: ignore[union-attr]
        if t["lab_test_code"] == "platelets"  # type: ignore[index]
    )
    assert platelets[0] == 0 and any(7 <= d <= 10 for d in platelets) and max(platelets) <= 35


def test_schedule_json_of_the_fda_template_has_its_day_5_to_7_checks_and_waits_for_the_response(
    tmp_path: Path, capsys: Capture
) -> None:
    data = _schedule_json(f"sqlite:///{tmp_path / 's.sqlite3'}", "us_cnc_fda", capsys)
    assert len(data["doses"]) == 7  # type: ignore[arg-type]  # daily x7; alternate days wait for the review
    by_label = {t["label"]: t["due"] for t in data["tasks"]}  # type: ignore[union-attr, index]
    for n, due in ((5, "2026-01-09"), (6, "2026-01-12"), (7, "2026-01-12")):  # 10-11 January: a weekend
        assert by_label[f"Haematocrit, day {n} of treatment"] == due
        assert by_label[f"Reticulocytes, day {n} of treatment"] == due
    assert any(label.startswith("Response review on day 7") for label in by_label)


def test_schedule_list_shows_the_lebers_and_oral_templates(tmp_path: Path, capsys: Capture) -> None:
    assert main(["schedule", "--list", "--db", f"sqlite:///{tmp_path / 's.sqlite3'}"]) == 0
    out = capsys.readouterr().out
    assert "uk_hoc_lebers" in out and "Leber's optic atrophy" in out
    assert "oral_cnc" in out and "post_bariatric_treatment" in out


def _continuing_patient(db: object, staff: Staffing) -> None:
    """Patient H2 on a verified plan that continues treatment begun at another clinic."""
    from decimal import Decimal

    from b12desk.domain.enums import Cause
    from b12desk.domain.patients import PatientInput
    from b12desk.services import patients, plans

    with db.sessions.begin() as s:  # type: ignore[attr-defined]
        plans.ensure_shipped_templates(s)
        template = next(t for t in plans.list_templates(s, staff.admin) if t.code == "uk_hoc_no_neuro")
        pid = patients.create_patient(
            s,
            staff.nurse,
            PatientInput(
                mrn="H2",
                family_name="Okafor",
                given_name="Bea",
                date_of_birth=date(1960, 2, 2),
                cause=Cause.PERNICIOUS_ANAEMIA,
            ),
        ).id
        plan = plans.create_plan(
            s,
            staff.pharmacist,
            pid,
            plans.PlanInput(
                template_id=template.id,
                formulation=template.formulation,
                dose_mcg=Decimal(1000),
                route=template.definition.route,
                start_date=clinic_now().date(),
                prescriber="Dr Shah",
                continues_elsewhere=True,
            ),
        )
        plans.verify_plan(s, staff.pharmacist2, plan.id, password=PASSWORD, expected_version=plan.version_id)


def test_import_administrations_names_a_bad_line_then_imports_the_corrected_file(
    fresh_db: tuple[object, Staffing], tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, staff = fresh_db
    _continuing_patient(db, staff)
    url = f"sqlite:///{tmp_path / 'b12desk.sqlite3'}"
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    template = tmp_path / "history-template.xlsx"
    assert main(["import", "administrations", "--template", str(template)]) == 0
    assert "Template written" in capsys.readouterr().out
    history = tmp_path / "history.csv"
    rows = ["2026-08-03", "2026-08-05", "2026-08-07"]
    body = "mrn,given_at,dose,site\n" + "".join(f"H2,{day},1000 mcg,left deltoid\n" for day in rows)
    history.write_text(body.replace("H2,2026-08-05,1000 mcg", "H2,2026-08-05,1000 mg"), encoding="utf-8")
    command = ["import", "administrations", str(history), "--db", url, "--user", "pharmacist"]
    assert main(command) == 1
    out = capsys.readouterr()
    assert "line 3: H2: The plan's dose for induction dose 2 is 1,000 mcg, not 1,000,000 mcg" in out.err
    assert "Nothing was imported" in out.out
    history.write_text(body, encoding="utf-8")
    assert main([*command, "--dry-run"]) == 0
    assert "Dry run: nothing was imported." in capsys.readouterr().out
    assert main(command) == 0
    out = capsys.readouterr()
    assert "Imported 3 dose record(s), as given elsewhere (no stock drawn); 1 schedule(s)" in out.out
    assert "line 3: H2: warning, recorded with the dose: The left deltoid was also used" in out.err
    assert main(["dose", "list", "--patient", "H2", "--db", url, "--user", "nurse"]) == 0
    listed = capsys.readouterr().out
    assert all(day in listed for day in rows)
    assert main(command) == 1  # the same file again: every dose is already recorded
    assert "line 2: H2: A dose was already given on 2026-08-03" in capsys.readouterr().err


def test_a_nurse_may_not_import_dose_history(
    db_url: str, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    history = tmp_path / "history.csv"
    history.write_text("mrn,given_at\nH2,2026-08-03\n", encoding="utf-8")
    assert main(["import", "administrations", str(history), "--db", db_url, "--user", "nurse"]) == 1
    assert "may not" in capsys.readouterr().err


def test_due_lists_today_overdue_and_lapsed_in_words_and_json(
    demo_db: str, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from b12desk.cli import _WORKLISTS
    from b12desk.services.monitoring import Worklist

    assert tuple(w.value for w in Worklist) == _WORKLISTS
    monkeypatch.setenv("B12DESK_PASSWORD", "demo")
    base = ["--db", demo_db, "--user", "nurse"]
    today = clinic_now().date()
    assert main(["due", *base]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Due today on {today.isoformat()}: ")
    assert main(["due", "--overdue", "--json", *base]) == 0
    overdue = json.loads(capsys.readouterr().out)
    assert overdue, "the demo clinic has doses past their window"
    assert all(r["worklist"] == "overdue" and r["kind"] == "dose" and r["overdue"] for r in overdue)
    assert all(date.fromisoformat(r["window_end"]) < today for r in overdue)
    assert main(["due", "--overdue", "--lapsed", *base]) == 0
    out = capsys.readouterr().out
    assert "Doses overdue (past their window) on" in out and "Lapsed maintenance (relapse risk) on" in out
    assert main(["due", "--lapsed", "--json", *base]) == 0
    lapsed = json.loads(capsys.readouterr().out)
    assert all("maintenance every" in r["why"] for r in lapsed)
    assert all(r["since"] is None or r["since"] < r["due_on"] for r in lapsed)
    later = (today + timedelta(days=400)).isoformat()
    assert main(["due", "--lapsed", "--date", later, "--json", *base]) == 0
    assert len(json.loads(capsys.readouterr().out)) >= len(lapsed)
    assert main(["due", "--list", "not-responding", "--list", "awaiting-review", *base]) == 0
    out = capsys.readouterr().out
    assert (
        "Not responding as expected: reassess on" in out and "Open-ended phases waiting for a review" in out
    )
    with pytest.raises(SystemExit):  # argparse names the worklists it knows
        main(["due", "--list", "nonsense", *base])
    assert "invalid choice" in capsys.readouterr().err


def test_due_needs_sign_in(demo_db: str, capsys: Capture) -> None:
    assert main(["due", "--db", demo_db]) == 1
    assert "sign in with --user" in capsys.readouterr().err
