#!/bin/bash
# csi_metrics_io.sh — the data path's counters per volume, from the helpers, in pvnode's
# metrics and pvctl describe: a real tgtd LUN staged through CSI (pvnode-iscsi-fuse +
# loop + ext4); N bytes written with O_DIRECT and fsync'd move
# pvnode_volume_written_bytes_total by at least N and the write and flush request
# counts, reading them back moves pvnode_volume_read_bytes_total by at least N, errors
# stay 0, the helper's resident memory is there; a file volume (no helper) has no
# series; a helper stopped with SIGSTOP does not stall a scrape; describe shows the same
# counters; after unstage the series are gone. The
# scrape is parsed with the reference parser (python3-prometheus-client). Prints the
# cost of a scrape with METRICS_IO_VOLUMES (default 3) iSCSI volumes staged.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
[ -x "${PVNODE:-}" ] && [ -x "${CSI_CALL:-}" ] || { echo "SKIP: pvnode or csi_call not built"; exit 77; }
"$PVCTL" --version 2>/dev/null | grep -q iscsi || { echo "SKIP: the iscsi driver is not built"; exit 77; }
PY=/usr/bin/python3
$PY -c 'import prometheus_client' 2>/dev/null || { echo "SKIP: python3-prometheus-client is not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl is needed"; exit 77; }
PVNODE_PID=""
ISCSI_EXTRA_CLEANUP='[ -n "$PVNODE_PID" ] && { kill -TERM $PVNODE_PID 2>/dev/null; wait $PVNODE_PID 2>/dev/null; }'
iscsi_test_init csi-metrics-io
NVOL=${METRICS_IO_VOLUMES:-3}
IQN=iqn.2026-11.io.pvnode.test:metricsio
tgt_add_target 1 $IQN || fail "tgt setup"
for i in $(seq 1 "$NVOL"); do
	tgt_add_lun 1 "$i" "$T/lun$i.img" 64M || fail "tgt lun $i"
done
ALLOWED="$T/allowed"
STATE="$T/node-a"
mkdir -p "$ALLOWED" "$STATE"
PORT=$(free_port)
M="http://127.0.0.1:$PORT/metrics"
EP="unix://$T/csi.sock"
"$PVNODE" --endpoint "$EP" --node-id node-a --state-dir "$STATE" --allowed-path "$ALLOWED" --selinux off \
	--metrics-address "127.0.0.1:$PORT" >>"$T/pvnode.log" 2>&1 &
PVNODE_PID=$!
for _ in $(seq 100); do "$CSI_CALL" "$EP" Probe >/dev/null 2>&1 && break; sleep 0.05; done
"$CSI_CALL" "$EP" Probe >/dev/null 2>&1 || fail "pvnode did not start: $(tail -5 "$T/pvnode.log")"

BASE="{}"
CAP="volume_capability.mount.fs_type=ext4 volume_capability.access_mode.mode=SINGLE_NODE_WRITER"
stage() {   # stage NAME LUN|file
	if [ "$2" = file ]; then
		expect OK CreateVolume name="$1" capacity_range.required_bytes=$((32 << 20)) \
			"volume_capabilities[0].mount.fs_type=ext4" \
			"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=file
	else
		expect OK CreateVolume name="$1" capacity_range.required_bytes=$((64 << 20)) \
			"volume_capabilities[0].mount.fs_type=ext4" \
			"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
			parameters.driver=iscsi parameters.portal="$TGT_PORTAL" parameters.iqn=$IQN parameters.lun="$2"
	fi
	expect OK NodeStageVolume volume_id="$1" staging_target_path="$ALLOWED/stg/$1" $CAP $(context_args "$OUT")
}
for i in $(seq 1 "$NVOL"); do stage "v$i" "$i"; done
stage f1 file

check() {   # check PYTHON-ASSERTIONS: parse a scrape, run the assertions (v, fam, and $BASE as `base`)
	curl -sf "$M" >"$T/scrape" || fail "GET /metrics failed"
	$PY - "$T/scrape" "$1" "$BASE" <<'PY' || fail "metrics: $(cat "$T/scrape.err")"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
fam = {f.name: f for f in text_string_to_metric_families(text)}   # raises on any malformed line
base = json.loads(sys.argv[3])
def v(name, **labels):
    for f in fam.values():
        for s in f.samples:
            if s.name == name and all(s.labels.get(k) == x for k, x in labels.items()):
                return s.value
    return None
try:
    exec(sys.argv[2])
except AssertionError as e:
    open(sys.argv[1] + ".err", "w").write("assertion failed: %s\n%s" % (e, text))
    sys.exit(1)
PY
}
snapshot() {   # the counters of v1 now, as JSON
	curl -sf "$M" | $PY -c '
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        if s.labels.get("volume") == "v1":
            out[s.name + "/" + s.labels.get("op", "")] = s.value
print(json.dumps(out))'
}

