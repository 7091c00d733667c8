#!/bin/sh
# Start or stop one QEMU guest from the image that guest.sh builds.
#   guest-vm.sh start DIR   boot a guest whose state (overlay disk, pid, port,
#                           console log) lives in DIR; prints the SSH port
#                           once sshd answers
#   guest-vm.sh stop DIR    kill it and remove DIR
# Software emulation (TCG): /dev/kvm on these machines is not hardware
# virtualisation, and a stock kernel does not boot under it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
action=${1:?usage: guest-vm.sh start|stop DIR}
dir=${2:?usage: guest-vm.sh start|stop DIR}

if [ "$action" = stop ]; then
    if [ -f "$dir/qemu.pid" ]; then
        kill "$(cat "$dir/qemu.pid")" 2>/dev/null || true
    fi
    rm -rf "$dir"
    exit 0
fi
[ "$action" = start ] || { echo "usage: guest-vm.sh start|stop DIR" >&2; exit 2; }

image=$("$here/guest.sh")
mkdir -p "$dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
qemu-img create -q -f qcow2 -F raw -b "$image/rootfs.img" "$dir/disk.qcow2"
qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 2048 \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 panic=-1 net.ifnames=0" \
    -drive "file=$dir/disk.qcow2,if=virtio,format=qcow2" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0 \
    -display none -serial "file:$dir/console.log" \
    -daemonize -pidfile "$dir/qemu.pid"
echo "$port" > "$dir/port"
for _ in $(seq 1 100); do
    if ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
           -o ConnectTimeout=3 -i "$image/id_ed25519" -p "$port" root@127.0.0.1 true; then
        echo "$port"
        exit 0
    fi
    sleep 3
done
echo "guest-vm.sh: no SSH on port $port after 5 minutes; console: $dir/console.log" >&2
tail -20 "$dir/console.log" >&2
exit 1
