#!/bin/bash
# tests/rbd/helper_raw.sh — pvnode-rbd-fuse by hand, without the driver: it serves an
# image as a FUSE file a loop device + ext4 can use, holds the exclusive lock so a
# second --exclusive instance is refused naming the first node, serves read-only
# without a lock, fails I/O in bounded time while the OSD is stopped and recovers after,
# shows a resize done by pvnode-rbd while it holds the lock, idles at <= 8 MiB of
# anonymous memory and stays within RBD_PEAK_ANON_MIB (32, the target of issue 14) of it under 1 MiB writes at QD16
# (uninstrumented builds), and on SIGTERM releases everything (no lock, no watcher, no holder record).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/ceph.sh"
. "$(dirname "$0")/../lib/rbd.sh"
ceph_start || fail "ceph_start"
T=3   # osd/mon timeout for the outage part
# the memory bounds hold for uninstrumented builds only: ASan's shadow and quarantine are
# anonymous memory too (not `ldd | grep -q`: under pipefail, grep leaving early can fail
# the pipeline with ldd's SIGPIPE and the check ran on an ASan build)
SANITIZED=0
case "$(ldd "$RBD_FUSE")" in *libasan* | *libubsan*) SANITIZED=1 ;; esac

step "create and serve exclusively as node-a"
rbd_ctl '"op":"create","image":"vol","size":268435456' >/dev/null || fail "create"
# the memory bounds below are measured as a node runs the helper: without the
# MALLOC_PERTURB_ meson sets (malloc then writes every block it hands out or frees: the
# peak under writes went from 13 to 20 MiB)
perturb=${MALLOC_PERTURB_-}
unset MALLOC_PERTURB_
helper_start vol --exclusive --node-id node-a --osd-timeout $T --mon-timeout $T || fail "helper: $HELPER_LINE"
[ -n "$perturb" ] && export MALLOC_PERTURB_=$perturb
A=$HELPER_PID A_MNT=$HELPER_MNT A_STATUS=$HELPER_STATUS
echo "$HELPER_LINE"
assert_contains "$HELPER_LINE" "client=" "READY line"
assert_eq "$(status_get "$A_STATUS" state)" up "status state"
assert_eq "$(stat -c %s "$A_MNT/disk")" 268435456 "FUSE file size"
out=$(rbd_ctl '"op":"lock-owners","image":"vol"')
assert_contains "$out" '"holder":"node-a"' "lock-owners"
key=$(cat "$CEPH_KEY_FILE")
for f in /proc/$A/cmdline /proc/$A/environ; do
	! grep -qF "$key" "$f" || fail "the key is in $f"
done

step "idle memory: <= 8 MiB anonymous (issue 14)"
if [ $SANITIZED = 1 ]; then
	echo "skipped: sanitizer build"
else
	sleep 2   # the bridge trims after a quiet second
	anon=$(awk '/^RssAnon/ {print $2}' "/proc/$A/status")
	echo "helper idle: $(awk '/^VmRSS/ {print $2}' "/proc/$A/status") kB resident, $anon kB anonymous"
	[ "$anon" -le $((8 << 10)) ] || fail "idle helper holds $anon kB anonymous memory (limit 8 MiB)"
fi

step "loop + ext4 + data"
dev=$(losetup --direct-io=on -f --show "$A_MNT/disk") || fail "losetup"
mkfs.ext4 -q -b 4096 "$dev" || fail "mkfs"
mkdir -p "$TESTDIR/m"
mount "$dev" "$TESTDIR/m" || fail "mount"
head -c 20000000 /dev/urandom >"$TESTDIR/src"
cp "$TESTDIR/src" "$TESTDIR/m/f"
sync
umount "$TESTDIR/m"
echo 3 >/proc/sys/vm/drop_caches
mount "$dev" "$TESTDIR/m" || fail "mount again"
cmp "$TESTDIR/src" "$TESTDIR/m/f" || fail "data differs after remount"
umount "$TESTDIR/m"

step "memory under 1 MiB writes at QD16: anonymous <= ${RBD_PEAK_ANON_MIB:=32} MiB (issue 14)"
# the bridge bounds the data in flight (2 MiB; each write is held twice, in its buffer and
# in librbd's copy): 13-20 MiB here; 20-21 with 4 MiB in flight, ~50 with only the
# bridge's 24 buffers as the bound
if [ $SANITIZED = 1 ]; then
	echo "skipped: sanitizer build"
