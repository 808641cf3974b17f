"""`b12desk user list|add|disable|enable|unlock|reset-password|set-role` (administrators) and `b12desk passwd`
(anyone, their own password). Every change is audited by the auth service; passwords are read from the
environment or a prompt, never from the command line, where other users of the computer could see them."""

from __future__ import annotations

import argparse
import getpass
import os
from typing import Any

from b12desk.cli import (
    NEW_PASSWORD_ENV,
    PASSWORD_ENV,
    ROLES,
    CliError,
    _common,
    _open,
    _password,
    _print_table,
    _sign_in,
)


def add_user_parsers(sub: Any) -> None:
    """Add `user` with its actions and `passwd` to the top-level subparsers."""
    text = "staff accounts: list, add, disable, enable, unlock, reset a password, change a role"
    p_user: argparse.ArgumentParser = sub.add_parser("user", help=text, description=text)
    _common(p_user)
    actions = p_user.add_subparsers(dest="user_command", metavar="ACTION", required=True)

    p_add = actions.add_parser(
        "add",
        help="create a user; on an empty database the first admin needs no sign-in",
        description=f"Create a staff account. The password comes from ${NEW_PASSWORD_ENV} or a prompt.",
    )
    _common(p_add)
    p_add.add_argument("name")
    p_add.add_argument("--role", choices=ROLES, required=True)
    p_add.add_argument("--full-name", default="", help="as it should appear in records (default: NAME)")

    p_list = actions.add_parser("list", help="list staff accounts, with disabled and locked ones marked")
    _common(p_list)

    for name, help_text in (
        ("disable", "stop an account from signing in or acting (its records keep its name)"),
        ("enable", "let a disabled account sign in again"),
        ("unlock", "lift a lockout after wrong passwords"),
    ):
        p = actions.add_parser(name, help=help_text, description=help_text)
        _common(p)
        p.add_argument("name")
        if name != "unlock":
            p.add_argument("--reason", default="", help="why, for the audit trail")

    reset_text = (
        f"set a new password for someone (to hand over in person); from ${NEW_PASSWORD_ENV} or a prompt. "
        "Also lifts a lockout."
    )
    p_reset = actions.add_parser("reset-password", help=reset_text, description=reset_text)
    _common(p_reset)
    p_reset.add_argument("name")

    p_role = actions.add_parser("set-role", help="change an account's role", description="change a role")
    _common(p_role)
    p_role.add_argument("name")
    p_role.add_argument("role", choices=ROLES)
    p_role.add_argument("--reason", default="", help="why, for the audit trail")

    passwd_text = (
        f"change your own password: the current one from ${PASSWORD_ENV} or a prompt, the new one from "
        f"${NEW_PASSWORD_ENV} or a prompt"
    )
    p_passwd: argparse.ArgumentParser = sub.add_parser("passwd", help=passwd_text, description=passwd_text)
    _common(p_passwd)


def _new_password(name: str) -> str:
    password = _password(f"New password for {name}: ", NEW_PASSWORD_ENV)
    if NEW_PASSWORD_ENV not in os.environ and password != getpass.getpass("Repeat it: "):
        raise CliError("The two passwords differ; nothing was saved.")
    return password


def cmd_user(args: argparse.Namespace) -> int:
    from b12desk.data.types import utcnow
    from b12desk.domain.enums import Role
    from b12desk.services import auth

    db = _open(args).db
    if args.user_command == "add":
        return _add(args, db)
    actor = _sign_in(args, db)
    if args.user_command == "list":
        with db.readers.begin() as s:
            accounts = auth.list_accounts(s, actor)
        now = utcnow()
        rows = [
            (
                a.username,
                a.full_name,
                a.role.value,
                "active" if a.active else "disabled",
                f"locked until {a.locked_until:%Y-%m-%d %H:%M} UTC"
                if a.locked(now)
                else (f"{a.failed_sign_ins} wrong password(s)" if a.failed_sign_ins else ""),
            )
            for a in accounts
        ]
        _print_table(("user", "full name", "role", "account", "sign-in"), rows)
        return 0
    if args.user_command == "reset-password":
        password = _new_password(args.name)
        with db.sessions.begin() as s:
            account = auth.reset_password(s, actor, username=args.name, new_password=password)
        print(f"Password of '{account.username}' reset; any lockout lifted. Hand it over in person.")
        return 0
    with db.sessions.begin() as s:
        if args.user_command == "disable":
            account = auth.disable_user(s, actor, username=args.name, reason=args.reason)
            done = "disabled: it can no longer sign in"
        elif args.user_command == "enable":
            account = auth.enable_user(s, actor, username=args.name, reason=args.reason)
            done = "enabled"
        elif args.user_command == "unlock":
            account = auth.unlock_user(s, actor, username=args.name)
            done = "unlocked"
        else:  # set-role
            account = auth.set_role(s, actor, username=args.name, role=Role(args.role), reason=args.reason)
            done = f"is now a {account.role.value}"
    print(f"'{account.username}' ({account.full_name}) {done}.")
    return 0


def _add(args: argparse.Namespace, db: Any) -> int:
    from b12desk.domain.enums import Role
    from b12desk.services import auth

    with db.readers.begin() as s:
        empty = auth.staff_count(s) == 0
    full_name = args.full_name or args.name
    if empty:
        if args.role != "admin":
            raise CliError("The database has no users yet: create the first one with --role admin.")
        password = _new_password(args.name)
        with db.sessions.begin() as s:
            created = auth.create_first_admin(s, username=args.name, full_name=full_name, password=password)
    else:
        actor = _sign_in(args, db)
        password = _new_password(args.name)
        with db.sessions.begin() as s:
            created = auth.create_user(
                s, actor, username=args.name, full_name=full_name, role=Role(args.role), password=password
            )
    print(f"Created {created.role.value} '{created.username}' ({created.full_name}).")
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    from b12desk.services import auth

    db = _open(args).db
    if not getattr(args, "user", None):
        raise CliError("Say whose password it is: b12desk passwd --user NAME.")
    current = _password(f"Current password for {args.user}: ", PASSWORD_ENV)
    actor = auth.sign_in(db, username=args.user, password=current)  # a wrong one counts to the lockout
    password = _new_password(actor.username)
    with db.sessions.begin() as s:
        auth.change_own_password(s, actor, current_password=current, new_password=password)
    print(f"Password of '{actor.username}' changed.")
    return 0
