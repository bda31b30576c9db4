#!/usr/bin/env bash
# build-image.sh OUT.qcow2 — builds the Nimbus test guest image.
#
# A small bootable disk (qcow2, 64 MiB virtual, ~16 MiB on disk) made only
# from Debian packages, with no root, loop devices or mounts:
#
#   linux-image-cloud-amd64   the kernel (the package it depends on), and
#                             from it the few modules the guest loads
#   busybox-static            the whole userland, in an initramfs
#   syslinux, syslinux-common the boot loader (MBR + FAT boot sector)
#   mtools, dosfstools        to make and fill the FAT partition
#
# The .debs are fetched with apt-get download into
# ${XDG_CACHE_HOME:-~/.cache}/nimbus-guest/debs (checked against apt's
# SHA256, so re-runs need no network) and unpacked with dpkg-deb -x into
# a temporary directory; the build tools run from there too, so the host
# needs only apt-get, dpkg-deb, qemu-img and coreutils.
#
# The disk: an MBR (syslinux's mbr.bin) with one bootable FAT16 partition
# holding ldlinux.sys, syslinux.cfg, the kernel and initrd.gz. The kernel
# runs with "console=ttyS0 quiet"; the initramfs's /init (test/guest/init)
# reads the config drive (label config-2) and prints one line to the
# serial console:
#
#   nimbus-guest: instance <uuid> key <key name|none>
#
# once the ACPI power button works; the button powers it off at once.
# Boot it with e.g.
#
#   qemu-system-x86_64 -accel tcg -m 256 -nographic \
#     -drive file=OUT.qcow2,if=virtio -cdrom config-drive.iso
#
# The config drive can be an IDE CD-ROM on the default "pc" machine
# (ata_piix), a virtio-scsi CD-ROM or disk, or a virtio disk. The cloud
# kernel has no AHCI driver, so a SATA CD-ROM on q35 is not seen.
#
# Idempotent: the output is written to a temporary file and renamed.
set -euo pipefail

