"""Sign-in and staff accounts: argon2id password hashes, a lockout after repeated wrong passwords, the
password rules, and the administrators' management of accounts and roles."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from b12desk.data.audit import append_event
from b12desk.data.db import Database
from b12desk.data.models import Staff
from b12desk.data.types import utcnow
from b12desk.domain.enums import Role
from b12desk.domain.permissions import Permission
from b12desk.services.common import Actor, PermissionDenied, ValidationFailed, require

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200  # argon2 takes any length; a cap keeps a pasted document from being hashed

# Five wrong passwords in a row lock the account; each further lockout before a successful sign-in lasts
# longer (OWASP Authentication Cheat Sheet, "Account Lockout"), up to the last step.
MAX_FAILED_SIGN_INS = 5
LOCKOUT_STEPS = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4))

WRONG_CREDENTIALS = "Unknown user name or wrong password."


class AuthenticationFailed(PermissionDenied):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _actor(staff: Staff) -> Actor:
    return Actor(id=staff.id, username=staff.username, full_name=staff.full_name, role=staff.role)


# --- passwords ----------------------------------------------------------------------------------------


@cache
def common_passwords() -> frozenset[str]:
    text = (resources.files("b12desk.resources") / "common_passwords.txt").read_text(encoding="utf-8")
    listed = {line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")}
    # "password123" also stands for "password2026!" and the like: the word before the digits and symbols.
    words = {_without_suffix(p) for p in listed}
    return frozenset(listed | {w for w in words if len(w) >= 4})


def _without_suffix(password: str) -> str:
    return password.rstrip("0123456789!@#$%^&*.?_- ")


def password_problem(password: str, *, username: str = "") -> str | None:
    """Why a new password is refused, in words that say how to choose a better one; None when it is fine.
    NIST SP 800-63B 5.1.1.2: a minimum length, any characters a person can type, and a check against
    passwords known to be common; no rules about mixing character classes."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return (
            f"The password has {len(password)} characters; it needs at least {MIN_PASSWORD_LENGTH}. "
            "A few unrelated words together are long and easy to remember."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password has {len(password)} characters; at most {MAX_PASSWORD_LENGTH} are accepted."
    for position, char in enumerate(password, start=1):
        if unicodedata.category(char) == "Cc":
            return (
                f"The password holds a control character (U+{ord(char):04X}) at position {position}, which "
                "cannot be typed at the sign-in window: use letters, digits, spaces and punctuation."
            )
    lowered = password.lower()
    if len(set(lowered)) == 1:
        return "The password repeats one character: choose one that is harder to guess."
    if username and username.lower() in lowered:
        return "The password contains the user name: choose one that does not."
    if lowered in common_passwords() or _without_suffix(lowered) in common_passwords():
        return (
            "That password is on the list of the most commonly used ones, which are tried first: "
            "choose another."
        )
    return None


def _check_password(password: str, username: str) -> None:
    problem = password_problem(password, username=username)
    if problem:
        raise ValidationFailed({"password": problem})


# --- signing in ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignInAttempt:
    """The outcome of one attempt: the person signed in, or why not. Returned rather than raised, so the
    caller's transaction commits the failure count and its audit event."""

    actor: Actor | None
    message: str = ""

    def accepted(self) -> Actor:
        if self.actor is None:
            raise AuthenticationFailed(self.message)
        return self.actor


def lockout_length(lockouts: int) -> timedelta:
    """How long the n-th lockout in a row lasts (n from 1)."""
    return LOCKOUT_STEPS[min(max(lockouts, 1), len(LOCKOUT_STEPS)) - 1]


