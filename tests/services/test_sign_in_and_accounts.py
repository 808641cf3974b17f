"""Sign-in lockout, password rules and the administrators' account management, on committed databases
(a failure must be counted even though the sign-in itself is refused)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from b12desk.data.db import Database
from b12desk.data.models import AuditEvent, Staff
from b12desk.data.types import utcnow
from b12desk.domain.enums import Role
from b12desk.services import auth
from b12desk.services.common import PermissionDenied, ValidationFailed
from tests.conftest import PASSWORD, Staffing


@pytest.fixture
def committed(fresh_db: tuple[Database, Staffing]) -> tuple[Database, Staffing]:
    return fresh_db


def _staff(db: Database, username: str) -> Staff:
    with db.readers() as s:
        staff = s.scalar(select(Staff).where(Staff.username == username))
        assert staff is not None
        return staff


def _events(db: Database, action: str) -> list[AuditEvent]:
    with db.readers() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _audit_count(db: Database) -> int:
    with db.readers() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_thirty_wrong_passwords_lock_the_account_and_the_right_one_then_fails(
    committed: tuple[Database, Staffing],
) -> None:
    """The hole: 30 wrong passwords in a row, then the right one worked, and nothing was recorded."""
    db, _ = committed
    messages = []
    for _ in range(30):
        with pytest.raises(auth.AuthenticationFailed) as refused:
            auth.sign_in(db, username="nurse", password="wrong password")
        messages.append(str(refused.value))
    assert messages[:4] == [auth.WRONG_CREDENTIALS] * 4
    assert "locked for 5 minutes" in messages[4]
    assert all("is locked for another" in m for m in messages[5:])  # not even checked while locked
    with pytest.raises(auth.AuthenticationFailed, match="locked for another"):
        auth.sign_in(db, username="nurse", password=PASSWORD)
    nurse = _staff(db, "nurse")
    assert nurse.locked_until is not None and nurse.lockouts == 1
    failures = _events(db, "sign_in_failed")
    assert len(failures) == 5 and {e.entity_id for e in failures} == {str(nurse.id)}
    [locked] = _events(db, "locked")
    assert locked.entity_id == str(nurse.id) and "5 wrong passwords" in locked.reason


def test_each_further_lockout_lasts_longer_and_a_success_resets_the_count(
    committed: tuple[Database, Staffing],
) -> None:
    db, _ = committed

    def fail(times: int) -> None:
        for _ in range(times):
            with pytest.raises(auth.AuthenticationFailed):
                auth.sign_in(db, username="nurse", password="not it at all")

    def expire_lock() -> None:
        with db.sessions.begin() as s:
            s.execute(update(Staff).where(Staff.username == "nurse").values(locked_until=utcnow()))

    fail(4)
    assert auth.sign_in(db, username="nurse", password=PASSWORD).username == "nurse"
    assert _staff(db, "nurse").failed_sign_ins == 0  # the success reset it: four more are allowed
    fail(4)
    assert _staff(db, "nurse").locked_until is None
    fail(1)
    first = _staff(db, "nurse")
    assert first.lockouts == 1 and first.locked_until is not None
    expire_lock()
    fail(5)
    second = _staff(db, "nurse")
    assert second.lockouts == 2 and second.locked_until is not None
    assert second.locked_until - utcnow() > timedelta(minutes=14)  # 15 minutes, not 5
    expire_lock()
    assert auth.sign_in(db, username="nurse", password=PASSWORD).username == "nurse"
    reset = _staff(db, "nurse")
    assert (reset.failed_sign_ins, reset.lockouts, reset.locked_until) == (0, 0, None)
    assert auth.lockout_length(1) < auth.lockout_length(2) < auth.lockout_length(3) < auth.lockout_length(9)


def test_an_unknown_name_is_audited_without_the_name_typed(committed: tuple[Database, Staffing]) -> None:
    """A password typed into the user-name field must not end up in the audit trail."""
    db, _ = committed
    with pytest.raises(auth.AuthenticationFailed, match="Unknown user name or wrong password"):
        auth.sign_in(db, username="Hunter2-secret-typed-here", password="x")
    [event] = _events(db, "sign_in_failed")
    stored = " ".join([event.entity_id, event.old_values, event.new_values, event.reason]).lower()
    assert "hunter2" not in stored and event.entity_id == "unknown"


def test_an_administrator_unlocks_and_a_nurse_cannot(committed: tuple[Database, Staffing]) -> None:
    db, staff = committed
    for _ in range(5):
        with pytest.raises(auth.AuthenticationFailed):
            auth.sign_in(db, username="pharmacist", password="wrong wrong")
    before = _audit_count(db)
    with pytest.raises(PermissionDenied), db.sessions.begin() as s:
        auth.unlock_user(s, staff.nurse, username="pharmacist")
    assert _audit_count(db) == before and _staff(db, "pharmacist").locked_until is not None
    with db.sessions.begin() as s:
        account = auth.unlock_user(s, staff.admin, username="pharmacist")
    assert account.locked_until is None
    [unlock] = _events(db, "unlock")
    assert unlock.staff_id == staff.admin.id
    assert auth.sign_in(db, username="pharmacist", password=PASSWORD).role == Role.PHARMACIST


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("\x00" * 12, "control character"),
        ("abc\x07defghijk", "control character"),
        ("short1", "at least 10"),
        ("Password123", "most commonly used"),
        ("password123!!", "most commonly used"),
        ("1234567890", "most commonly used"),
        ("aaaaaaaaaaaa", "repeats one character"),
        ("newperson-is-me", "contains the user name"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(
    committed: tuple[Database, Staffing], password: str, says: str
) -> None:
    db, staff = committed
    before = _audit_count(db)
    with pytest.raises(ValidationFailed) as refused, db.sessions.begin() as s:
        auth.create_user(
            s, staff.admin, username="newperson", full_name="New Person", role=Role.NURSE, password=password
        )
    assert says in refused.value.errors["password"]
    assert _audit_count(db) == before
    with db.readers() as s:
        assert s.scalar(select(Staff.id).where(Staff.username == "newperson")) is None


def test_a_long_unusual_password_is_accepted() -> None:
    assert auth.password_problem("brass lantern orchard 7", username="nurse") is None
    assert auth.password_problem("Zürich–Ñandú ☕ morning", username="nurse") is None


def test_roles_and_activity_change_audited_and_the_last_admin_stays(
    committed: tuple[Database, Staffing],
) -> None:
    db, staff = committed
    with db.sessions.begin() as s:
        auth.set_role(s, staff.admin, username="manager", role=Role.PHARMACIST, reason="covers pharmacy")
    [change] = _events(db, "set_role")
    assert '"manager"' in change.old_values and '"pharmacist"' in change.new_values
    assert change.reason == "covers pharmacy"

    before = _audit_count(db)
    for attempt in (
        lambda s: auth.disable_user(s, staff.admin, username="admin"),
        lambda s: auth.set_role(s, staff.admin, username="admin", role=Role.MANAGER),
    ):
        with pytest.raises(PermissionDenied, match="only active administrator"), db.sessions.begin() as s:
            attempt(s)
    assert _audit_count(db) == before
    assert _staff(db, "admin").active and _staff(db, "admin").role == Role.ADMIN

    with db.sessions.begin() as s:
        auth.disable_user(s, staff.admin, username="nurse", reason="left the clinic")
    with pytest.raises(auth.AuthenticationFailed, match="disabled"):
        auth.sign_in(db, username="nurse", password=PASSWORD)
    with pytest.raises(PermissionDenied, match="no longer active"), db.sessions.begin() as s:
        auth.list_accounts(s, staff.nurse)  # a session still open elsewhere: refused at its next act
    with db.sessions.begin() as s:
        auth.enable_user(s, staff.admin, username="nurse")
    assert auth.sign_in(db, username="nurse", password=PASSWORD).username == "nurse"

    # A second administrator: now the first may step down, and not the other way round as well.
    with db.sessions.begin() as s:
        auth.set_role(s, staff.admin, username="pharmacist2", role=Role.ADMIN)
        auth.disable_user(s, staff.admin, username="admin")
    with pytest.raises(PermissionDenied, match="only active administrator"), db.sessions.begin() as s:
        auth.disable_user(s, staff.pharmacist2, username="pharmacist2")


def test_reset_and_change_password(committed: tuple[Database, Staffing]) -> None:
    db, staff = committed
    with db.sessions.begin() as s:
        auth.reset_password(s, staff.admin, username="nurse", new_password="granite harbour seven")
    with pytest.raises(auth.AuthenticationFailed):
        auth.sign_in(db, username="nurse", password=PASSWORD)
    nurse = auth.sign_in(db, username="nurse", password="granite harbour seven")
    with pytest.raises(ValidationFailed) as wrong, db.sessions.begin() as s:
        auth.change_own_password(s, nurse, current_password="not mine", new_password="another fine phrase")
    assert "current password is wrong" in wrong.value.errors["current_password"]
    with db.sessions.begin() as s:
        auth.change_own_password(
            s, nurse, current_password="granite harbour seven", new_password="another fine phrase"
        )
    assert auth.sign_in(db, username="nurse", password="another fine phrase").username == "nurse"
    events = [e.action for e in _events(db, "reset_password") + _events(db, "change_password")]
    assert events == ["reset_password", "change_password"]
    for e in _events(db, "reset_password") + _events(db, "change_password"):
        assert "granite" not in e.new_values + e.old_values and "another" not in e.new_values
    with pytest.raises(PermissionDenied), db.sessions.begin() as s:
        auth.reset_password(s, staff.manager, username="admin", new_password="takeover attempt 1")
