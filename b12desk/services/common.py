"""What every service shares: the acting staff member, the errors a caller must handle, permission."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from b12desk.data.models import Staff
from b12desk.domain.enums import Role
from b12desk.domain.permissions import Permission, role_can


@dataclass(frozen=True, slots=True)
class Actor:
    """The signed-in staff member on whose behalf a service acts."""

    id: int
    username: str
    full_name: str
    role: Role


class ServiceError(Exception):
    """An expected refusal, with a message meant for the person at the screen."""


class PermissionDenied(ServiceError):
    pass


class NotFound(ServiceError):
    pass


class Conflict(ServiceError):
    """Someone else changed the record since it was read: reload and try again."""


class ValidationFailed(ServiceError):
    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


def require(session: Session, actor: Actor, permission: Permission) -> None:
    """Refuse unless the actor's role allows it and the account is still active in the database."""
    staff = session.get(Staff, actor.id)
    if staff is None or not staff.active:
        raise PermissionDenied(f"The account '{actor.username}' is no longer active; sign in again.")
    if not role_can(staff.role, permission):
        raise PermissionDenied(
            f"A {staff.role.value} may not {permission.value.replace('_', ' ')}; "
            "ask a colleague whose role allows it."
        )
