#!/bin/sh
# make release VERSION=x.y.z [DEST=folder]: cut a release of the collection.
#   1. refuse unless VERSION is x.y.z and newer than galaxy.yml's, the tree
#      is clean, tag vVERSION does not exist, and fragments are there;
#   2. green tests: make test must have passed on this very commit (green.sh
#      records it); if it has not, run make test now;
#   3. galaxy.yml gets VERSION; antsibull-changelog turns the fragments into
#      changelogs/changelog.yaml and CHANGELOG.md (and removes them);
#   4. build the tarball into DEST (default .build/release), install it into
#      a new empty folder, and run ansible-doc on every module, filter,
#      lookup and role from there; ansible-galaxy collection verify checks
#      the installed files against the tarball's manifest;
#   5. commit the release and tag it vVERSION, here only: nothing is pushed;
#      the script prints what to push.
set -eu
cd "$(dirname "$0")/../.."
version=${1:-}
dest=${2:-.build/release}
fail() { echo "make release: $*" >&2; exit 1; }

echo "$version" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' || fail "VERSION must be x.y.z (make release VERSION=0.2.0), got '$version'"
current=$(sed -n 's/^version: *//p' galaxy.yml)
newest=$(printf '%s\n%s\n' "$current" "$version" | sort -V | tail -n 1)
if [ "$newest" != "$version" ] || [ "$current" = "$version" ]; then
    # the first release may carry galaxy.yml's version if no release has it yet
    if [ "$current" != "$version" ] || grep -q "^  $version:" changelogs/changelog.yaml; then
        fail "VERSION $version is not newer than galaxy.yml's version $current"
    fi
fi
[ -z "$(git status --porcelain)" ] || fail "the tree has changes; commit or stash them first:
$(git status --short)"
! git rev-parse -q --verify "refs/tags/v$version" >/dev/null || fail "tag v$version exists already"
ls changelogs/fragments/*.yml >/dev/null 2>&1 || fail "no changelog fragments in changelogs/fragments: nothing to release"
antsibull-changelog lint || fail "the changelog fragments do not pass antsibull-changelog lint"

if tests/bed/green.sh check; then
    echo "make test passed on $(git rev-parse --short HEAD) already"
else
    echo "make test has not passed on $(git rev-parse --short HEAD) yet: running it"
    make test || fail "make test failed; nothing was released"
fi

# From here on the tree changes; a failure puts it back as it was (it was clean).
scratch=$(mktemp -d)
restore() {
    rm -rf "$scratch"
    if [ "${released:-}" != yes ]; then
        git checkout -q -- . && git clean -fdq -- CHANGELOG.md changelogs
        echo "make release: failed; the tree is back as it was" >&2
    fi
}
trap restore EXIT
sed -i "s/^version: .*/version: $version/" galaxy.yml
antsibull-changelog release --version "$version" --date "$(date -u +%F)"

mkdir -p "$dest"
tarball="$dest/freifunk-gateway-$version.tar.gz"
rm -f "$tarball"
ansible-galaxy collection build --output-path "$dest" .
[ -f "$tarball" ] || fail "the build wrote no $tarball"
ANSIBLE_COLLECTIONS_PATH=$scratch ansible-galaxy collection install -p "$scratch" "$tarball"
python3 tests/bed/check_docs.py "$scratch" .
ANSIBLE_COLLECTIONS_PATH=$scratch ansible-galaxy collection verify --offline -p "$scratch" freifunk.gateway

git add galaxy.yml CHANGELOG.md changelogs
git commit -q -m "Release $version"
git tag -a "v$version" -m "freifunk.gateway $version"
released=yes
echo "released $version: $tarball (sha256 $(sha256sum "$tarball" | cut -d' ' -f1))"
echo "commit $(git rev-parse --short HEAD) and tag v$version are local; to publish them:"
echo "  git push origin HEAD v$version"