def _minutes(delta: timedelta) -> str:
    minutes = max(1, -(-int(delta.total_seconds()) // 60))
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _locked_message(staff: Staff, now: datetime) -> str:
    assert staff.locked_until is not None
    return (
        f"The account '{staff.username}' is locked for another {_minutes(staff.locked_until - now)} after "
        f"{MAX_FAILED_SIGN_INS} wrong passwords. Wait, or ask an administrator to unlock it."
    )


def attempt_sign_in(
    session: Session, *, username: str, password: str, record_failure: bool = True
) -> SignInAttempt:
    """Check a user name and password. A wrong password counts towards the lockout and is audited, in the
    caller's transaction, which is expected to commit (use `sign_in` or `SignInAttempt.accepted` after).

    The same message for an unknown name and a wrong password, so neither can be probed. The name typed is
    never stored for an unknown account: it may well be a password typed in the wrong field."""
    name = username.strip().lower()
    staff = session.scalar(select(Staff).where(Staff.username == name))
    now = utcnow()
    if staff is None:
        _hasher.hash(password)  # spend the same time as a real check
        if not record_failure:
            return SignInAttempt(None, WRONG_CREDENTIALS)
        append_event(
            session,
            staff_id=None,
            action="sign_in_failed",
            entity="staff",
            entity_id="unknown",
            reason="unknown user name (not recorded)",
        )
        return SignInAttempt(None, WRONG_CREDENTIALS)
    if staff.locked_until is not None and staff.locked_until > now:
        return SignInAttempt(None, _locked_message(staff, now))  # not checked, so not counted
    try:
        _hasher.verify(staff.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        if not record_failure:
            return SignInAttempt(None, WRONG_CREDENTIALS)
        return SignInAttempt(None, _count_failure(session, staff, now))
    if not staff.active:
        return SignInAttempt(None, f"The account '{staff.username}' is disabled; ask an administrator.")
    if staff.failed_sign_ins or staff.lockouts or staff.locked_until is not None:
        _clear_lock(staff)
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    session.flush()
    return SignInAttempt(_actor(staff))


def _clear_lock(staff: Staff) -> None:
    staff.failed_sign_ins, staff.lockouts, staff.locked_until = 0, 0, None


def _count_failure(session: Session, staff: Staff, now: datetime) -> str:
    # One conditional statement, so two workstations failing at once both count.
    session.execute(
        update(Staff)
        .where(Staff.id == staff.id)
        .values(failed_sign_ins=Staff.failed_sign_ins + 1, version_id=Staff.version_id + 1)
    )
    session.refresh(staff)
    failures = staff.failed_sign_ins
    append_event(
        session,
        staff_id=None,
        action="sign_in_failed",
        entity="staff",
        entity_id=staff.id,
        new={"username": staff.username, "failed_sign_ins": failures},
        reason="wrong password",
    )
    if failures < MAX_FAILED_SIGN_INS:
        return WRONG_CREDENTIALS
    lockouts = staff.lockouts + 1
    until = now + lockout_length(lockouts)
    staff.failed_sign_ins, staff.lockouts, staff.locked_until = 0, lockouts, until
    session.flush()
    append_event(
        session,
        staff_id=None,
        action="locked",
        entity="staff",
        entity_id=staff.id,
        new={"username": staff.username, "locked_until": until, "lockouts": lockouts},
        reason=f"{MAX_FAILED_SIGN_INS} wrong passwords in a row",
    )
    return (
        f"{WRONG_CREDENTIALS} After {MAX_FAILED_SIGN_INS} wrong passwords the account is locked for "
        f"{_minutes(until - now)}; an administrator can unlock it."
    )


def sign_in(db: Database, *, username: str, password: str) -> Actor:
    """Sign in in a transaction of its own: a failure is committed (counted, audited), then raised."""
    with db.sessions.begin() as session:
        attempt = attempt_sign_in(session, username=username, password=password)
    return attempt.accepted()


def authenticate(session: Session, *, username: str, password: str) -> Actor:
    """Check a password within the caller's transaction, for a signature inside an action (verification,
    an override): a failure raises and the whole action is refused, writing nothing; it is not counted
    towards the lockout, since the person is signed in already. A locked account cannot sign either."""
    attempt = attempt_sign_in(session, username=username, password=password, record_failure=False)
    return attempt.accepted()


def reauthenticate(session: Session, actor: Actor, password: str) -> None:
    """A signature: the signed-in person proves again that it is them (verification, overrides)."""
    authenticate(session, username=actor.username, password=password)


def staff_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Staff)) or 0


# --- accounts -----------------------------------------------------------------------------------------


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
    problem = password_problem(password, username=username)
    if problem:
        errors["password"] = problem
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


@dataclass(frozen=True, slots=True)
class StaffAccount:
    """One account as an administrator sees it."""

    id: int
    username: str
    full_name: str
    role: Role
    active: bool
    failed_sign_ins: int
    locked_until: datetime | None  # UTC; None when not locked
    lockouts: int

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


def list_accounts(session: Session, actor: Actor) -> list[StaffAccount]:
    """Every account, disabled ones included, for the administrators' Users screen and `user list`."""
    require(session, actor, Permission.MANAGE_STAFF)
    return [_accounts_row(s) for s in session.scalars(select(Staff).order_by(Staff.username))]


def _account(session: Session, username: str) -> Staff:
    name = username.strip().lower()
    staff = session.scalar(select(Staff).where(Staff.username == name))
    if staff is None:
        raise ValidationFailed({"username": f"There is no account named '{name}'."})
    return staff


def _other_active_admins(session: Session, staff: Staff) -> int:
    """Active administrators besides `staff`, rows locked on PostgreSQL so two administrators disabling
    each other at once cannot both succeed (SQLite's write lock already serialises them)."""
    ids = session.scalars(
        select(Staff.id).where(Staff.role == Role.ADMIN, Staff.active, Staff.id != staff.id).with_for_update()
    ).all()
    return len(ids)


def _keep_an_admin(session: Session, staff: Staff, what: str) -> None:
    if staff.role == Role.ADMIN and staff.active and _other_active_admins(session, staff) == 0:
        raise PermissionDenied(
            f"'{staff.username}' is the only active administrator: {what} would leave nobody able to "
            "manage accounts. Make another account an administrator first."
        )


def set_role(session: Session, actor: Actor, *, username: str, role: Role, reason: str = "") -> StaffAccount:
    require(session, actor, Permission.MANAGE_STAFF)
    staff = _account(session, username)
    if staff.role == role:
        raise ValidationFailed({"role": f"'{staff.username}' is already a {role.value}."})
    if role != Role.ADMIN:
        _keep_an_admin(session, staff, f"making them a {role.value}")
    old = staff.role
    staff.role = role
    session.flush()
    append_event(
        session,
        staff_id=actor.id,
        action="set_role",
        entity="staff",
        entity_id=staff.id,
        old={"role": old},
        new={"role": role},
        reason=reason,
    )
    return _accounts_row(staff)


def disable_user(session: Session, actor: Actor, *, username: str, reason: str = "") -> StaffAccount:
    """The account can no longer sign in or act (each action re-reads it); its records keep its name."""
    return _set_active(session, actor, username, active=False, reason=reason)


def enable_user(session: Session, actor: Actor, *, username: str, reason: str = "") -> StaffAccount:
    return _set_active(session, actor, username, active=True, reason=reason)


def _set_active(session: Session, actor: Actor, username: str, *, active: bool, reason: str) -> StaffAccount:
    require(session, actor, Permission.MANAGE_STAFF)
    staff = _account(session, username)
    if staff.active == active:
        state = "enabled" if active else "disabled"
        raise ValidationFailed({"username": f"'{staff.username}' is already {state}."})
    if not active:
        _keep_an_admin(session, staff, "disabling it")
    staff.active = active
    session.flush()
    append_event(
        session,
        staff_id=actor.id,
        action="enable" if active else "disable",
        entity="staff",
        entity_id=staff.id,
        old={"active": not active},
        new={"active": active},
        reason=reason,
    )
    return _accounts_row(staff)


def unlock_user(session: Session, actor: Actor, *, username: str) -> StaffAccount:
    require(session, actor, Permission.MANAGE_STAFF)
    staff = _account(session, username)
    if staff.locked_until is None and not staff.failed_sign_ins:
        raise ValidationFailed({"username": f"'{staff.username}' is not locked."})
    old = {"locked_until": staff.locked_until, "failed_sign_ins": staff.failed_sign_ins}
    _clear_lock(staff)
    session.flush()
    append_event(
        session,
        staff_id=actor.id,
        action="unlock",
        entity="staff",
        entity_id=staff.id,
        old=old,
        new={"locked_until": None, "failed_sign_ins": 0},
    )
    return _accounts_row(staff)


def reset_password(session: Session, actor: Actor, *, username: str, new_password: str) -> StaffAccount:
    """An administrator sets a new password (to hand over in person) and lifts any lock. The audit says
    that it changed, never what it is."""
    require(session, actor, Permission.MANAGE_STAFF)
    staff = _account(session, username)
    _check_password(new_password, staff.username)
    staff.password_hash = hash_password(new_password)
    _clear_lock(staff)
    session.flush()
    append_event(session, staff_id=actor.id, action="reset_password", entity="staff", entity_id=staff.id)
    return _accounts_row(staff)


def change_own_password(session: Session, actor: Actor, *, current_password: str, new_password: str) -> None:
    """Anyone signed in may change their own password, proving the current one first."""
    staff = session.get(Staff, actor.id)
    if staff is None or not staff.active:
        raise PermissionDenied(f"The account '{actor.username}' is no longer active; sign in again.")
    try:
        _hasher.verify(staff.password_hash, current_password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise ValidationFailed({"current_password": "The current password is wrong."}) from None
    if current_password == new_password:
        raise ValidationFailed({"password": "The new password is the same as the current one."})
    _check_password(new_password, staff.username)
    staff.password_hash = hash_password(new_password)
    session.flush()
    append_event(session, staff_id=actor.id, action="change_password", entity="staff", entity_id=staff.id)


def _accounts_row(s: Staff) -> StaffAccount:
    return StaffAccount(
        s.id, s.username, s.full_name, s.role, s.active, s.failed_sign_ins, s.locked_until, s.lockouts
    )
