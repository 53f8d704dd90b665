#!/bin/bash
# tests/rbd/qd.sh — the block bridge at queue depth against a real OSD, through pvnode's
# whole path (pvnode-rbd-fuse → FUSE → loop) and librbd's completion callbacks, a
# volumeMode Block volume:
#   1. fsx-style random I/O with verification: 4 threads x 8 requests in flight (AIO,
#      O_DIRECT), overlapping random ranges, reads checked against a model, fdatasyncs;
#   2. flush ordering across a helper crash: batches of fresh blocks written all at once,
#      then fdatasync, then logged; the helper is SIGKILLed mid-stream; after unstage
#      (which blocklists the dead client) + stage (a new helper, a new client) every
#      logged batch is there, block for block — and in the image as `rbd export` reads it.
. "$(dirname "$0")/../lib/rbd_test.sh"
FSX=${RBD_FSX:?the fsx_qd tool (meson sets RBD_FSX)}
rbd_secret node-a
rbd_pv raw 256Mi ReadWriteOnce '"volumeMode":"Block"' | expect_rc 0 pvn node-a create -f -
device() { pvn node-a describe raw | sed -n 's/^  Device: *\(\/dev\/loop[0-9]*\).*/\1/p'; }
helper() { pgrep -f "pvnode-rbd-fuse .*--mountpoint $TESTDIR/node-a/run/raw/"; }

step "random I/O with verification at depth"
expect_rc 0 pvn node-a stage raw
dev=$(device); [ -b "$dev" ] || fail "no device"
timeout 240 "$FSX" fsx "$dev" 128 4 8 400 $$ || fail "fsx through the bridge"

for round in 1 2; do
	step "round $round: flushed batches survive a SIGKILL of the helper"
	: >"$TESTDIR/log"
	"$FSX" log "$dev" "$TESTDIR/log" 16 2>"$TESTDIR/writer.err" &
	writer=$!
	for _ in $(seq 1 150); do [ "$(wc -l <"$TESTDIR/log")" -ge $((20 * round)) ] && break; sleep 0.1; done
	pid=$(helper) || fail "no helper"
	kill -9 "$pid"
	for _ in $(seq 1 600); do kill -0 "$writer" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$writer" 2>/dev/null && fail "the writer hangs after the helper died"
	wait "$writer" 2>/dev/null || true
	n=$(wc -l <"$TESTDIR/log")
	[ "$n" -ge 1 ] || fail "no batch was flushed before the kill: $(cat "$TESTDIR/writer.err")"
	echo "helper killed after $n flushed batches ($(tail -1 "$TESTDIR/writer.err"))"
	expect_rc 0 pvn node-a unstage raw
	rbd_cli export "$CEPH_POOL/raw" "$TESTDIR/export.img" >/dev/null 2>&1 || fail "rbd export"
	"$FSX" check "$TESTDIR/export.img" "$TESTDIR/log" 16 || fail "flushed data missing from the image (round $round)"
	rm -f "$TESTDIR/export.img"
	expect_rc 0 pvn node-a stage raw
	dev=$(device); [ -b "$dev" ] || fail "no device after stage again"
	"$FSX" check "$dev" "$TESTDIR/log" 16 || fail "flushed data missing through a new helper (round $round)"
done
expect_rc 0 pvn node-a unstage raw
expect_rc 0 pvn node-a delete raw --force
assert_clean