prog=build-image
die() {
	echo "$prog: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: $0 OUT.qcow2"
out=$1
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/nimbus-guest
debs=$cache/debs

# Modules the guest loads, in this order (their dependencies come along).
modules=(
	evdev button                 # ACPI power button as an input device
	isofs                        # the config drive's file system
	sr_mod sd_mod                # SCSI CD-ROMs and disks
	virtio_pci virtio_blk virtio_scsi
	ata_piix ata_generic         # IDE CD-ROM of QEMU's pc machine
)
disk_mib=64 # virtual size of the disk
part_lba=2048

for t in apt-get apt-cache dpkg-deb qemu-img sha256sum; do
	command -v "$t" >/dev/null || die "$t not found (install apt, dpkg, qemu-utils and coreutils)"
done
[ "$(dpkg --print-architecture)" = amd64 ] || die "only amd64 hosts are supported"

mkdir -p "$(dirname "$out")" 2>/dev/null || die "cannot create the directory of $out"
mkdir -p "$debs" 2>/dev/null || die "cannot create cache $debs"
work=$(mktemp -d "${TMPDIR:-/tmp}/nimbus-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# records PKG... prints apt's records of the candidate versions of PKGs
# (one apt-cache call: each takes a good fraction of a second); show PKG
# picks PKG's record out of $records; field FIELD reads a field of a
# record on standard input.
records() { apt-cache show --no-all-versions "$@" 2>/dev/null || true; }
show() {
	awk -v p="$1" 'BEGIN { RS = "" } $0 ~ "(^|\n)Package: " p "(\n|$)" { print; exit }' <<<"$records"
}
field() { sed -n "s/^$1: //p" | head -n 1; }

# fetch PKG prints the path of the cached .deb of PKG's candidate version,
# downloading it first when the cache has no good copy.
fetch() {
	local pkg=$1 info ver arch sha file tmp
	info=$(show "$pkg")
	ver=$(field Version <<<"$info")
	[ -n "$ver" ] || die "apt knows no package $pkg (run apt-get update?)"
	arch=$(field Architecture <<<"$info")
	sha=$(field SHA256 <<<"$info")
	file=$debs/${pkg}_${ver//:/%3a}_${arch}.deb
	if [ -s "$file" ] && echo "$sha  $file" | sha256sum -c --status - 2>/dev/null; then
		echo "$file"
		return
	fi
	tmp=$(mktemp -d "$debs/.dl.XXXXXX")
	local opts=(-q)
	[ "$(id -u)" = 0 ] && opts+=(-o APT::Sandbox::User=root)
	if ! (cd "$tmp" && apt-get download "${opts[@]}" "$pkg=$ver" >/dev/null); then
		rm -rf "$tmp"
		die "apt-get download $pkg=$ver failed (run apt-get update?)"
	fi
	mv "$tmp"/*.deb "$file"
	rmdir "$tmp"
	echo "$sha  $file" | sha256sum -c --status - || die "$file: SHA256 does not match apt's"
	echo "$file"
}

# The kernel: the metapackage names the versioned package it depends on.
kpkg=$(records linux-image-cloud-amd64 | field Depends | sed 's/[ ,(].*//')
[ -n "$kpkg" ] || die "cannot resolve linux-image-cloud-amd64 (run apt-get update?)"
tool_pkgs=(busybox-static syslinux syslinux-common mtools dosfstools)
records=$(records "$kpkg" "${tool_pkgs[@]}")

kroot=$work/kernel
tools=$work/tools
mkdir -p "$kroot" "$tools"
dpkg-deb -x "$(fetch "$kpkg")" "$kroot"
for p in "${tool_pkgs[@]}"; do
	dpkg-deb -x "$(fetch "$p")" "$tools"
done
export PATH=$tools/usr/bin:$tools/usr/sbin:$tools/bin:$tools/sbin:$PATH
export MTOOLS_SKIP_CHECK=1

bb=$tools/bin/busybox
[ -x "$bb" ] || bb=$tools/usr/bin/busybox
[ -x "$bb" ] || die "busybox-static has no busybox binary"
vmlinuz=$(find "$kroot/boot" -name 'vmlinuz-*' | head -n 1)
[ -n "$vmlinuz" ] || die "$kpkg has no /boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}
mbr=$tools/usr/lib/syslinux/mbr/mbr.bin
ldlinux_c32=$tools/usr/lib/syslinux/modules/bios/ldlinux.c32
for f in "$vmlinuz" "$mbr" "$ldlinux_c32"; do
	[ -f "$f" ] || die "missing $f"
done
for t in syslinux mcopy mkfs.fat; do
	command -v "$t" >/dev/null || die "$t missing from the unpacked packages"
done

# --- initramfs -----------------------------------------------------------
ird=$work/initramfs
mkdir -p "$ird"/{bin,dev,etc/acpi/PWRF,lib/modules/"$kver",mnt,proc,run,sys,tmp,var/log,var/run,usr}
cp "$bb" "$ird/bin/busybox"
for a in $("$ird/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -s busybox "$ird/bin/$a"
done
ln -s bin "$ird/sbin"
ln -s ../bin "$ird/usr/bin"
ln -s ../bin "$ird/usr/sbin"
install -m 0755 "$here/init" "$ird/init"
printf '#!/bin/sh\nexec poweroff -f\n' >"$ird/etc/acpi/PWRF/00000080"
chmod 0755 "$ird/etc/acpi/PWRF/00000080"
printf '%s\n' "${modules[@]}" >"$ird/etc/modules"

# Copy the modules with everything they depend on, using a modules.dep of
# the whole kernel, then index the copy for the guest's modprobe.
kmods=$kroot/lib/modules/$kver
"$bb" depmod -b "$kroot" "$kver" || die "depmod of $kver failed"
want=(scsi_mod "${modules[@]}")
declare -A seen=()
while [ ${#want[@]} -gt 0 ]; do
	m=${want[0]}
	want=("${want[@]:1}")
	m=${m//-/_}
	[ -z "${seen[$m]:-}" ] || continue
	seen[$m]=1
	line=$(grep -E "(^|/)${m//_/[_-]}\.ko(\.[a-z]+)?:" "$kmods/modules.dep" || true)
	if [ -z "$line" ]; then
		grep -qE "(^|/)${m//_/[_-]}\.ko" "$kmods/modules.builtin" ||
			die "module $m is neither in $kpkg nor built in"
		continue
	fi
	path=${line%%:*}
	mkdir -p "$ird/lib/modules/$kver/$(dirname "$path")"
	cp "$kmods/$path" "$ird/lib/modules/$kver/$path"
	for d in ${line#*:}; do
		d=${d##*/}
		want+=("${d%%.ko*}")
	done
done
cp "$kmods"/modules.builtin "$kmods"/modules.order "$ird/lib/modules/$kver/"
"$bb" depmod -b "$ird" "$kver" || die "depmod of the initramfs failed"

(cd "$ird" && find . | LC_ALL=C sort | "$bb" cpio -o -H newc -R 0:0 2>/dev/null) |
	gzip -9n >"$work/initrd.gz"

# --- the FAT partition and the disk ----------------------------------------
part=$work/part.img
part_kib=$(((disk_mib * 1024) - (part_lba / 2)))
mkfs.fat -C -F 16 -n NIMBUS -i 4e494d42 -h "$part_lba" "$part" "$part_kib" >/dev/null ||
	die "mkfs.fat failed"
cat >"$work/syslinux.cfg" <<'EOF'
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.gz
  APPEND console=ttyS0 quiet
EOF
mcopy -i "$part" "$vmlinuz" ::vmlinuz || die "copying the kernel failed"
mcopy -i "$part" "$work/initrd.gz" "$work/syslinux.cfg" "$ldlinux_c32" :: ||
	die "copying the initrd and boot loader files failed"
syslinux --install "$part" || die "syslinux --install failed"

# le32 N prints N as 4 little-endian bytes.
le32() {
	printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))"
	printf "\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"
}
# chs LBA prints the 3-byte CHS address of LBA (255 heads, 63 sectors).
chs() {
	local c=$(($1 / (255 * 63))) h=$((($1 / 63) % 255)) s=$(($1 % 63 + 1))
	if [ $c -gt 1023 ]; then
		printf '\xfe\xff\xff'
		return
	fi
	printf "\\x$(printf %02x $h)\\x$(printf %02x $((s | ((c >> 2) & 0xc0))))\\x$(printf %02x $((c & 255)))"
}

raw=$work/disk.raw
part_sectors=$((part_kib * 2))
truncate -s "${disk_mib}M" "$raw"
dd if="$mbr" of="$raw" bs=440 count=1 conv=notrunc status=none
{
	printf '\x80'
	chs $part_lba
	printf '\x0e' # FAT16, LBA
	chs $((part_lba + part_sectors - 1))
	le32 $part_lba
	le32 $part_sectors
} | dd of="$raw" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$raw" bs=1 seek=510 conv=notrunc status=none
dd if="$part" of="$raw" bs=512 seek=$part_lba conv=notrunc status=none

tmp_out=$(mktemp "$out.XXXXXX")
qemu-img convert -q -f raw -O qcow2 "$raw" "$tmp_out" || { rm -f "$tmp_out"; die "qemu-img convert failed"; }
chmod 0644 "$tmp_out"
mv "$tmp_out" "$out"
echo "$prog: wrote $out (kernel $kpkg, $(du -k "$out" | cut -f1) KiB)"
