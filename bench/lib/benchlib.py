"""Shared helpers of the benchmark drivers in bench/*/run.py.

Python 3 standard library only. Every driver imports it with

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
    import benchlib

The helpers keep the drivers alike: the same header (what ran where, and how
loaded the machine was), medians and ratios formatted the same way, markdown
tables, JSON output, and commands that are bounded in time and say what went
wrong when they fail.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from pathlib import Path


class BenchError(Exception):
    """Something the benchmark needed did not work; the message says what."""


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _cpu_pressure() -> str | None:
    """The share of time something waited for a CPU (PSI 'some', 5-minute average)."""
    try:
        first = Path("/proc/pressure/cpu").read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return None
    fields = dict(item.split("=", 1) for item in first.split()[1:])
    return f"{fields.get('avg300', '?')}%"


def _ansible_core() -> str | None:
    exe = shutil.which("ansible")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = out.splitlines()[0] if out else ""
    return first.split("[", 1)[-1].rstrip("]").replace("core ", "") if "[" in first else first or None


def header() -> dict:
    """What ran where, and the load on the machine at this moment."""
    return {
        "utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "ansible_core": _ansible_core(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu_pressure_avg300": _cpu_pressure(),
    }


def print_header(h: dict, title: str = "") -> None:
    if title:
        print(f"# {title}\n")
    print("```text")
    print(f"Host: {h['cpu']}, {h['cores']} cores; Python {h['python']}; ansible-core {h['ansible_core']}; {h['utc']}.")
    print(f"Other load: load average {' '.join(str(x) for x in h['load_average'])} (1, 5, 15 min); "
          f"CPU pressure (some, avg300) {h['cpu_pressure_avg300']}.")
    print("```\n", flush=True)


def median(values) -> float:
    values = [v for v in values if v is not None]
    if not values:
        raise BenchError("median of no values")
    return statistics.median(values)


def ratio(a, b, digits: int | None = None) -> str:
    """a / b as '3.2x' (two significant digits below 10, whole numbers above), or 'n/a'."""
    if a is None or b is None or b == 0:
        return "n/a"
    r = a / b
    if digits is None:
        digits = 2 if r < 1 else 1 if r < 10 else 0
    return f"{r:.{digits}f}x"


def _is_number(cell) -> bool:
    if isinstance(cell, (int, float)):
        return True
    text = str(cell).replace(",", "").rstrip("x%s").strip()
    try:
        float(text)
    except ValueError:
        return False
    return True


def md_table(headers, rows) -> str:
    """A markdown table; columns whose cells are all numbers are right-aligned."""
    rows = [list(r) for r in rows]
    align = []
    for i in range(len(headers)):
        cells = [r[i] for r in rows if i < len(r) and r[i] not in ("", None, "n/a", "-")]
        align.append("---:" if cells and all(_is_number(c) for c in cells) else "---")
    lines = ["| " + " | ".join(str(h) for h in headers) + " |", "|" + "|".join(align) + "|"]
    for r in rows:
        lines.append("| " + " | ".join("" if c is None else str(c) for c in r) + " |")
    return "\n".join(lines)


def write_json(path, data) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def finish(json_path, data: dict, failures: list) -> int:
    """The end of a part's run: the raw numbers to ``json_path`` (if given),
    the failures listed; the exit status (1 when anything failed)."""
    if json_path:
        write_json(json_path, dict(data, failures=failures))
    if failures:
        print("\nFAILED:\n" + "\n".join(f"- {f}" for f in failures))
        return 1
    return 0


def _tail(text: str | bytes | None, lines: int = 30) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def run(cmd, timeout, check=True, **kw) -> subprocess.CompletedProcess:
    """Run cmd (a list) with text output captured; a failure or a timeout raises BenchError."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    try:
        proc = subprocess.run(cmd, timeout=timeout, check=False, **kw)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"timed out after {timeout} s: {' '.join(map(str, cmd))}\n"
                         f"{_tail(exc.stdout)}\n{_tail(exc.stderr)}") from None
    if check and proc.returncode != 0:
        raise BenchError(f"exit {proc.returncode}: {' '.join(map(str, cmd))}\n"
                         f"{_tail(proc.stdout)}\n{_tail(proc.stderr)}")
    return proc


def wait_until(predicate, timeout, interval=0.2, what="the condition") -> float:
    """Call predicate() until it is true; return the seconds waited, or raise BenchError."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise BenchError(f"{what} not reached within {timeout} s")
        time.sleep(interval)


def podman(*args, timeout=120, check=True) -> subprocess.CompletedProcess:
    """podman with the project's containers.conf (runc, ulimits), as the tests use it."""
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(repo_root() / "tests" / "bed" / "containers.conf"))
    return run(["podman", *map(str, args)], timeout=timeout, check=check, env=env)
