#!/bin/sh
# Runs inside the stock-kernel guest (boot.sh): the ip6tnl/ip6gre backend's contract, traffic
# and GRE tests, eBPF <-> ip6tnl interoperation, the eBPF backend over an IPv4 transport (the
# pre-6.3 decapsulation fallback), the MAG core + data plane registering with the real LMA
# daemon (backend auto: ip6tnl on this kernel), and the MAG data plane's batches of station
# changes (its nftables maps: kernels differ in what nf_tables accepts), its start-up sweep
# of stale source rules, and its ingress filter dropping another station's source addresses. A backend these tests
# need that the kernel lacks fails the lane (NETLMM_REQUIRE_BACKENDS) instead of skipping.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
export HOME=/tmp PYTHONDONTWRITEBYTECODE=1 PATH=/usr/sbin:/usr/bin:/sbin:/bin
export NETLMM_REQUIRE_BACKENDS=ip6tnl,ebpf
echo "stock-kernel lane: kernel $(uname -r)"
for module in ip6_tunnel ip6_gre sch_ingress cls_bpf veth; do modprobe "$module"; done
exec .venv/bin/python -m pytest -q -p no:cacheprovider --color=no \
  tests/netns/test_linux_dataplane.py tests/netns/test_tunnel_traffic.py \
  tests/netns/test_mag_lma_dataplane.py tests/netns/test_mag_dataplane_bursts.py \
  tests/netns/test_mag_dataplane_restart.py tests/hardening/test_ingress_filter.py \
  -k "ip6tnl or interoperate or mag_core or ipv4_transport or burst or stale or cannot_send"
