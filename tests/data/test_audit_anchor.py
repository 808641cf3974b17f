"""The audit chain anchored outside the database: keyed signatures, a signed head written at exit and at
backup, and `db check` naming a chain that was shortened, emptied, recomputed or extended by hand."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from b12desk.cli import main
from b12desk.data import audit_head
from b12desk.data.audit import GENESIS_HASH
from b12desk.data.audit_key import AUDIT_KEY_ENV, AuditKeyError, load_key
from b12desk.data.db import Database
from b12desk.services import auth
from b12desk.services.startup import open_app_database
from tests.conftest import PASSWORD, Staffing

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def clinic(fresh_db: tuple[Database, Staffing], monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A committed database used once through the CLI, which records the chain's head as it exits."""
    db, _ = fresh_db
    path = Path(str(db.engine.url.database))
    url = f"sqlite:///{path}"
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    assert main(["patient", "list", "--db", url, "--user", "admin"]) == 0
    return url, path


def _check(url: str, capsys: Capture) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["db", "check", "--db", url])
    return code, capsys.readouterr().out


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_an_untouched_chain_passes_and_grows(clinic: tuple[str, Path], capsys: Capture) -> None:
    url, _ = clinic
    code, out = _check(url, capsys)
    assert code == 0, out
    assert "audit events verified" in out
    assert main(["user", "unlock", "nurse", "--db", url, "--user", "admin"]) == 1  # not locked: refused
    assert main(["user", "disable", "nurse", "--db", url, "--user", "admin"]) == 0  # the chain grows
    assert _check(url, capsys)[0] == 0


def test_removing_the_last_events_is_named(clinic: tuple[str, Path], capsys: Capture) -> None:
    url, path = clinic
    with _raw(path) as raw:
        raw.execute("DELETE FROM audit_events WHERE id > (SELECT MAX(id) - 2 FROM audit_events)")
    code, out = _check(url, capsys)
    assert code == 1
    assert "shortened" in out and "Events were removed" in out


def test_removing_every_event_is_named(clinic: tuple[str, Path], capsys: Capture) -> None:
    """The hole: an empty audit table read "0 audit events verified" and exit 0."""
    url, path = clinic
    with _raw(path) as raw:
        raw.execute("DELETE FROM audit_events")
    code, out = _check(url, capsys)
    assert code == 1 and "shortened" in out and "now it holds 0" in out


def _recompute_unsigned(raw: sqlite3.Connection) -> None:
    """What someone with the database but not the key can do: rewrite every hash with plain SHA-256."""
    rows = raw.execute(
        "SELECT id, at, staff_id, action, entity, entity_id, old_values, new_values, reason "
        "FROM audit_events ORDER BY id"
    ).fetchall()
    prev = GENESIS_HASH
    for event_id, at, staff_id, *rest in rows:
        stamp = str(at).replace(" ", "T", 1)
        stamp = (stamp[:-7] if stamp.endswith(".000000") else stamp) + "+00:00"
        payload = json.dumps([prev, stamp, staff_id, *rest], separators=(",", ":"))
        digest = hashlib.sha256(payload.encode()).hexdigest()
        raw.execute(
            "UPDATE audit_events SET prev_hash = ?, hash = ?, key_id = NULL WHERE id = ?",
            (prev, digest, event_id),
        )
        prev = digest


def test_a_chain_recomputed_after_an_edit_is_named(clinic: tuple[str, Path], capsys: Capture) -> None:
    url, path = clinic
    with _raw(path) as raw:
        raw.execute("UPDATE audit_events SET reason = 'nothing happened' WHERE id = 2")
        _recompute_unsigned(raw)
    code, out = _check(url, capsys)
    assert code == 1
    assert "rewritten" in out  # a whole unsigned chain links up, but the head says otherwise


def test_a_recomputed_chain_that_keeps_the_key_id_fails_its_signature(
    clinic: tuple[str, Path], capsys: Capture
) -> None:
    url, path = clinic
    with _raw(path) as raw:
        key_id = raw.execute("SELECT key_id FROM audit_events LIMIT 1").fetchone()[0]
        _recompute_unsigned(raw)
        raw.execute("UPDATE audit_events SET key_id = ?", (key_id,))
    code, out = _check(url, capsys)
    assert code == 1 and "no longer match its signature" in out and "First broken audit event: 1" in out


