"""Start-up and search at 20,000 patients: process start to roster searchable, and search keystrokes.

    .venv/bin/python benchmarks/startup.py [--db PATH.sqlite3] [--runs 5]

Without --db the 20,000-patient, 1,000,000-administration demo database is generated once (cached).
Baselines in the same run:
- start-up: a bare PySide6 window showing the same 20,000 patients in a table (benchmarks/bare_window.py),
  started alternately with the app, run for run. Target: the app within 3x of it.
- keystroke: the same keys typed into a bare QLineEdit driving a QSortFilterProxyModel over the same rows
  in a bare QTableView. Target: the app's median and 95th percentile under 50 ms, repaint included.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import DEMO_PASSWORD, ROOT, Table, app_env, big_database, median, percentile, python, runs_text

STARTUP_RATIO_TARGET = 3.0
KEYSTROKE_TARGET_MS = 50.0
WORDS = ("smith", "jo", "adams ann", "mar", "h1")  # typed key by key, then select-all and delete


def _spawn(command: list[str], env: dict[str, str], marker: str) -> tuple[float, dict[str, str]]:
    import subprocess

    env = env | {"B12DESK_T0": repr(time.time())}  # just before spawning: interpreter start-up counts
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith(marker + " ")), None)
    if done.returncode != 0 or line is None:
        print(done.stdout, done.stderr, file=sys.stderr)
        raise SystemExit(f"{command[1]} did not report {marker} (exit {done.returncode})")
    fields = line.split()
    return float(fields[1]), dict(f.split("=", 1) for f in fields[2:])


IMPORTS_ONLY = (
    "import os, time; import b12desk.data.models, PySide6.QtWidgets; "
    "print(f\"IMPORTED {time.time() - float(os.environ['B12DESK_T0']):.3f}\")"
)


def time_startups(
    path: Path, data_dir: Path, runs: int
) -> tuple[list[float], list[float], list[float], int, float]:
    """The real app (`python -m b12desk`, signing in as admin), the bare window and a process that only
    imports what the app cannot start without (SQLAlchemy with our models, and Qt), in turn."""
    env = app_env(data_dir, B12DESK_PASSWORD=DEMO_PASSWORD, B12DESK_EXIT_AFTER_SHOWN="1")
    app_command = [python(), "-m", "b12desk", "--db", f"sqlite:///{path}", "--user", "admin"]
    bare_command = [python(), str(ROOT / "benchmarks" / "bare_window.py"), str(path)]
    ours: list[float] = []
    bare: list[float] = []
    imports: list[float] = []
    rows, rss = 0, 0.0
    _spawn(bare_command, env, "SHOWN")  # warm the file cache and Python's bytecode for both
    _spawn(app_command, env, "ROSTER_SHOWN")
    for _ in range(runs):
        seconds, extra = _spawn(app_command, env, "ROSTER_SHOWN")
        ours.append(seconds)
        rows = int(extra["rows"])
        rss = max(rss, float(extra.get("maxrss_mb", 0)))
        bare.append(_spawn(bare_command, env, "SHOWN")[0])
        imports.append(_spawn([python(), "-c", IMPORTS_ONLY], env, "IMPORTED")[0])
    return ours, bare, imports, rows, rss


def time_keystrokes(path: Path, data_dir: Path) -> tuple[list[float], list[float], int]:
    """In this process: the roster tab over the database, and the bare proxy-filtered table beside it."""
    os.environ["B12DESK_DATA_DIR"] = str(data_dir)
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QSortFilterProxyModel, Qt, qInstallMessageHandler
    from PySide6.QtGui import QStandardItem, QStandardItemModel
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QLineEdit, QTableView, QVBoxLayout, QWidget

    from b12desk.data.db import open_database
    from b12desk.services import auth, clinic
    from b12desk.ui import style
    from b12desk.ui.context import AppContext, DataBus
    from b12desk.ui.roster import RosterTab

    qInstallMessageHandler(lambda *_: None)  # the offscreen plugin's notes
    app = QApplication(["b12desk-benchmark"])
    style.apply(app)
    db = open_database(f"sqlite:///{path}")
    with db.sessions.begin() as s:
        actor = auth.authenticate(s, username="admin", password=DEMO_PASSWORD)
        clock = clinic.clinic_clock(s)
    tab = RosterTab(AppContext(db=db, actor=actor, demo=True, bus=DataBus(), clock=clock))
    tab.resize(1200, 700)
    tab.show()
    tab.reload()
    deadline = time.monotonic() + 60
    while tab.model.total_count() == 0 and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)
    rows = tab.model.visible_count()  # the active patients, the roster's default view

    # The bare baseline: the same rows' text in a standard model behind a proxy filter.
    source = QStandardItemModel(0, 5)
    for r in range(rows):
        row = tab.model.roster_row(r)
        source.appendRow(
            [
                QStandardItem(str(v))
                for v in (row.mrn, row.family_name, row.given_name, row.date_of_birth, row.cause)
            ]
        )
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(source)
    proxy.setFilterKeyColumn(-1)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    bare = QWidget()
    edit = QLineEdit()
    view = QTableView()
    view.setModel(proxy)
    edit.textChanged.connect(proxy.setFilterFixedString)
    layout = QVBoxLayout(bare)
    layout.addWidget(edit)
    layout.addWidget(view)
    bare.resize(1200, 700)
    bare.show()
    app.processEvents()

    def settle() -> None:
        app.processEvents()
        while tab._search_timer.isActive():  # the roster's coalesced search has not run yet
            app.processEvents()
        app.processEvents()  # its repaint belongs to the keystroke

    def keys(target: QLineEdit, settle_fn: Callable[[], None]) -> list[float]:
        times: list[float] = []

        def timed(action: Callable[[], None]) -> None:
            started = time.perf_counter()
            action()
            settle_fn()
            times.append((time.perf_counter() - started) * 1000)

        for word in WORDS:
            for ch in word:
                timed(lambda ch=ch: QTest.keyClick(target, ch))
            timed(lambda: QTest.keyClick(target, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier))
            timed(lambda: QTest.keyClick(target, Qt.Key.Key_Backspace))
        return times

    keys(tab.search, settle)  # warm-up: first paints, fonts, caches
    keys(edit, app.processEvents)
    ours = keys(tab.search, settle)
    baseline = keys(edit, app.processEvents)
    assert tab.search.text() == "" and tab.model.visible_count() == rows
    db.dispose()
    return ours, baseline, rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, help="a demo SQLite file (default: the cached 20,000-patient one)")
    parser.add_argument("--runs", type=int, default=5, help="start-ups of each to time (default 5)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    path = args.db or big_database()
    data_dir = Path(tempfile.mkdtemp(prefix="b12desk-startup-bench-"))

    ours, bare, imports, rows, rss = time_startups(path, data_dir, args.runs)
    typed, typed_bare, typed_rows = time_keystrokes(path, data_dir)

    print(f"database: {path} ({rows:,} patients)")
    print(f"start-up, app (s):         {runs_text(ours)}")
    print(f"start-up, bare window (s): {runs_text(bare)}")
    print(f"imports alone (s):         {runs_text(imports)}")
    print(f"keystrokes over {typed_rows:,} rows, typing {', '.join(repr(w) for w in WORDS)} (ms):")
    print(f"  app:  {runs_text(typed, '{:.0f}')}")
    print(f"  bare: {runs_text(typed_bare, '{:.0f}')}")
    table = Table("Start-up and search (medians of the runs above)")
    startup, startup_bare = median(ours), median(bare)
    table.add(
        "start-up to roster searchable",
        startup,
        "s",
        baseline=("bare PySide6 window, same rows", startup_bare),
        target=f"<= {STARTUP_RATIO_TARGET:.0f}x",
        ok=startup <= STARTUP_RATIO_TARGET * startup_bare,
    )
    table.add(
        "  floor: importing SQLAlchemy, the models and Qt",
        median(imports),
        "s",
        baseline=("bare PySide6 window, same rows", startup_bare),
    )
    table.add("app peak memory at roster shown", rss, "MB", digits=0)
    for name, fraction in (("keystroke median", 0.5), ("keystroke 95th percentile", 0.95)):
        value = percentile(typed, fraction)
        table.add(
            name,
            value,
            "ms",
            baseline=("bare QSortFilterProxyModel table", percentile(typed_bare, fraction)),
            target=f"< {KEYSTROKE_TARGET_MS:.0f} ms",
            ok=value < KEYSTROKE_TARGET_MS,
            digits=1,
        )
    table.print()
    return 1 if table.missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
