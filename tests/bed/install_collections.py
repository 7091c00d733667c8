"""Install the collections the tests use (tests/requirements.yml) into
.build/collections, beside the link to the checkout (link_collection.py).

The collection itself needs none at run time (galaxy.yml declares none);
Molecule's podman driver, the podman connection of the tests and benchmarks,
and the json callback of their ansible runs come from these. Only what the
file names is installed, so a collection the roles use without declaring it
fails the tests.

First ansible-galaxy, from Galaxy. Where Galaxy cannot be reached (CI here
reaches package registries only), the same versions come from the PyPI
release of the ansible package that ships them (BUNDLE): its wheel is
downloaded with pip (cached in .cache/wheels) and only the named
collections are unpacked from it; their MANIFEST.json must carry the version
the file pins. Run with the test venv's Python; prints what it installed.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REQUIREMENTS = os.path.join(ROOT, "tests", "requirements.yml")
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
WHEELS = os.path.join(ROOT, ".cache", "wheels")
# The PyPI release whose wheel ships the versions tests/requirements.yml pins.
BUNDLE = ("ansible", "12.3.0")


def wanted(path=REQUIREMENTS):
    """[(namespace, name, version)] from a requirements file that pins each version."""
    with open(path) as handle:
        data = yaml.safe_load(handle)
    out = []
    for entry in data.get("collections") or []:
        version = str(entry.get("version", "")).lstrip("=")
        if "." not in entry.get("name", "") or not version or any(c in version for c in "<>*,!"):
            raise SystemExit(f"{path}: each collection needs a name NAMESPACE.NAME and one exact version, got {entry!r}")
        namespace, name = entry["name"].split(".", 1)
        out.append((namespace, name, version))
    return out


def installed_version(namespace, name, collections=COLLECTIONS):
    manifest = os.path.join(collections, "ansible_collections", namespace, name, "MANIFEST.json")
    try:
        with open(manifest) as handle:
            return json.load(handle)["collection_info"]["version"]
    except (OSError, ValueError, KeyError):
        return None


def missing(collections=COLLECTIONS, path=REQUIREMENTS):
    return [c for c in wanted(path) if installed_version(c[0], c[1], collections) != c[2]]


def from_galaxy():
    proc = subprocess.run(["ansible-galaxy", "collection", "install", "--force", "-r", REQUIREMENTS,
                           "-p", COLLECTIONS], capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode == 0


def bundle_wheel():
    pattern = os.path.join(WHEELS, f"{BUNDLE[0]}-{BUNDLE[1]}-*.whl")
    found = glob.glob(pattern)
    if not found:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                               "--only-binary=:all:", "-d", WHEELS, f"{BUNDLE[0]}=={BUNDLE[1]}"],
                              capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(f"install_collections.py: pip download {BUNDLE[0]}=={BUNDLE[1]} failed:\n{proc.stderr}")
        found = glob.glob(pattern)
    if not found:
        raise SystemExit(f"install_collections.py: pip downloaded no wheel matching {pattern}")
    return found[0]


def unpack(wheel, namespace, name, version, collections=COLLECTIONS):
    """Unpack ansible_collections/NAMESPACE/NAME from the wheel into collections, checking its version."""
    prefix = f"ansible_collections/{namespace}/{name}/"
    target = os.path.join(collections, "ansible_collections", namespace, name)
    shutil.rmtree(target, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.namelist() if m.startswith(prefix)]
        if not members:
            raise SystemExit(f"install_collections.py: {os.path.basename(wheel)} ships no {namespace}.{name}")
        archive.extractall(collections, members)
    got = installed_version(namespace, name, collections)
    if got != version:
        shutil.rmtree(target, ignore_errors=True)
        raise SystemExit(f"install_collections.py: {os.path.basename(wheel)} ships {namespace}.{name} {got}, "
                         f"tests/requirements.yml pins {version}; change BUNDLE or the pin")


def main():
    todo = missing()
    if not todo:
        return 0
    if from_galaxy() and not missing():
        print("installed from Galaxy: " + ", ".join(f"{n}.{m} {v}" for n, m, v in todo))
        return 0
    wheel = bundle_wheel()
    for namespace, name, version in missing():
        unpack(wheel, namespace, name, version)
    print(f"installed from {os.path.basename(wheel)} (Galaxy not reached): "
          + ", ".join(f"{n}.{m} {v}" for n, m, v in todo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