def test_forged_events_appended_with_valid_sha256_hashes_are_named(
    clinic: tuple[str, Path], capsys: Capture
) -> None:
    url, path = clinic
    with _raw(path) as raw:
        last_id, prev = raw.execute("SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1").fetchone()
        stamp = "2026-12-01 09:00:00.000000"
        fields = [None, "give", "administration", "999", "{}", '{"dose":"1000"}', ""]
        payload = json.dumps([prev, "2026-12-01T09:00:00+00:00", *fields], separators=(",", ":"))
        raw.execute(
            "INSERT INTO audit_events (at, staff_id, action, entity, entity_id, old_values, new_values, "
            "reason, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (stamp, *fields, prev, hashlib.sha256(payload.encode()).hexdigest()),
        )
    code, out = _check(url, capsys)
    assert code == 1
    assert "is not signed, yet comes after signed events" in out
    assert f"First broken audit event: {last_id + 1}" in out


def test_an_altered_head_file_is_itself_a_fault(
    clinic: tuple[str, Path], fresh_db: tuple[Database, Staffing], capsys: Capture
) -> None:
    url, _ = clinic
    head = audit_head.head_path(fresh_db[0])
    stored = json.loads(head.read_text())
    stored["head"]["events"] = 1
    head.write_text(json.dumps(stored))
    code, out = _check(url, capsys)
    assert code == 1 and "does not carry this clinic's signature" in out


def test_the_key_and_head_files_are_private(
    clinic: tuple[str, Path], fresh_db: tuple[Database, Staffing]
) -> None:
    key = load_key(create=False)
    assert key is not None
    if os.name == "posix":
        assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(audit_head.head_path(fresh_db[0]).stat().st_mode) == 0o600
    assert key.secret.hex() not in fresh_db[0].url  # obviously: and nowhere in the database either
    raw = Path(fresh_db[0].engine.url.database or "").read_bytes()
    assert key.secret.hex().encode() not in raw and key.secret not in raw


def _audit_rows(path: Path) -> int:
    with _raw(path) as raw:
        return int(raw.execute("SELECT count(*) FROM audit_events").fetchone()[0])


