#!/bin/sh
# ansible-test sanity on a copy of the collection placed at
# ansible_collections/freifunk/gateway in a temporary folder (ansible-test
# needs that path; the repository keeps its flat layout).
#
# ansible-test bootstraps pip into each per-test venv with a get-pip script it
# downloads from the Ansible project's CI file host, which these machines
# cannot reach. It first looks for the script in its cache
# (~/.ansible/test/cache/get_pip_<version>.py), so we put a stand-in there
# that bootstraps pip with the interpreter's own ensurepip and then installs
# the requested packages from the package index as usual.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')

req=$(python3 -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',\$/\1/p" "$req")
[ -n "$pip_version" ] || { echo "sanity.sh: cannot find ansible-test's pip version in $req" >&2; exit 1; }
cache="$HOME/.ansible/test/cache/get_pip_$(echo "$pip_version" | tr . _).py"
mkdir -p "$(dirname "$cache")"
cat > "$cache" <<'PY'
# Stand-in for get-pip.py, written by freifunk.gateway's tests/bed/sanity.sh.
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/ansible_collections/freifunk/gateway"
mkdir -p "$dest"
cd "$root"
git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - 2>/dev/null | tar -xf - -C "$dest"
cd "$dest"
ansible-test sanity --venv --python "$python" --color no "$@"
