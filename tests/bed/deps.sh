#!/bin/sh
# Install the Debian packages the test bed needs, if any are missing.
# Needs root (as on the CI machines); prints what it installs.
set -eu
packages="podman runc mmdebstrap uidmap slirp4netns containernetworking-plugins
  fastd socat git make python3-venv python3-pip python3-setuptools-whl python3-wheel-whl
  qemu-system-x86 qemu-utils e2fsprogs openssh-client shellcheck"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq $missing >/dev/null
