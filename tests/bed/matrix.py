"""make matrix: the unit tests and ansible-test sanity against every
ansible-core release line in tests/matrix.yml, each in its own venv
(.build/matrix/core-VERSION-pyPYTHON) on the Python the entry names.

A Python is found as pythonX.Y on PATH or, failing that, among pyenv's
versions. An entry whose Python this machine lacks is reported as skipped,
saying so, and makes the run fail: the matrix is the collection's claim of
what it supports. Prints a table, writes .build/matrix/results.json, exits
non-zero if any entry failed or was skipped.

    python3 tests/bed/matrix.py [--only 2.17,2.21] [--skip-sanity]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MATRIX = os.path.join(ROOT, "tests", "matrix.yml")
OUT = os.path.join(ROOT, ".build", "matrix")
# The test tools the unit tests import; pip picks the release each Python
# takes. The collection's own requirements come from requirements.txt, so the
# matrix also shows they install on every Python it names.
TEST_TOOLS = ("pytest", "pytest-xdist", "hypothesis", "antsibull-docs-parser", "markdown-it-py")


def entries(path=MATRIX):
    with open(path) as handle:
        data = yaml.safe_load(handle)
    out = []
    for item in data:
        core, python = str(item["ansible_core"]), str(item["python"])
        if core.count(".") != 2 or python.count(".") != 1:
            raise SystemExit(f"{path}: each entry needs ansible_core X.Y.Z and python X.Y, got {item!r}")
        out.append({"ansible_core": core, "line": core.rsplit(".", 1)[0], "python": python})
    return out


def find_python(version):
    """An interpreter of Python X.Y on this machine, or None."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()
        bare = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True, check=False).stdout
        for name in sorted(bare.split(), reverse=True):
            if name == version or name.startswith(version + "."):
                candidates.append(os.path.join(root, "versions", name, "bin", "python3"))
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        proc = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, check=False)
        if proc.returncode == 0 and proc.stdout.strip() == version:
            return candidate
    return None


def run_logged(cmd, log, env=None, cwd=ROOT):
    with open(log, "a") as handle:
        handle.write("\n$ " + " ".join(cmd) + "\n")
        handle.flush()
        return subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd, check=False).returncode


def make_venv(entry, python, log):
    venv = os.path.join(OUT, f"core-{entry['ansible_core']}-py{entry['python']}")
    stamp = os.path.join(venv, ".installed")
    with open(os.path.join(ROOT, "requirements.txt")) as handle:
        wanted = " ".join([f"ansible-core=={entry['ansible_core']}", *TEST_TOOLS]) + "\n" + handle.read()
    if os.path.exists(stamp):
        with open(stamp) as handle:
            if handle.read() == wanted:
                return venv, 0
    shutil.rmtree(venv, ignore_errors=True)
    rc = run_logged([python, "-m", "venv", venv], log)
    if rc == 0:
        rc = run_logged([os.path.join(venv, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
                         f"ansible-core=={entry['ansible_core']}", "-r", "requirements.txt", *TEST_TOOLS], log)
    if rc == 0:
        with open(stamp, "w") as handle:
            handle.write(wanted)
    return venv, rc


def check(entry, skip_sanity):
    result = dict(entry, units=None, sanity=None, seconds=0)
    start = time.monotonic()
    log = os.path.join(OUT, f"core-{entry['ansible_core']}-py{entry['python']}.log")
    open(log, "w").close()
    result["log"] = os.path.relpath(log, ROOT)
    python = find_python(entry["python"])
    if not python:
        result["status"] = f"skipped: no Python {entry['python']} on this machine"
        return result
    venv, rc = make_venv(entry, python, log)
    if rc:
        result["status"] = "failed: venv not installed"
        return result
    env = dict(os.environ, PATH=os.path.join(venv, "bin") + os.pathsep + os.environ.get("PATH", ""),
               VIRTUAL_ENV=venv)
    env.pop("PYTHONPATH", None)
    result["units"] = "ok" if run_logged([os.path.join(venv, "bin", "python"), "-m", "pytest", "-q", "-n", "2",
                                          "-p", "no:cacheprovider", "tests/unit"], log, env) == 0 else "FAILED"
    if not skip_sanity:
        result["sanity"] = "ok" if run_logged([os.path.join(ROOT, "tests", "bed", "sanity.sh")], log, env) == 0 else "FAILED"
    result["seconds"] = round(time.monotonic() - start)
    result["status"] = "ok" if "FAILED" not in (result["units"], result["sanity"]) else "failed"
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--only", help="comma-separated release lines (2.17,2.21) to run")
    parser.add_argument("--skip-sanity", action="store_true", help="unit tests only")
    args = parser.parse_args(argv)
    os.makedirs(OUT, exist_ok=True)
    todo = entries()
    if args.only:
        wanted = set(args.only.split(","))
        todo = [e for e in todo if e["line"] in wanted]
        if not todo:
            raise SystemExit(f"--only {args.only}: no such line in {os.path.relpath(MATRIX, ROOT)}")
    results = []
    for entry in todo:
        print(f"===== ansible-core {entry['ansible_core']} on Python {entry['python']}", flush=True)
        results.append(check(entry, args.skip_sanity))
        print(f"      {results[-1]['status']} ({results[-1]['seconds']} s, log {results[-1]['log']})", flush=True)
    with open(os.path.join(OUT, "results.json"), "w") as handle:
        json.dump(results, handle, indent=1)
    print("\n| ansible-core | Python | unit tests | sanity | seconds |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r['ansible_core']} | {r['python']} | {r['units'] or '-'} | {r['sanity'] or '-'} | {r['seconds']} |")
    bad = [r for r in results if r["status"] != "ok"]
    for r in bad:
        print(f"ansible-core {r['ansible_core']} on Python {r['python']}: {r['status']} (see {r['log']})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
