#!/bin/sh
# Build the QEMU guest image for the real-kernel scenario: Debian 12 with
# Debian's own kernel (L2TP, batman-adv as modules), systemd, sshd, and a test
# key for root. Built from this machine's own apt sources, cached in
# .build/guest/ and rebuilt only when the recipe changes.
#   guest.sh            build if needed; prints the folder
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/.build/guest"
suite=bookworm
packages="linux-image-amd64,initramfs-tools,systemd-sysv,udev,dbus,iproute2,kmod,python3,python3-apt,openssh-server,iputils-ping,procps,sudo,ca-certificates"
# Preinstalled to spare minutes of installs under software emulation: what
# the tunneldigger role installs (its installs from scratch are tested in
# containers), and what builds the tunneldigger client for the test nodes.
packages="$packages,python3-venv,python3-setuptools-whl,python3-wheel-whl,build-essential,cmake,pkg-config,libnl-3-dev,libnl-genl-3-dev"
mkdir -p "$out"

# The key Ansible logs in with; made here, never committed.
[ -f "$out/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C freifunk-gateway-test -f "$out/id_ed25519"

recipe=$( { cat "$here/guest.sh" "$here/apt-sources.sh"; echo "$suite $packages"; cat "$out/id_ed25519.pub"; } | sha256sum | cut -c1-16)
if [ "$(cat "$out/recipe" 2>/dev/null)" = "$recipe" ] && [ -f "$out/rootfs.img" ]; then
    echo "$out"
    exit 0
fi

# Only the folder goes to stdout (callers read it with $(...)); what the
# build prints (mkfs.ext4 writes to stdout even with -q) goes to stderr.
exec 3>&1 1>&2
echo "building the QEMU guest image (recipe $recipe)"
rm -f "$out/recipe" "$out/rootfs.img"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/apt-sources.sh" "$suite" > "$work/debian.sources"
cp "$out/id_ed25519.pub" "$work/authorized_keys"
# shellcheck disable=SC2016 # "$1" is the rootfs, expanded by mmdebstrap
mmdebstrap --quiet --variant=minbase --include="$packages" --skip=cleanup/apt/lists \
    --customize-hook='echo freifunk-guest > "$1/etc/hostname"' \
    --customize-hook='echo "/dev/vda / ext4 defaults 0 1" > "$1/etc/fstab"' \
    --customize-hook='mkdir -p "$1/root/.ssh" && chmod 700 "$1/root/.ssh"' \
    --customize-hook="copy-in $work/authorized_keys /root/.ssh" \
    --customize-hook='printf "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n" > "$1/etc/systemd/network/10-uplink.network"' \
    --customize-hook='chroot "$1" systemctl enable systemd-networkd ssh' \
    --customize-hook='rm -f "$1/etc/machine-id"; touch "$1/etc/machine-id"' \
    "$suite" "$work/rootfs.tar" "$work/debian.sources"
mkdir "$work/rootfs"
tar -C "$work/rootfs" -xf "$work/rootfs.tar"
cp "$work/rootfs/boot/"vmlinuz-* "$out/vmlinuz"
cp "$work/rootfs/boot/"initrd.img-* "$out/initrd.img"
mkfs.ext4 -q -F -L root -d "$work/rootfs" "$out/rootfs.img" 3G
echo "$recipe" > "$out/recipe"
echo "$out" >&3
