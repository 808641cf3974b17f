"""Sign-in and staff accounts: argon2id password hashes, roles, and the first administrator."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from b12desk.data.audit import append_event
from b12desk.data.models import Staff
from b12desk.domain.enums import Role
from b12desk.domain.permissions import Permission
from b12desk.services.common import Actor, PermissionDenied, ValidationFailed, require

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 8


class AuthenticationFailed(PermissionDenied):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _actor(staff: Staff) -> Actor:
    return Actor(id=staff.id, username=staff.username, full_name=staff.full_name, role=staff.role)


def authenticate(session: Session, *, username: str, password: str) -> Actor:
    """The same message for an unknown name and a wrong password, so neither can be probed."""
    staff = session.scalar(select(Staff).where(Staff.username == username.strip().lower()))
    failure = AuthenticationFailed("Unknown user name or wrong password.")
    if staff is None:
        _hasher.hash(password)  # spend the same time as a real check
        raise failure
    try:
        _hasher.verify(staff.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise failure from None
    if not staff.active:
        raise AuthenticationFailed(f"The account '{staff.username}' is disabled; ask an administrator.")
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    return _actor(staff)


def reauthenticate(session: Session, actor: Actor, password: str) -> None:
    """A signature: the signed-in person proves again that it is them (verification, overrides)."""
    authenticate(session, username=actor.username, password=password)


def staff_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Staff)) or 0


def _validate_new_user(session: Session, username: str, full_name: str, password: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not USERNAME_PATTERN.match(username):
        errors["username"] = (
            "User name: 2-64 lower-case letters, digits, '.', '_' or '-', starting with a letter."
        )
    elif session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
        errors["username"] = f"The user name '{username}' is already taken."
    if not full_name.strip():
        errors["full_name"] = "Enter the person's full name, as it should appear in records."
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"The password must have at least {MIN_PASSWORD_LENGTH} characters."
    return errors


def _create(
    session: Session,
    actor_id: int | None,
    username: str,
    full_name: str,
    role: Role,
    password: str,
    *,
    check_password: bool = True,
) -> Actor:
    username = username.strip().lower()
    errors = _validate_new_user(session, username, full_name, password)
    if not check_password:
        errors.pop("password", None)
    if errors:
        raise ValidationFailed(errors)
    staff = Staff(
        username=username,
        full_name=full_name.strip(),
        role=role,
        password_hash=hash_password(password),
        active=True,
    )
    session.add(staff)
    session.flush()
    append_event(
        session,
        staff_id=actor_id if actor_id is not None else staff.id,
        action="create",
        entity="staff",
        entity_id=staff.id,
        new={"username": staff.username, "full_name": staff.full_name, "role": staff.role, "active": True},
    )
    return _actor(staff)


def create_user(
    session: Session, actor: Actor, *, username: str, full_name: str, role: Role, password: str
) -> Actor:
    require(session, actor, Permission.MANAGE_STAFF)
    return _create(session, actor.id, username, full_name, role, password)


def create_first_admin(session: Session, *, username: str, full_name: str, password: str) -> Actor:
    """Only on a database with no staff at all: the account that then creates everyone else."""
    if staff_count(session) > 0:
        raise PermissionDenied("Staff accounts exist already: sign in as an administrator to add users.")
    return _create(session, None, username, full_name, Role.ADMIN, password)


def create_demo_user(session: Session, *, username: str, full_name: str, role: Role, password: str) -> Actor:
    """Demo databases only (the caller checks): short, shared passwords are allowed there."""
    return _create(session, None, username, full_name, role, password, check_password=False)


def list_staff(session: Session) -> list[Actor]:
    return [_actor(s) for s in session.scalars(select(Staff).where(Staff.active).order_by(Staff.username))]
