#!/bin/bash
# tests/iscsi/qd.sh — the block bridge at queue depth, against a real tgtd LUN through
# pvnode's whole path (helper → FUSE → loop), a volumeMode Block volume:
#   1. fsx-style random I/O with verification: 4 threads x 8 requests in flight (AIO,
#      O_DIRECT), overlapping random ranges, reads checked against a model, fdatasyncs;
#   2. flush ordering across a helper crash: batches of fresh blocks written all at once,
#      then fdatasync, then logged; the helper is SIGKILLed mid-stream; after unstage +
#      stage (a new helper, a new session) every logged batch is on the LUN, block for
#      block — and once more with the LUN re-read straight from tgtd's image file.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
iscsi_test_init qd
FSX=${ISCSI_FSX:-$(dirname "$PVCTL")/tests/iscsi/fsx_qd}
[ -x "$FSX" ] || fail "no fsx_qd at $FSX"
IQN=iqn.2026-11.io.pvnode.test:qd
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun.img" 256M || fail "tgt setup"
printf '{"name":"raw","driver":"iscsi","capacity":"256Mi","accessModes":["ReadWriteOnce"],"volumeMode":"Block","attributes":{"portal":"%s","iqn":"%s","lun":"1"}}\n' \
	"$TGT_PORTAL" $IQN | pvn a create -f - >/dev/null || fail "create"
device() { pvn a describe raw | sed -n 's/^  Device: *\(\/dev\/loop[0-9]*\).*/\1/p'; }
helper() { pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/a/run/raw/"; }

pvn a stage raw || fail "stage"
dev=$(device); [ -b "$dev" ] || fail "no device"
timeout 240 "$FSX" fsx "$dev" 128 4 8 600 $$ || fail "fsx through the bridge"

for round in 1 2; do
	: > "$T/log"
	"$FSX" log "$dev" "$T/log" 16 2>"$T/writer.err" &
	writer=$!
	# let a good number of batches through, then kill the helper mid-stream
	for i in $(seq 1 100); do [ "$(wc -l < "$T/log")" -ge $((20 * round)) ] && break; sleep 0.1; done
	pid=$(helper) || fail "no helper"
	kill -9 $pid
	timeout 60 bash -c "wait $writer" 2>/dev/null; wait $writer 2>/dev/null
	kill -0 $writer 2>/dev/null && fail "the writer hangs after the helper died"
	n=$(wc -l < "$T/log")
	[ "$n" -ge 1 ] || fail "no batch was flushed before the kill: $(cat "$T/writer.err")"
	echo "round $round: helper killed after $n flushed batches ($(tail -1 "$T/writer.err"))"
	pvn a unstage raw >/dev/null || fail "unstage with a dead helper"
	# what tgtd holds, read straight from the image file
	"$FSX" check "$T/lun.img" "$T/log" 16 || fail "flushed data missing from the LUN image (round $round)"
	pvn a stage raw >/dev/null || fail "stage again"
	dev=$(device); [ -b "$dev" ] || fail "no device after stage again"
	"$FSX" check "$dev" "$T/log" 16 || fail "flushed data missing through a new helper (round $round)"
done
pvn a unstage raw >/dev/null || fail "unstage"
echo "qd: ok"
