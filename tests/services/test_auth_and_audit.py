"""Sign-in, staff accounts, permission refusals in the services, and the audit hash chain."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from b12desk.data.audit import verify_chain
from b12desk.data.models import AuditEvent, Staff
from b12desk.domain.enums import Role
from b12desk.domain.permissions import Permission, role_can
from b12desk.services import auth
from b12desk.services.common import PermissionDenied, ValidationFailed
from tests.conftest import PASSWORD, Staffing


def test_password_is_stored_as_argon2id(session: Session, staff: Staffing) -> None:
    stored = session.scalar(select(Staff.password_hash).where(Staff.id == staff.nurse.id))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored


def test_sign_in(session: Session, staff: Staffing) -> None:
    assert auth.authenticate(session, username="Nurse ", password=PASSWORD).role == Role.NURSE
    with pytest.raises(auth.AuthenticationFailed, match="Unknown user name or wrong password"):
        auth.authenticate(session, username="nurse", password="nope")
    with pytest.raises(auth.AuthenticationFailed, match="Unknown user name or wrong password"):
        auth.authenticate(session, username="ghost", password=PASSWORD)


def test_disabled_account_is_refused_by_services(session: Session, staff: Staffing) -> None:
    session.execute(update(Staff).where(Staff.id == staff.nurse.id).values(active=False))
    from b12desk.services import patients

    with pytest.raises(PermissionDenied, match="no longer active"):
        patients.roster(session, staff.nurse)


def test_only_admins_create_users(session: Session, staff: Staffing) -> None:
    with pytest.raises(PermissionDenied):
        auth.create_user(
            session, staff.manager, username="x1", full_name="X", role=Role.NURSE, password="long enough"
        )
    with pytest.raises(ValidationFailed) as err:
        auth.create_user(
            session, staff.admin, username="nurse", full_name="", role=Role.NURSE, password="short"
        )
    assert set(err.value.errors) == {"username", "full_name", "password"}


def test_first_admin_only_on_an_empty_database(session: Session, staff: Staffing) -> None:
    with pytest.raises(PermissionDenied):
        auth.create_first_admin(session, username="sneaky", full_name="S", password="long enough")


def test_every_role_can_read_the_roster_and_only_admin_manages_staff() -> None:
    for role in Role:
        assert role_can(role, Permission.READ_PATIENTS)
        assert role_can(role, Permission.MANAGE_STAFF) == (role == Role.ADMIN)


def test_chain_verifies_and_a_raw_change_is_named(session: Session, staff: Staffing) -> None:
    assert verify_chain(session).ok
    target = session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()[2]
    if session.get_bind().dialect.name == "postgresql":
        # The append-only trigger refuses the change (tested below); its owner can still switch it off,
        # as someone holding the owner's login could: the chain must still name the change.
        session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    session.execute(update(AuditEvent).where(AuditEvent.id == target).values(reason="tampered"))
    report = verify_chain(session)
    assert report.first_broken_id == target
    assert "altered" in report.problem
