"""The README's two commands never interfere: scripts/test installs into and runs from .venv-test, and
leaves .venv (the app `scripts/setup app && .venv/bin/b12desk` runs from) exactly as it was.

The scripts run for real, in a copy of scripts/ and .ci/, with stand-ins for python (which log how they
were called; `-m venv DIR` makes DIR/bin of stand-ins for every tool) and for dpkg-query (every system
package installed), so nothing is downloaded or installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the scripts are bash")

STAND_IN = """#!/usr/bin/env bash
# A stand-in: log the absolute path it was run as, and its arguments; "-m venv DIR" makes a venv of stand-ins.
echo "$(cd "$(dirname "$0")" && pwd -P)/$(basename "$0") $*" >> "$STAND_IN_LOG"
if [ "${1:-}" = -m ] && [ "${2:-}" = venv ]; then
  mkdir -p "$3/bin"
  for tool in python ruff mypy lint-imports b12desk alembic; do cp "$0" "$3/bin/$tool"; done
fi
exit 0
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the scripts, as a clone holds them, and a bin folder of stand-ins."""
    root = tmp_path.resolve() / "clone"
    root.mkdir()
    shutil.copytree(ROOT / "scripts", root / "scripts")
    shutil.copytree(ROOT / ".ci", root / ".ci")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name, text in {
        "python3": STAND_IN,
        "dpkg-query": "#!/usr/bin/env bash\necho 'install ok installed'\n",
    }.items():
        (fake_bin / name).write_text(text, encoding="utf-8")
        (fake_bin / name).chmod(0o755)
    return root


def run(root: Path, *command: str) -> list[list[str]]:
    """Run a script of the copy; the commands the stand-ins saw, each [absolute program, *arguments]."""
    log = root.parent / "calls.log"
    log.unlink(missing_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("B12DESK_", "VIRTUAL_ENV", "CI"))},
        "PATH": f"{root.parent / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHON": str(root.parent / "bin" / "python3"),
        "STAND_IN_LOG": str(log),
        "B12DESK_TEST_PG_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",  # no server is started
    }
    result = subprocess.run(
        [str(root / command[0]), *command[1:]], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [line.split() for line in log.read_text(encoding="utf-8").splitlines()]


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_scripts_test_installs_into_and_runs_from_its_own_environment_leaving_the_apps_alone(
    checkout: Path,
) -> None:
    calls = run(checkout, "scripts/setup", "app")  # the README's first command
    app_python = str(checkout / ".venv" / "bin" / "python")
    assert [app_python, "-m", "pip", "install", "-q", ".[postgres]"] in calls
    assert not (checkout / ".venv-test").exists()
    app_env = snapshot(checkout / ".venv")

    calls = run(checkout, "scripts/test", "-x", "tests/cli")  # the second, while the app is open
    test_env = checkout / ".venv-test" / "bin"
    system_python = str(checkout.parent / "bin" / "python3")
    programs = [call[0] for call in calls]
    assert all(p == system_python or p.startswith(f"{test_env}/") for p in programs), programs
    assert not any(arg == ".venv" or "/.venv/" in arg for call in calls for arg in call), calls
    assert snapshot(checkout / ".venv") == app_env
    assert [str(test_env / "python"), "-m", "pip", "install", "-q", "-e", ".[test,postgres]"] in calls
    for tool in ("ruff", "mypy", "lint-imports", "alembic", "b12desk"):
        assert str(test_env / tool) in programs, tool
    assert calls[-1] == [str(test_env / "python"), "-m", "pytest", "-x", "tests/cli"]


def test_ci_runs_the_test_script_in_the_test_environment(checkout: Path) -> None:
    calls = run(checkout, ".ci/run")
    assert not (checkout / ".venv").exists()
    assert calls[-1] == [str(checkout / ".venv-test" / "bin" / "python"), "-m", "pytest"]


def test_the_test_environment_is_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert ".venv-test/" in ignored and ".venv/" in ignored
