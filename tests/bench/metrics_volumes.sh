#!/bin/bash
# tests/bench/metrics_volumes.sh — the cost of a /metrics scrape with N iSCSI volumes
# staged (N helpers, default 20), against a real tgtd: median and p99 of 2,000 scrapes on
# one connection, pvnode's CPU per scrape, and the size of the text. Figures, not pass/fail.
# PERF=K: also the top K lines of a perf profile of pvnode during the scrapes; SCRAPES=K:
# that many scrapes (e.g. under valgrind: PVNODE=a wrapper that runs it under valgrind).
#   PVNODE=build/pvnode PVCTL=build/pvctl CSI_CALL=build/tests/csi/csi_call \
#   PVNODE_HELPER_DIR=build tests/bench/metrics_volumes.sh [N]        (root)
set -u
N=${1:-20}
. "$(dirname "$0")/../lib/iscsi.sh"
[ -x "${PVNODE:-}" ] && [ -x "${CSI_CALL:-}" ] || { echo "SKIP: set PVNODE and CSI_CALL"; exit 77; }
PVNODE_PID=""
ISCSI_EXTRA_CLEANUP='[ -n "$PVNODE_PID" ] && { kill -TERM $PVNODE_PID 2>/dev/null; wait $PVNODE_PID 2>/dev/null; }'
iscsi_test_init metrics-bench
IQN=iqn.2026-11.io.pvnode.test:mbench
tgt_add_target 1 $IQN || fail "tgt"
for i in $(seq 1 "$N"); do tgt_add_lun 1 "$i" "$T/lun$i.img" 32M || fail "lun $i"; done
mkdir -p "$T/a" "$T/allowed"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
EP="unix://$T/csi.sock"
"$PVNODE" --endpoint "$EP" --node-id a --state-dir "$T/a" --allowed-path "$T/allowed" --selinux off \
	--metrics-address "127.0.0.1:$PORT" --reconcile-interval 0 >"$T/pvnode.log" 2>&1 &
PVNODE_PID=$!
for _ in $(seq 100); do "$CSI_CALL" "$EP" Probe >/dev/null 2>&1 && break; sleep 0.05; done
CAP="volume_capability.mount.fs_type=ext4 volume_capability.access_mode.mode=SINGLE_NODE_WRITER"
for i in $(seq 1 "$N"); do
	out=$("$CSI_CALL" "$EP" CreateVolume name="v$i" capacity_range.required_bytes=$((32 << 20)) \
		"volume_capabilities[0].mount.fs_type=ext4" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
		parameters.driver=iscsi parameters.portal="$TGT_PORTAL" parameters.iqn=$IQN parameters.lun="$i") || fail "create v$i: $out"
	ctx=$(python3 -c 'import json,sys
v=json.loads(sys.argv[1])["volume"]
print(" ".join("volume_context.%s=%s" % kv for kv in v.get("volume_context",{}).items()))' "$out")
	"$CSI_CALL" "$EP" NodeStageVolume volume_id="v$i" staging_target_path="$T/allowed/stg/v$i" $CAP $ctx >/dev/null ||
		fail "stage v$i"
done
[ -n "${PERF:-}" ] && { perf record -q -g -p "$PVNODE_PID" -o "$T/perf.data" >/dev/null 2>&1 & PERF_PID=$!; sleep 0.5; }
python3 - "$PORT" "$PVNODE_PID" "$N" <<'PY'
import http.client, os, statistics, sys, time
port, pid, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(min(50, int(os.environ.get("SCRAPES", "2000")))):
    c.request("GET", "/metrics"); c.getresponse().read()
k, t, c0 = int(os.environ.get("SCRAPES", "2000")), [], cpu()
for _ in range(k):
    t0 = time.perf_counter(); c.request("GET", "/metrics"); body = c.getresponse().read(); t.append(time.perf_counter() - t0)
c1 = cpu()
t.sort()
print("metrics with %s iSCSI volumes staged: %d bytes, median %.2f ms, p99 %.2f ms, pvnode CPU %.0f us per scrape"
      % (n, len(body), statistics.median(t) * 1e3, t[int(k * 0.99)] * 1e3, (c1 - c0) / k * 1e6))
lines = body.decode().splitlines()
print("volume series: %d lines" % sum(1 for l in lines if 'volume="' in l))
rss = [float(l.split()[-1]) for l in lines if l.startswith("pvnode_helper_resident_memory_bytes{")]
if rss:
    print("helpers' resident memory (idle, after mkfs): %.1f MiB total, %.1f-%.1f MiB each"
          % (sum(rss) / 2**20, min(rss) / 2**20, max(rss) / 2**20))
PY
if [ -n "${PERF:-}" ]; then
	kill -INT $PERF_PID; wait $PERF_PID
	perf report -i "$T/perf.data" --stdio --no-children --sort symbol 2>/dev/null | grep -v "^#" | grep "%" | head -${PERF}
fi
for i in $(seq 1 "$N"); do "$CSI_CALL" "$EP" NodeUnstageVolume volume_id="v$i" staging_target_path="$T/allowed/stg/v$i" >/dev/null; done
