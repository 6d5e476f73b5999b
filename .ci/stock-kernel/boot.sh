#!/bin/sh
# boot.sh SCRIPT [TIMEOUT]: run SCRIPT (an absolute path on this host) under Debian's stock kernel
# in QEMU (software emulation), on this host's root shared read-only; exits with the script's
# status. Needs qemu-system-x86, linux-image-amd64 and busybox-static (.ci/setup installs them).
set -eu
SCRIPT=$1; LIMIT=${2:-900}
KERNEL=$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)
[ -n "$KERNEL" ] || { echo "stock-kernel lane: no Debian kernel in /boot (linux-image-amd64)"; exit 2; }
KVER=${KERNEL#/boot/vmlinuz-}
CACHE=${NETLMM_GUEST_CACHE:-/var/tmp/netlmm-stock-kernel}
mkdir -p "$CACHE"
# The image is rebuilt whenever initramfs.sh changes.
INITRD=$CACHE/initramfs-$KVER-$(cksum < "$(dirname "$0")/initramfs.sh" | cut -d' ' -f1).cpio.gz
[ -s "$INITRD" ] || sh "$(dirname "$0")/initramfs.sh" "$KVER" "$INITRD"
KEEP=$(cd "$(dirname "$0")/../.." && pwd)
LOG=$(mktemp)
# /dev/kvm here runs only PVM guests: plain TCG.
timeout "$LIMIT" qemu-system-x86_64 -accel tcg -m 2048 -smp 2 -cpu max -nographic -no-reboot \
  -kernel "$KERNEL" -initrd "$INITRD" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 netlmm_cmd=$SCRIPT netlmm_keep=$KEEP" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -nic none -serial mon:stdio -display none < /dev/null | tr -d '\r' | tee "$LOG" || true
STATUS=$(sed -n 's/^GUEST-EXIT \([0-9]*\).*/\1/p' "$LOG" | tail -n 1)
rm -f "$LOG"
[ -n "$STATUS" ] || { echo "stock-kernel lane: the guest ended without a status (timeout ${LIMIT}s?)"; exit 124; }
exit "$STATUS"
