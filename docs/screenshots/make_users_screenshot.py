"""Grab Tools > Users and roles… to users_dialog.png in this folder, at 1024 x 700, as an administrator
sees it on a demo clinic: one nurse locked out after five wrong passwords, one account disabled, one
pharmacist with two wrong passwords so far.

Run from the repository root:
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_users_screenshot.py
"""

from __future__ import annotations

import contextlib

from _shots import prepare, save

WORK = prepare("b12desk-users-shots-")

from PySide6.QtWidgets import QApplication  # noqa: E402

from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import open_database  # noqa: E402
from b12desk.domain.enums import Role  # noqa: E402
from b12desk.services import auth, clinic  # noqa: E402
from b12desk.services.startup import DEMO_PASSWORD, ensure_demo_users  # noqa: E402
from b12desk.ui import ops, style  # noqa: E402
from b12desk.ui.context import AppContext, DataBus  # noqa: E402
from b12desk.ui.users_dialog import UsersDialog  # noqa: E402

ops.WAIT_FOR_RESULTS = True


def main() -> None:
    app = QApplication([])
    style.apply(app)
    db = open_database(f"sqlite:///{WORK / 'users.sqlite3'}")
    migrate.upgrade(db, backup_dir=None)
    ensure_demo_users(db)
    admin = auth.sign_in(db, username="admin", password=DEMO_PASSWORD)
    with db.sessions.begin() as s:
        auth.create_user(
            s,
            admin,
            username="sam.locum",
            full_name="Sam Locum",
            role=Role.NURSE,
            password="harbour lantern 42",
        )
        auth.disable_user(s, admin, username="sam.locum", reason="Locum contract ended")
    for name, times in (("nurse", 5), ("pharmacist2", 2)):
        for _ in range(times):
            with contextlib.suppress(auth.AuthenticationFailed):
                auth.sign_in(db, username=name, password="not the password")
    with db.sessions() as s:
        clock = clinic.clinic_clock(s)
    ctx = AppContext(db=db, actor=admin, demo=True, bus=DataBus(), clock=clock)
    dialog = UsersDialog(ctx)
    dialog.resize(1024, 460)
    dialog.show()
    row = dialog.model.find(lambda a: a.username == "nurse")
    if row is not None:
        dialog.table.selectRow(row)
    save(dialog, "users_dialog")
    dialog.close()
    db.dispose()


if __name__ == "__main__":
    main()