check '
assert fam["pvnode_volume_written_bytes"].type == "counter"   # the parser drops _total
assert fam["pvnode_helper_resident_memory_bytes"].type == "gauge"
for i in range(1, '"$NVOL"' + 1):
    n = "v%d" % i
    assert v("pvnode_volume_written_bytes_total", volume=n, driver="iscsi") is not None, n
    assert v("pvnode_volume_errors_total", volume=n, driver="iscsi") == 0, n
    assert v("pvnode_helper_resident_memory_bytes", volume=n, driver="iscsi") > 1 << 20, n
    anon = v("pvnode_helper_anonymous_memory_bytes", volume=n, driver="iscsi")
    assert 0 < anon < v("pvnode_helper_resident_memory_bytes", volume=n, driver="iscsi"), n
assert v("pvnode_volume_written_bytes_total", volume="f1") is None, "a file volume has no helper"
assert v("pvnode_volumes_staged", driver="iscsi") == '"$NVOL"'
'
BASE=$(snapshot)
N=$((24 << 20))
dd if=/dev/urandom of="$ALLOWED/stg/v1/data" bs=1M count=$((N >> 20)) oflag=direct conv=fsync status=none ||
	fail "write through the iSCSI volume"
check '
w = v("pvnode_volume_written_bytes_total", volume="v1", driver="iscsi")
assert w - base["pvnode_volume_written_bytes_total/"] >= '"$N"', ("written", w, base)
assert v("pvnode_volume_requests_total", volume="v1", op="write") > base["pvnode_volume_requests_total/write"]
assert v("pvnode_volume_requests_total", volume="v1", op="flush") > base["pvnode_volume_requests_total/flush"]
assert v("pvnode_volume_errors_total", volume="v1") == 0
assert v("pvnode_volume_written_bytes_total", volume="v2") < '"$N"', "another volume counted v1s bytes"
'
echo "v1 after writing $N bytes: $(grep 'volume="v1"' "$T/scrape" | grep -v '^#' | tr '\n' ';')"
BASE=$(snapshot)
echo 3 >/proc/sys/vm/drop_caches
dd if="$ALLOWED/stg/v1/data" of=/dev/null bs=1M iflag=direct status=none || fail "read back"
check '
r = v("pvnode_volume_read_bytes_total", volume="v1", driver="iscsi")
assert r - base["pvnode_volume_read_bytes_total/"] >= '"$N"', ("read", r, base)
assert v("pvnode_volume_requests_total", volume="v1", op="read") > base["pvnode_volume_requests_total/read"]
assert v("pvnode_volume_errors_total", volume="v1") == 0
'

# a helper that does not run (stopped, as if stuck on its backend) does not stall a scrape
hpid=$(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $STATE/run/v2/" | head -1)
[ -n "$hpid" ] || fail "no helper pid for v2"
kill -STOP "$hpid"
t0=$(date +%s%N)
curl -sf --max-time 5 "$M" >"$T/stopped.scrape" || { kill -CONT "$hpid"; fail "a scrape with a stopped helper failed"; }
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -CONT "$hpid"
grep -q 'pvnode_volume_written_bytes_total{volume="v2",driver="iscsi"}' "$T/stopped.scrape" ||
	fail "the stopped helper's volume is missing from the scrape"
[ "$ms" -lt 2000 ] || fail "a scrape with a stopped helper took $ms ms"
echo "scrape with v2's helper stopped (SIGSTOP): $ms ms, its counters still there"

# describe reads the same file
"$PVCTL" --state-dir "$STATE" --node-id node-a --allowed-path "$ALLOWED" describe v1 >"$T/describe" ||
	fail "describe: $(cat "$T/describe")"
grep -q '^  Helper:       pid [0-9]* (running), [0-9.]* MiB resident ([0-9.]* [KM]iB its own)' "$T/describe" || fail "describe helper: $(cat "$T/describe")"
w=$(sed -n 's/^  Data path:    read .* written [0-9.]* [KMG]iB (\([0-9]*\) B) in [0-9]* requests,$/\1/p' "$T/describe")
[ -n "$w" ] && [ "$w" -ge "$N" ] || fail "describe does not show $N bytes written: $(cat "$T/describe")"
grep -q ' 0 errors$' "$T/describe" || fail "describe errors: $(cat "$T/describe")"
grep -A2 '^  Helper' "$T/describe"

# Figures: the cost of a scrape (one keep-alive connection) with $NVOL helpers staged.
$PY - "$PORT" "$NVOL" <<'PY'
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
n, t0 = 200, time.perf_counter()
for _ in range(n):
    c.request("GET", "/metrics"); r = c.getresponse(); body = r.read()
print("metrics: %.2f ms per scrape with %s iSCSI volumes staged (%d bytes)" % ((time.perf_counter() - t0) * 1e3 / n, sys.argv[2], len(body)))
PY

expect OK NodeUnstageVolume volume_id=v1 staging_target_path="$ALLOWED/stg/v1"
check 'assert v("pvnode_volume_written_bytes_total", volume="v1") is None, "an unstaged volume still reports"'
for i in $(seq 2 "$NVOL"); do expect OK NodeUnstageVolume volume_id="v$i" staging_target_path="$ALLOWED/stg/v$i"; done
expect OK NodeUnstageVolume volume_id=f1 staging_target_path="$ALLOWED/stg/f1"
echo PASS