def test_a_signed_database_without_its_key_opens_for_reading_and_refuses_every_save(
    clinic: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    """Nothing is lost (the records can be read and exported) and nothing is written unsigned."""
    url, path = clinic
    monkeypatch.setenv(AUDIT_KEY_ENV, str(tmp_path / "elsewhere" / "audit.key"))
    opened = open_app_database(url)
    try:
        reason = opened.read_only_reason or ""
        assert "does not hold" in reason and "Copy audit.key" in reason and "reading only" in reason
        before = _audit_rows(path)
        with pytest.raises(AuditKeyError, match="does not hold") as refused, opened.db.sessions.begin() as s:
            admin = auth.authenticate(s, username="admin", password=PASSWORD)
            auth.disable_user(s, admin, username="nurse")
        assert refused.value.refused_save.endswith("Nothing was saved.")  # as the screen and CLI say it
        assert _audit_rows(path) == before
        with opened.db.readers() as s:  # reading works
            assert len(auth.list_accounts(s, admin)) == 5
    finally:
        opened.db.dispose()
    assert not (tmp_path / "elsewhere" / "audit.key").exists()  # no new key made for a signed chain
    capsys.readouterr()
    assert main(["patient", "list", "--db", url, "--user", "admin"]) == 0  # read, with the warning
    assert "does not hold" in capsys.readouterr().err
    assert main(["user", "disable", "nurse", "--db", url, "--user", "admin"]) == 1
    err = capsys.readouterr().err
    assert "Nothing was saved" in err and "Traceback" not in err
    assert _audit_rows(path) == before
    code, out = _check(url, capsys)
    assert code == 1 and "does not hold" in out


def test_a_different_key_refuses_saves_too(
    clinic: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, path = clinic
    monkeypatch.setenv(AUDIT_KEY_ENV, str(tmp_path / "other.key"))
    assert load_key(create=True) is not None
    opened = open_app_database(url)
    try:
        assert "is signed with key" in (opened.read_only_reason or "")
        before = _audit_rows(path)
        with pytest.raises(AuditKeyError), opened.db.sessions.begin() as s:
            admin = auth.authenticate(s, username="admin", password=PASSWORD)
            auth.disable_user(s, admin, username="nurse")
        assert _audit_rows(path) == before
    finally:
        opened.db.dispose()


@pytest.mark.postgres
def test_postgresql_refuses_changing_or_removing_audit_rows(pg_server_url: str) -> None:
    from b12desk.data.db import open_database
    from b12desk.data.migrate import upgrade
    from tests.conftest import _seed_staff, create_pg_database, drop_pg_database

    url = create_pg_database(pg_server_url)
    db = open_database(url)
    try:
        upgrade(db, backup_dir=None)
        _seed_staff(db)
        with db.engine.connect() as conn:
            before = conn.execute(text("SELECT count(*), max(hash) FROM audit_events")).one()
            conn.rollback()
        for statement in (
            "UPDATE audit_events SET reason = 'x'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events CASCADE",
        ):
            with pytest.raises(Exception, match="append-only"), db.engine.begin() as conn:
                conn.execute(text(statement))
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*), max(hash) FROM audit_events")).one() == before
            conn.rollback()
    finally:
        db.dispose()
        drop_pg_database(pg_server_url, url)


@pytest.mark.postgres
def test_the_readme_grants_keep_the_application_role_from_touching_audit_rows(pg_server_url: str) -> None:
    """docs/postgresql-grants.sql, as the README tells a clinic to run it: the workstations' role works
    normally but cannot change, remove or unprotect audit events."""
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from b12desk.data.db import open_database
    from b12desk.data.migrate import upgrade
    from b12desk.services import auth

    grants = (Path(__file__).parents[2] / "docs" / "postgresql-grants.sql").read_text()
    suffix = uuid.uuid4().hex[:8]
    names = {"b12desk_owner": f"b12_owner_{suffix}", "b12desk_app": f"b12_app_{suffix}"}
    database = f"b12desk_grants_{suffix}"

    def sql(part: str) -> list[str]:
        for old, new in names.items():
            part = part.replace(old, new)
        part = part.replace("DATABASE b12desk ", f"DATABASE {database} ").replace(
            "DATABASE b12desk;", f"DATABASE {database};"
        )
        lines = [line for line in part.splitlines() if not line.strip().startswith("--")]
        return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]

    first, second = grants.split("-- 2.", 1)
    server = make_url(pg_server_url)
    superuser = create_engine(server, isolation_level="AUTOCOMMIT")
    owner_url = server.set(
        username=names["b12desk_owner"], password="change-me-owner", database=database
    ).render_as_string(hide_password=False)
    app_url = server.set(
        username=names["b12desk_app"], password="change-me-app", database=database
    ).render_as_string(hide_password=False)
    try:
        with superuser.connect() as conn:
            for statement in sql(first):
                conn.execute(text(statement))
        owner = open_database(owner_url)
        upgrade(owner, backup_dir=None)
        with owner.engine.begin() as conn:
            for statement in sql("-- 2." + second):
                conn.execute(text(statement))
        owner.dispose()
        app = open_database(app_url)
        try:
            with app.sessions.begin() as s:  # the workstations' everyday writes, audited as usual
                auth.create_first_admin(s, username="chief", full_name="Chief", password=PASSWORD)
            for statement in (
                "UPDATE audit_events SET reason = 'x'",
                "DELETE FROM audit_events",
                "TRUNCATE audit_events",
                "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
                "DROP TRIGGER audit_events_append_only ON audit_events",
            ):
                with (
                    pytest.raises(Exception, match=r"permission denied|must be owner"),
                    app.engine.begin() as c,
                ):
                    c.execute(text(statement))
            with app.engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 1
                conn.rollback()
        finally:
            app.dispose()
    finally:
        with superuser.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            for role in names.values():
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        superuser.dispose()


def test_the_desktop_app_records_the_head_as_it_exits(fresh_db: tuple[Database, Staffing]) -> None:
    import subprocess
    import sys

    db = fresh_db[0]
    head = audit_head.head_path(db)
    assert not head.exists()
    env = {**os.environ, "B12DESK_PASSWORD": PASSWORD, "B12DESK_EXIT_AFTER_SHOWN": "1"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    url = f"sqlite:///{db.engine.url.database}"
    done = subprocess.run(
        [sys.executable, "-m", "b12desk", "--db", url, "--user", "admin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    recorded = audit_head.read_head(db)
    now = audit_head.current_head(db)
    assert recorded is not None  # written, and signed with this clinic's key
    assert (recorded.events, recorded.last_hash) == (now.events, now.last_hash)  # as the app left it
