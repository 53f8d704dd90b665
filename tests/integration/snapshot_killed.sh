#!/usr/bin/env bash
# A pvctl killed while it snapshots a staged volume (after the freeze, in the middle of
# the copy, after the copy) or restores one leaves no half snapshot under a real name,
# no record of what was not made, and the filesystem thawed (by the guard process);
# retries finish; reconcile sweeps the temporary copy of a killed writer.
. "$(dirname "$0")/../lib/common.sh"
"$PVCTL" --version | grep -q "fault injection" || { echo "SKIP: this build has no fault injection (meson -Dfault_injection=true)"; exit 77; }
S=$PVNODE_STATE_DIR
thaw_all() {
	local m
	for m in $(awk -v d="$TESTDIR" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo); do
		fsfreeze -u "$m" 2>/dev/null
	done
	return 0
}
CLEANUP_HOOKS+=(thaw_all)
not_frozen() {
	# a write blocked by a frozen filesystem cannot even be killed: wait for it in the
	# background, and thaw the filesystem (so the test can end) before failing
	dd if=/dev/zero of="$1/.probe" bs=4k count=1 conv=fsync status=none &
	local dd=$! i
	for i in $(seq 100); do kill -0 $dd 2>/dev/null || break; sleep 0.1; done
	if kill -0 $dd 2>/dev/null; then
		fsfreeze -u "$1" 2>/dev/null
		wait $dd
		fail "the filesystem at $1 was still frozen"
	fi
	wait $dd || fail "cannot write to $1"
	rm -f "$1/.probe"
}
no_snapshot() { # NAME: neither a record nor an image under its name
	[ -e "$S/catalog/snapshots/$1.json" ] && fail "snapshot $1 recorded although killed"
	[ -e "$S/snapshots/$1.img" ] && fail "snapshot $1 has an image under its real name"
	expect_rc 1 pvctl snapshot delete "$1"
	return 0
}

expect_rc 0 pvctl create -f "$(mkpv kv file 512Mi RWO)"
expect_rc 0 pvctl stage kv
src=$S/staging/kv
head -c 300M /dev/urandom >"$src/data"
sync -f "$src/data"
sum=$(sha256sum <"$src/data")

step "killed while the filesystem is frozen: the guard thaws it"
rc=0; PVNODE_FAULT=snapshot-frozen "$PVCTL" snapshot create kv k1 2>/dev/null || rc=$?
assert_eq "$rc" 137 "exit status of the killed pvctl"
not_frozen "$src"
no_snapshot k1
assert_eq "$(ls "$S/snapshots" 2>/dev/null)" "" "files in the snapshot directory"
# the guard has gone too
for _ in $(seq 50); do pgrep -f "snapshot create kv k1" >/dev/null || break; sleep 0.1; done
pgrep -f "snapshot create kv k1" >/dev/null && fail "a guard process outlived the thaw"

step "kill -9 from outside in the middle of the copy"
"$PVCTL" snapshot create kv k3 >/dev/null 2>&1 &
pid=$!
tmp=""
for _ in $(seq 20000); do
	tmp=$(compgen -G "$S/snapshots/k3.img.tmp.*" || true)
	[ -n "$tmp" ] && break
	kill -0 $pid 2>/dev/null || break
done
[ -n "$tmp" ] || fail "no temporary copy seen while pvctl snapshot create ran (the copy was too quick?)"
kill -9 $pid; wait $pid 2>/dev/null || true
sleep 0.3
not_frozen "$src"
no_snapshot k3
[ -e "$tmp" ] || fail "the temporary copy $tmp vanished"
touch -d '-10 min' "$tmp"   # a writer killed long ago
expect_rc 0 pvctl reconcile
assert_contains "$LAST_OUT" "removed $tmp, left by a writer that was killed"
[ -e "$tmp" ] && fail "reconcile left $tmp"
expect_rc 0 pvctl snapshot create kv k3
assert_contains "$LAST_OUT" "created"

# (SIGTERM: a background job of a script ignores SIGINT, so ^C cannot be played here)
step "SIGTERM to the whole process group mid-copy (a service manager stopping it): the guard outlives it and thaws"
setsid "$PVCTL" snapshot create kv k4 >/dev/null 2>&1 &
pid=$!
tmp=""
for _ in $(seq 20000); do
	tmp=$(compgen -G "$S/snapshots/k4.img.tmp.*" || true)
	[ -n "$tmp" ] && break
	kill -0 $pid 2>/dev/null || break
done
[ -n "$tmp" ] || fail "no temporary copy seen while pvctl snapshot create ran (the copy was too quick?)"
kill -TERM -- -$pid
wait $pid 2>/dev/null || true
not_frozen "$src"
no_snapshot k4
touch -d '-10 min' "$tmp"
expect_rc 0 pvctl reconcile
[ -e "$tmp" ] && fail "reconcile left $tmp"

step "killed after the copy, before the record: the retry makes it"
rc=0; PVNODE_FAULT=snapshot-made "$PVCTL" snapshot create kv k2 2>/dev/null || rc=$?
assert_eq "$rc" 137
not_frozen "$src"
[ -e "$S/catalog/snapshots/k2.json" ] && fail "k2 recorded although killed before the record"
expect_rc 1 pvctl snapshot delete k2
# its image, recorded nowhere: reconcile takes it away once stale, never a fresh one
[ -e "$S/snapshots/k2.img" ] || fail "no image of k2 (the fault point moved?)"
expect_rc 0 pvctl reconcile
[ -e "$S/snapshots/k2.img" ] || fail "reconcile removed a fresh snapshot image"
touch -d '-10 min' "$S/snapshots/k2.img"
expect_rc 0 pvctl reconcile
assert_contains "$LAST_OUT" "removed $S/snapshots/k2.img: no snapshot records it"
[ -e "$S/snapshots/k2.img" ] && fail "reconcile left the orphaned image of k2"
[ -e "$S/snapshots/k3.img" ] || fail "reconcile removed the image of k3, which is recorded"
echo changed >"$src/later"
sync -f "$src/later"
expect_rc 0 pvctl snapshot create kv k2
expect_rc 0 pvctl snapshot list kv
assert_contains "$LAST_OUT" "k2 "

step "a restore killed before its record: the retry finishes it, another source is refused"
rc=0; PVNODE_FAULT=restore-made "$PVCTL" create -f "$(mkpv back file 512Mi RWO '"source":{"snapshot":"k3"}')" 2>/dev/null || rc=$?
assert_eq "$rc" 137
[ -e "$S/catalog/back.json" ] && fail "back recorded although killed"
expect_rc 1 pvctl create -f "$(mkpv back file 512Mi RWO '"source":{"snapshot":"k2"}')"
assert_contains "$LAST_ERR" "image $S/images/back.img already exists, made from snapshot:k3"
expect_rc 0 pvctl create -f "$(mkpv back file 512Mi RWO '"source":{"snapshot":"k3"}')"
assert_contains "$LAST_OUT" "restored from snapshot k3"
expect_rc 0 pvctl stage back
assert_eq "$(sha256sum <"$S/staging/back/data")" "$sum" "checksum of the data restored from k3"
[ -e "$S/staging/back/later" ] && fail "k3 holds a file written after it"
expect_rc 0 pvctl unstage back

step "clean up"
for s in k2 k3; do expect_rc 0 pvctl snapshot delete $s; done
expect_rc 0 pvctl delete back
expect_rc 0 pvctl delete kv --force
assert_eq "$(find "$S/snapshots" "$S/images" -type f)" "" "files left"
exit 0
