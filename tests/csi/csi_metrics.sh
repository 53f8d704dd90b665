#!/bin/bash
# csi_metrics.sh — pvnode --metrics-address: Prometheus text on /metrics, parsed with the
# reference parser (python3-prometheus-client): CSI calls by method and code, latency
# histograms consistent with them, volumes staged and published per driver, fence
# refusals, reconcile findings (a publish mount removed behind pvnode's back), process
# memory; 404 / 405 for other paths and methods; a bad or taken address stops the start.
# Prints the cost of a scrape and pvnode's resident memory with and without metrics.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
PY=/usr/bin/python3
$PY -c 'import prometheus_client' 2>/dev/null || csi_skip "python3-prometheus-client is not installed"
command -v curl >/dev/null || csi_skip "curl is needed"
csi_setup
PORT=$(free_port)
M="http://127.0.0.1:$PORT/metrics"

rc=0
"$PVNODE" --endpoint "unix://$T/x.sock" --node-id n --state-dir "$T/state" --metrics-address localhost:80 \
	>"$T/bad.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "numeric IP address" "$T/bad.out" || csi_fail "a host name was taken (rc $rc): $(cat "$T/bad.out")"

csi_start --metrics-address "127.0.0.1:$PORT" --reconcile-interval 1
rc=0
"$PVNODE" --endpoint "unix://$T/y.sock" --node-id n --state-dir "$T/state2" --metrics-address "127.0.0.1:$PORT" \
	>"$T/taken.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "cannot listen" "$T/taken.out" || csi_fail "a taken port did not stop the start (rc $rc): $(cat "$T/taken.out")"
[ -e "$T/y.sock" ] && csi_fail "a pvnode whose metrics cannot listen serves CSI"

expect OK GetPluginInfo
create_volume m1 $((32 << 20))
CTX=$(context_args "$OUT")
expect INVALID_ARGUMENT CreateVolume name=m2 "volume_capabilities[0].mount.fs_type=ext4" \
	"volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" parameters.driver=nosuch
expect OK ControllerPublishVolume volume_id=m1 node_id=node-a $(cap_mount)
expect FAILED_PRECONDITION ControllerPublishVolume volume_id=m1 node_id=node-z $(cap_mount)
expect OK NodeStageVolume volume_id=m1 staging_target_path="$ALLOWED/stg/m1" $(cap_mount) $CTX
expect OK NodePublishVolume volume_id=m1 staging_target_path="$ALLOWED/stg/m1" target_path="$ALLOWED/pods/p1/m1" \
	$(cap_mount) $CTX

check() {   # check PYTHON-ASSERTIONS: parse a scrape, run the assertions on `v` / `fam`
	curl -sf "$M" >"$T/scrape" || csi_fail "GET /metrics failed"
	$PY - "$T/scrape" "$1" <<'PY' || csi_fail "metrics: $(cat "$T/scrape.err")"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
fam = {f.name: f for f in text_string_to_metric_families(text)}   # raises on any malformed line
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

check '
assert v("pvnode_build_info", driver_name="pvnode.csi.io", role="all") == 1
assert v("pvnode_csi_calls_total", method="CreateVolume", code="OK") == 1
assert v("pvnode_csi_calls_total", method="CreateVolume", code="INVALID_ARGUMENT") == 1
assert v("pvnode_csi_calls_total", method="ControllerPublishVolume", code="FAILED_PRECONDITION") == 1
assert fam["pvnode_csi_call_duration_seconds"].type == "histogram"
assert v("pvnode_csi_call_duration_seconds_count", method="CreateVolume") == 2
assert v("pvnode_csi_call_duration_seconds_bucket", method="CreateVolume", le="+Inf") == 2
b = [s.value for s in fam["pvnode_csi_call_duration_seconds"].samples
     if s.name.endswith("_bucket") and s.labels["method"] == "NodeStageVolume"]
assert b == sorted(b) and b[-1] == 1, b
assert v("pvnode_csi_call_duration_seconds_sum", method="NodeStageVolume") > 0
assert v("pvnode_volumes_staged", driver="file") == 1
assert v("pvnode_volumes_published", driver="file") == 1
assert v("pvnode_fence_refusals_total", where="controller_publish") == 1
assert v("pvnode_fence_refusals_total", where="stage") == 0
assert v("pvnode_helper_restarts_total", result="ok") == 0
assert v("pvnode_reconcile_findings_total", finding="mount_lost") == 0
assert v("process_resident_memory_bytes") > 1 << 20
'

# A publish mount removed behind pvnode's back: the periodic reconcile finds it.
umount "$ALLOWED/pods/p1/m1"
for _ in $(seq 50); do
	curl -sf "$M" | grep -q '^pvnode_reconcile_findings_total{finding="mount_lost"} 1' && break
	sleep 0.1
done
check 'assert v("pvnode_reconcile_findings_total", finding="mount_lost") == 1'

[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")" = 404 ] || csi_fail "/ is not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$M")" = 405 ] || csi_fail "POST is not 405"
curl -sfI "$M" | grep -qi '^content-type: text/plain; version=0.0.4' || csi_fail "content type"

# Figures: the cost of a scrape (one keep-alive connection) and the memory it costs.
$PY - "$PORT" <<'PY'
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
n, t0 = 200, time.perf_counter()
for _ in range(n):
    c.request("GET", "/metrics"); r = c.getresponse(); body = r.read()
print("metrics: %.2f ms per scrape (%d bytes, %d scrapes)" % ((time.perf_counter() - t0) * 1e3 / n, len(body), n))
PY
# two fresh pvnodes on the same state, one scraped once
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
PORT2=$(free_port)
csi_start_extra withm --node-id node-a --state-dir "$T/state" --metrics-address "127.0.0.1:$PORT2"
WITH=$EXTRA_PID
curl -sf "http://127.0.0.1:$PORT2/metrics" >/dev/null || csi_fail "second pvnode's metrics"
csi_start_extra plain --node-id node-a --state-dir "$T/state"
sleep 0.5
echo "resident memory (fresh, idle): $(rss "$WITH") KiB with metrics (scraped once), $(rss "$EXTRA_PID") KiB without$(
	case "$(ldd "$PVNODE")" in *libasan*) echo ' (a sanitizer build: a plain build is much smaller)' ;; esac)"

expect OK NodeUnpublishVolume volume_id=m1 target_path="$ALLOWED/pods/p1/m1"
expect OK NodeUnstageVolume volume_id=m1 staging_target_path="$ALLOWED/stg/m1"
check 'assert v("pvnode_volumes_staged", driver="file") == 0'
echo PASS
