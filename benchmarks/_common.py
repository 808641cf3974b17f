"""What the benchmarks share: figures printed beside a bare baseline measured in the same run, and the
large demo database (20,000 patients, about 1,000,000 administrations) they are measured on.

These machines are shared and their speed wanders from minute to minute: a ratio between our figure and
a bare baseline taken in the same run survives that noise where an absolute time does not. So each
script measures its baseline next to each of its figures (interleaved, run for run, where it can) and
prints both with their ratio.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("B12DESK_BENCH_CACHE", Path.home() / ".cache" / "b12desk-bench"))
# The cached databases are signed with one audit key kept beside them: each run then opens them from a
# data folder of its own, as a copied database would be, with the key it was signed with.
os.environ.setdefault("B12DESK_AUDIT_KEY_FILE", str(CACHE / "audit.key"))
DEMO_PASSWORD = "demo"
BIG_PATIENTS = 20_000
BIG_YEARS = 10  # about 1,000,000 administrations at 20,000 patients


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (0.95 of 20 values is the 19th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Table:
    """Figures with their baselines, printed as one aligned table at the end, and the targets' verdict."""

    title: str
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    def add(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        baseline: tuple[str, float] | None = None,
        target: str = "",
        ok: bool | None = None,
        digits: int = 2,
    ) -> None:
        ratio = ""
        base = ""
        if baseline is not None:
            base_name, base_value = baseline
            base = f"{base_name}: {base_value:,.{digits}f} {unit}"
            if base_value > 0:
                ratio = f"{value / base_value:.2f}x"
        verdict = "" if ok is None else ("met" if ok else "MISSED")
        if ok is False:
            self.missed.append(name)
        self.rows.append((name, f"{value:,.{digits}f} {unit}", base, ratio, f"{target} {verdict}".strip()))

    def print(self) -> None:
        print()
        print(self.title)
        header = ("figure", "ours", "baseline in the same run", "ratio", "target")
        widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(5)]
        for row in [header, tuple("-" * w for w in widths), *self.rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        print("targets: " + ("all met" if not self.missed else "MISSED " + ", ".join(self.missed)))


def python() -> str:
    return sys.executable


def app_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "B12DESK_DATA_DIR": str(data_dir), "QT_QPA_PLATFORM": "offscreen"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env | extra


def big_database(path: Path | None = None) -> Path:
    """The 20,000-patient, ten-year demo database, generated once by the CLI and kept in the cache."""
    path = path or CACHE / f"demo-{BIG_PATIENTS}-{BIG_YEARS}y.sqlite3"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    # A demo database (--demo: its demo accounts, password "demo", which the benchmarks sign in with),
    # filled by its administrator.
    command = [python(), "-m", "b12desk", "--demo", "demo-data", "--db", f"sqlite:///{partial}"]
    command += ["--user", "admin", "--patients", str(BIG_PATIENTS), "--years", str(BIG_YEARS), "--seed", "1"]
    print(f"generating the benchmark database (once, about a minute): {path}", flush=True)
    started = time.perf_counter()
    env = app_env(CACHE / "data", B12DESK_PASSWORD=DEMO_PASSWORD)
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    partial.rename(path)
    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def runs_text(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    return ", ".join(fmt.format(v) for v in values)