else
	rm -f "$TESTDIR/peak.stop"
	( best=0
	  while [ ! -e "$TESTDIR/peak.stop" ]; do
		v=$(awk '/^RssAnon/ {print $2}' "/proc/$A/status")
		[ "${v:-0}" -gt "$best" ] && best=$v
		sleep 0.1
	  done
	  echo "$best" >"$TESTDIR/peak" ) &
	sampler=$!
	fio --name=peak --filename="$dev" --rw=write --bs=1M --iodepth=16 --ioengine=libaio --direct=1 \
		--size=128M --loops=2 --output-format=terse --terse-version=3 >"$TESTDIR/peak.fio" || fail "fio"
	touch "$TESTDIR/peak.stop"
	wait "$sampler"
	peak=$(cat "$TESTDIR/peak")
	echo "helper under 1 MiB writes QD16 ($(awk -F';' '{printf "%d MB/s", $48 / 1000}' "$TESTDIR/peak.fio")): at most $peak kB anonymous"
	[ "$peak" -le $((RBD_PEAK_ANON_MIB << 10)) ] || fail "the helper held $peak kB anonymous memory under writes (limit $RBD_PEAK_ANON_MIB MiB)"
fi

step "a second exclusive instance is refused, naming node-a"
helper_start vol --exclusive --node-id node-b && fail "a second exclusive helper became ready"
echo "$HELPER_LINE"
assert_contains "$HELPER_LINE" "ERROR refused" "refusal"
assert_contains "$HELPER_LINE" "node node-a" "refusal"
rc=0; wait "$HELPER_PID" || rc=$?
assert_eq "$rc" 3 "refused helper's exit status"

step "read-only instance: no lock needed, writes refused"
helper_start vol --readonly || fail "read-only helper: $HELPER_LINE"
R=$HELPER_PID
cmp -n 4096 "$HELPER_MNT/disk" "$dev" || fail "read-only view differs"
if dd if=/dev/zero of="$HELPER_MNT/disk" bs=4096 count=1 conv=notrunc status=none 2>"$TESTDIR/ro.err"; then
	fail "a write through the read-only helper succeeded"
fi
echo "read-only write: $(cat "$TESTDIR/ro.err")"
helper_stop "$R" || fail "read-only helper exit"

step "OSD stopped longer than the timeout: bounded EIO, then recovery"
dd if=/dev/urandom of="$dev" bs=1M count=4 oflag=direct status=none || fail "write before the outage"
kill -STOP "$CEPH_OSD_PID"
t0=$(date +%s)
if dd if=/dev/zero of="$dev" bs=64k count=16 oflag=direct status=none 2>"$TESTDIR/dd.err"; then
	kill -CONT "$CEPH_OSD_PID"; fail "a write succeeded with the OSD stopped"
fi
took=$(( $(date +%s) - t0 ))
state=$(status_get "$A_STATUS" state)
kill -CONT "$CEPH_OSD_PID"
echo "outage: write failed after ${took}s ($(head -1 "$TESTDIR/dd.err")), state=$state"
[ "$took" -le $((3 * T + 5)) ] || fail "the write needed ${took}s to fail (timeout ${T}s)"
assert_eq "$state" down "status during the outage"
ok=0
for i in $(seq 1 60); do
	if dd if=/dev/zero of="$dev" bs=64k count=1 oflag=direct status=none 2>/dev/null; then ok=1; break; fi
	sleep 0.5
done
[ $ok = 1 ] || fail "I/O did not recover after SIGCONT"
assert_eq "$(status_get "$A_STATUS" state)" up "status after recovery"
mount "$dev" "$TESTDIR/m" 2>/dev/null && umount "$TESTDIR/m"

step "resize while served: the FUSE file grows (header watch, SIGUSR1)"
rbd_ctl '"op":"resize","image":"vol","size":402653184' >/dev/null || fail "resize under the helper"
kill -USR1 "$A"
for i in $(seq 1 40); do [ "$(stat -c %s "$A_MNT/disk")" = 402653184 ] && break; sleep 0.1; done
assert_eq "$(stat -c %s "$A_MNT/disk")" 402653184 "FUSE file size after resize"
# the status file is written just after the size is taken (rbd_io.c refresh_size): a
# moment later, which an ASan build under load made visible
for i in $(seq 1 40); do [ "$(status_get "$A_STATUS" size)" = 402653184 ] && break; sleep 0.1; done
assert_eq "$(status_get "$A_STATUS" size)" 402653184 "status size after resize"

step "SIGTERM: lock, holder record and watch released"
losetup -d "$dev"
helper_stop "$A" || fail "helper exit status $?"
out=$(rbd_ctl '"op":"info","image":"vol"') || fail "info: $out"
assert_contains "$out" '"lockers":[]' "info after stop"
assert_contains "$out" '"watchers":[]' "info after stop"
assert_contains "$out" '"holder":""' "info after stop"
if grep -q " $A_MNT " /proc/self/mountinfo; then fail "FUSE still mounted at $A_MNT"; fi
rbd_ctl '"op":"remove","image":"vol"' >/dev/null || fail "remove"
