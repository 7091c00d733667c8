"""Check that ansible-doc renders every module, filter, lookup and role of the collection
as installed from the built tarball (ansible-doc itself exits 0 for a
plugin it cannot find, so its JSON output is what is checked).
   check_docs.py COLLECTIONS_PATH REPO_ROOT
"""

import json
import os
import subprocess
import sys


def names(root, folder, ext):
    path = os.path.join(root, "plugins", folder)
    return sorted(f[:-len(ext)] for f in os.listdir(path) if f.endswith(ext) and not f.startswith("_"))


def main(collections, root):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections)
    missing = []
    roles = sorted(d for d in os.listdir(os.path.join(root, "roles"))
                   if os.path.isfile(os.path.join(root, "roles", d, "meta", "argument_specs.yml")))
    for kind, plugins in (("module", names(root, "modules", ".py")), ("filter", names(root, "filter", ".yml")),
                          ("lookup", names(root, "lookup", ".py")), ("role", roles)):
        fqcns = ["freifunk.gateway." + n for n in plugins]
        out = subprocess.run(["ansible-doc", "--json", "-t", kind] + fqcns, env=env,
                             capture_output=True, text=True, check=True).stdout
        docs = json.loads(out)
        for fqcn in fqcns:
            # a role's documentation is its entry points (meta/argument_specs.yml)
            if not docs.get(fqcn, {}).get("doc" if kind != "role" else "entry_points"):
                missing.append("%s %s" % (kind, fqcn))
        print("ansible-doc: %d %ss documented" % (len(fqcns) - len([m for m in missing if m.startswith(kind)]), kind))
    if missing:
        sys.exit("ansible-doc cannot show: " + ", ".join(missing))


if __name__ == "__main__":
    main(*sys.argv[1:])
