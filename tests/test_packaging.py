"""A non-editable install carries its resources and migrations and works away from the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import sys, b12desk
from pathlib import Path
assert Path(b12desk.__file__).is_relative_to(Path(sys.argv[1])), b12desk.__file__
from b12desk.data.reference import lab_tests
from b12desk.data.db import open_database
from b12desk.data.migrate import upgrade, current_revision
assert "serum_b12" in lab_tests()
db = open_database("sqlite:///" + sys.argv[2])
print(upgrade(db, backup_dir=None).to_revision, current_revision(db))
"""


@pytest.mark.slow
def test_wheel_install_reads_resources_with_importlib(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert (target / "b12desk" / "resources" / "lab_tests.json").is_file()
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(target), str(tmp_path / "x.sqlite3")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    head, current = result.stdout.split()
    assert head == current
