#!/bin/sh
# initramfs.sh KVER OUT: a busybox initramfs for Debian's kernel KVER whose /init loads the
# virtio and 9p modules, mounts the host's root read-only (9p tag "hostroot"), and runs the
# command given as `netlmm_cmd=PATH` on the kernel command line inside it (with writable /tmp,
# /run and /var/tmp), prints "GUEST-EXIT <status>" and powers off. `netlmm_keep=DIR` (the
# checkout) stays visible when it lies under one of those fresh tmpfs mounts: CI clones
# into /tmp as often as not.
set -eu
KVER=$1; OUT=$2
MODS=/lib/modules/$KVER/kernel
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin" "$WORK/modules" "$WORK/proc" "$WORK/sys" "$WORK/dev" "$WORK/host"
cp /bin/busybox "$WORK/bin/busybox"
for tool in sh mount insmod chroot echo sed poweroff sleep cat; do ln -s busybox "$WORK/bin/$tool"; done
n=10
for module in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
              drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci fs/netfs/netfs \
              fs/fscache/fscache net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p; do
  [ -f "$MODS/$module.ko" ] || continue   # built in on some kernels
  cp "$MODS/$module.ko" "$WORK/modules/$n-$(basename "$module").ko"; n=$((n + 1))
done
cat > "$WORK/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc; mount -t devtmpfs dev /dev
for module in /modules/*.ko; do insmod "$module" 2>/dev/null; done
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /host; then
  echo "GUEST-EXIT 125 (the host root did not mount over 9p)"; poweroff -f
fi
cmd=$(sed -n 's/.*netlmm_cmd=\([^ ]*\).*/\1/p' /proc/cmdline)
keep=$(sed -n 's/.*netlmm_keep=\([^ ]*\).*/\1/p' /proc/cmdline)
exec chroot /host /bin/sh -c "mount -t proc proc /proc; mount -t sysfs sys /sys;
  mount -t devtmpfs dev /dev; mkdir /dev/netlmm-keep;
  case '$keep' in /tmp/*|/run/*|/var/tmp/*) mount --bind '$keep' /dev/netlmm-keep;; esac;
  mount -t tmpfs tmp /tmp; mount -t tmpfs run /run; mount -t tmpfs vartmp /var/tmp;
  case '$keep' in /tmp/*|/run/*|/var/tmp/*) mkdir -p '$keep'; mount --bind /dev/netlmm-keep '$keep';; esac;
  mkdir -p /run/netns; sh $cmd; echo GUEST-EXIT \$?;
  echo o > /proc/sysrq-trigger; sleep 60"
INIT
chmod +x "$WORK/init"
(cd "$WORK" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$OUT"
