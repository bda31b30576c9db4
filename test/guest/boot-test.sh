#!/usr/bin/env bash
# boot-test.sh [IMAGE] — builds the test guest image if needed (default
# ${XDG_CACHE_HOME:-~/.cache}/nimbus-guest/nimbus-guest.qcow2, rebuilt
# when build-image.sh or init is newer), then boots it under QEMU:
# with a config drive on IDE, on virtio-scsi, and without one. Each boot
# must print its console line and power off on system_powerdown (QMP).
# Prints the time to the line. ACCEL=auto|tcg|kvm (default auto: KVM if
# it boots the guest within 5 s, else TCG).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
image=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/nimbus-guest/nimbus-guest.qcow2}

command -v qemu-system-x86_64 >/dev/null ||
	{ echo "boot-test: qemu-system-x86_64 not found (Debian package qemu-system-x86)" >&2; exit 1; }
if [ ! -s "$image" ] || [ "$here/build-image.sh" -nt "$image" ] || [ "$here/init" -nt "$image" ]; then
	"$here/build-image.sh" "$image"
fi

cd "$root"
exec go run ./test/guest/bootcheck -image "$image" -accel "${ACCEL:-auto}" -bus ide,virtio-scsi,none
