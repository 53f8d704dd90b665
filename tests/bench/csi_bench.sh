#!/bin/bash
# csi_bench.sh — pvnode figures over CSI: Probe and NodeGetCapabilities latency over
# 10,000 sequential calls, 100 file-driver volumes created + staged + published from 16
# client threads (calls/s, errors), then torn down; pvnode resident memory idle, at
# peak (VmHWM), right after the load and 2 s later. Run: meson test -C build-csi --benchmark csi_bench -v
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
[ -x "${CSI_BENCH:-}" ] || csi_skip "csi_bench not built"
VOLUMES=${CSI_BENCH_VOLUMES:-100}
THREADS=${CSI_BENCH_THREADS:-16}
CALLS=${CSI_BENCH_CALLS:-10000}
csi_setup
csi_start --workers 8
rss() { awk -v k="$1:" '$1 == k { print $2 " kB" }' "/proc/$PVNODE_PID/status"; }

echo "pvnode RSS idle: $(rss VmRSS)"
"$CSI_BENCH" latency "$EP" Probe "$CALLS"
"$CSI_BENCH" latency "$EP" NodeGetCapabilities "$CALLS"
echo "pvnode RSS after $((2 * CALLS)) calls: $(rss VmRSS)"
"$CSI_BENCH" load "$EP" "$ALLOWED" "$VOLUMES" "$THREADS"
echo "pvnode RSS peak (VmHWM): $(rss VmHWM), after load: $(rss VmRSS)"
sleep 2   # pvnode trims its heap once quiet for a second
echo "pvnode RSS 2 s after the load: $(rss VmRSS) (anonymous $(rss RssAnon))"
left=$(findmnt -rn -o TARGET | grep -c "^$T/" || true)
[ "$left" = 0 ] || csi_fail "$left mounts left after teardown"
echo PASS
