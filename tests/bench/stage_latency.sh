#!/bin/bash
# stage_latency.sh — NodeStageVolume / NodePublishVolume latency through CSI on volumes
# already formatted (the first stage, with mkfs, is left out): the figures issue 14 holds
# the data-path work to (file stage 16 ms, publish 10 ms p99 on a quiet machine). pvnode's
# own timing ("<Method> ok (X ms)" in its log), N cycles of stage, publish, unpublish,
# unstage on one file volume, with the load average printed. Not a timed test.
#   CSI_CALL=... PVNODE=... tests/bench/stage_latency.sh [cycles]    (or meson test --benchmark stage_latency)
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
N=${1:-${STAGE_CYCLES:-50}}
csi_setup
csi_start
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
create_volume lat $((64 << 20))
CTX=$(context_args "$OUT")
STG="$ALLOWED/stg/lat" TGT="$ALLOWED/pods/lat"
mkdir -p "$ALLOWED/pods"
cycle() {
	expect OK NodeStageVolume volume_id=lat staging_target_path="$STG" $(cap_mount) $CTX
	expect OK NodePublishVolume volume_id=lat staging_target_path="$STG" target_path="$TGT" $(cap_mount) $CTX
	expect OK NodeUnpublishVolume volume_id=lat target_path="$TGT"
	expect OK NodeUnstageVolume volume_id=lat staging_target_path="$STG"
}
cycle   # the first: mkfs
mark=$(wc -l <"$T/pvnode.log")
for _ in $(seq "$N"); do cycle; done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
tail -n +"$((mark + 1))" "$T/pvnode.log" | python3 -c '
import re, sys
lines = sys.stdin.read().splitlines()
for m in ("NodeStageVolume", "NodePublishVolume", "NodeUnpublishVolume", "NodeUnstageVolume"):
    v = sorted(float(x.group(1)) for x in (re.search(m + r" ok \(([0-9.]+) ms\)", l) for l in lines) if x)
    if v:
        q = lambda f: v[min(len(v) - 1, int(len(v) * f))]
        print("  file %-20s %d calls, p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (m, len(v), q(0.5), q(0.99), v[-1]))'
echo PASS
