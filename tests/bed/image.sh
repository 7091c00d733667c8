#!/bin/sh
# Build the local test image localhost/freifunk-gateway-test:SUITE from this
# machine's own apt sources, unless an image built from the same recipe is
# already there. No registry is involved.
#   image.sh SUITE        (bookworm = Debian 12, trixie = Debian 13)
set -eu
suite=${1:?usage: image.sh SUITE}
here=$(cd "$(dirname "$0")" && pwd)
image="localhost/freifunk-gateway-test:$suite"
# What goes into every test container: systemd as PID 1, Python for Ansible,
# iproute2/ping for the network checks.
packages="python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,iputils-ping,procps,sudo,ca-certificates"

recipe=$( { cat "$here/image.sh" "$here/apt-sources.sh"; echo "$suite $packages"; } | sha256sum | cut -c1-16)
have=$(podman image inspect --format '{{ index .Labels "recipe" }}' "$image" 2>/dev/null || true)
if [ "$have" = "$recipe" ]; then
    echo "image $image is current (recipe $recipe)"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/apt-sources.sh" "$suite" > "$work/debian.sources"
echo "building $image (recipe $recipe)"
# shellcheck disable=SC2016 # "$1" is the rootfs, expanded by mmdebstrap
mmdebstrap --quiet --variant=minbase --include="$packages" --skip=cleanup/apt/lists \
    --customize-hook='rm -f "$1"/etc/machine-id "$1"/var/lib/dbus/machine-id; touch "$1"/etc/machine-id' \
    "$suite" "$work/rootfs.tar" "$work/debian.sources"
podman import --quiet \
    --change "LABEL recipe=$recipe" \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change 'ENV container=podman' \
    "$work/rootfs.tar" "$image" >/dev/null
echo "built $image"
