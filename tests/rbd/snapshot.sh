#!/bin/bash
# tests/rbd/snapshot.sh — RBD snapshots, restores and clones through pvctl, on one
# private cluster: data integrity (files written and synced, snapshot while staged,
# overwrite, restore into a bigger volume: the snapshot's checksums; the source keeps the
# new ones; a clone of the volume has the new ones), idempotency (snapshot and restore
# repeated; another source refused), error cases (missing source, too small), deleting a
# snapshot that has a restored volume (which stays readable), deleting a volume that
# has snapshots (its image waits in the RBD trash, a restore from it copies, and the
# last user purges it): at the end no image and no trash entry is left.
. "$(dirname "$0")/../lib/rbd_test.sh"
rbd_secret node-a
P=$CEPH_POOL

sums() { (cd "$1" && find . -type f ! -path './lost+found*' -print0 | sort -z | xargs -0 md5sum); }
write_set() {   # DIR TAG: a few files of random data, synced
	local d=$1 tag=$2
	mkdir -p "$d/sub"
	head -c 3000000 /dev/urandom >"$d/big"
	head -c 70000 /dev/urandom >"$d/sub/small.$tag"
	echo "$tag" >"$d/tag"
	sync -f "$d/big"
}
# stage + publish NAME at $TESTDIR/pod/NAME
up() { expect_rc 0 pvn node-a stage "$1"; expect_rc 0 pvn node-a publish "$1" "$TESTDIR/pod/$1"; }
down() { expect_rc 0 pvn node-a unpublish "$1" "$TESTDIR/pod/$1"; expect_rc 0 pvn node-a unstage "$1"; }
images() { rbd_cli ls "$P" | sort | tr '\n' ' '; }
trash() { rbd_cli trash ls "$P" | awk '{print $2}' | sort | tr '\n' ' '; }

step "a volume with data A, snapshot while it is staged (frozen), then data B"
rbd_pv v1 256Mi ReadWriteOnce | expect_rc 0 pvn node-a create -f -
up v1
write_set "$TESTDIR/pod/v1" A
sums "$TESTDIR/pod/v1" >"$TESTDIR/sums.A"
t0=$(date +%s%N)
expect_rc 0 pvn node-a snapshot create v1 s1
echo "snapshot of a staged 256Mi volume: $(( ($(date +%s%N) - t0) / 1000000 )) ms (pvctl, freeze included)"
assert_contains "$(rbd_cli snap ls "$P/v1")" " s1 "
expect_rc 0 pvn node-a snapshot create v1 s1          # the same again: success
rbd_pv v0 64Mi ReadWriteOnce | expect_rc 0 pvn node-a create -f -
expect_rc 1 pvn node-a snapshot create v0 s1          # the name is taken, by another volume
assert_contains "$LAST_ERR" "already exists"
expect_rc 2 pvn node-a snapshot create v1 .hidden        # not a Ceph snapshot name
assert_contains "$LAST_ERR" "snapshot name"
if "$PVCTL" --version | grep -q "fault injection"; then
	# killed after the RBD snapshot, before its record: the retry adopts it
	rc=0; PVNODE_FAULT=snapshot-made pvn node-a snapshot create v1 sk >/dev/null 2>&1 || rc=$?
	[ $rc != 0 ] || fail "PVNODE_FAULT=snapshot-made did not kill pvctl"
	assert_contains "$(rbd_cli snap ls "$P/v1")" " sk "
	expect_rc 0 pvn node-a snapshot create v1 sk
	assert_eq "$(rbd_cli snap ls "$P/v1" | grep -c " sk " || true)" 1 "RBD snapshots named sk"
	expect_rc 0 pvn node-a snapshot delete sk
	# killed after the restore, before its record: the retry reuses the clone
	rbd_pv rk 256Mi ReadWriteOnce '"source":{"snapshot":"s1"}' >"$TESTDIR/rk.json"
	rc=0; PVNODE_FAULT=restore-made pvn node-a create -f "$TESTDIR/rk.json" >/dev/null 2>&1 || rc=$?
	[ $rc != 0 ] || fail "PVNODE_FAULT=restore-made did not kill pvctl"
	assert_contains "$(rbd_cli info "$P/rk")" "parent: $P/v1@s1"
	expect_rc 0 pvn node-a create -f "$TESTDIR/rk.json"
	expect_rc 0 pvn node-a delete rk
fi
expect_rc 0 pvn node-a snapshot list v1 -o json
assert_contains "$LAST_OUT" '"imageId"'
assert_contains "$LAST_OUT" '"snap": "s1"'
rm -rf "$TESTDIR/pod/v1/big" "$TESTDIR/pod/v1/sub"
write_set "$TESTDIR/pod/v1" B
sums "$TESTDIR/pod/v1" >"$TESTDIR/sums.B"
cmp -s "$TESTDIR/sums.A" "$TESTDIR/sums.B" && fail "A and B are the same data"

step "restore s1 into r1 (bigger): A; the source keeps B"
rbd_pv r1 512Mi ReadWriteOnce '"source":{"snapshot":"s1"}' >"$TESTDIR/r1.json"
expect_rc 0 pvn node-a create -f "$TESTDIR/r1.json"
expect_rc 0 pvn node-a create -f "$TESTDIR/r1.json"   # idempotent
rbd_pv r1 512Mi ReadWriteOnce '"source":{"volume":"v1"}' | expect_rc 1 pvn node-a create -f -
assert_contains "$(rbd_cli info "$P/r1")" "size 512 MiB"
assert_contains "$(rbd_cli info "$P/r1")" "parent: $P/v1@s1"
assert_eq "$(rbd_cli image-meta get "$P/r1" pvnode.provisioned)" 1 "r1's provisioned mark"
rbd_cli image-meta get "$P/r1" pvnode.holder >/dev/null 2>&1 && fail "r1 inherited v1's fence holder"
up r1
sums "$TESTDIR/pod/r1" | diff - "$TESTDIR/sums.A" || fail "r1 does not hold the snapshot's data"
down r1
sums "$TESTDIR/pod/v1" | diff - "$TESTDIR/sums.B" || fail "v1 lost its new data"

step "clone v1 (staged) into c1: B"
rbd_pv c1 256Mi ReadWriteOnce '"source":{"volume":"v1"}' | expect_rc 0 pvn node-a create -f -
assert_contains "$(rbd_cli info "$P/c1")" "parent: $P/v1@"
assert_not_contains "$(rbd_cli snap ls "$P/v1")" "pvnode-clone"   # the temporary snapshot is gone
assert_contains "$(rbd_cli snap ls --all "$P/v1")" "trash (pvnode-clone-c1)"
up c1
sums "$TESTDIR/pod/c1" | diff - "$TESTDIR/sums.B" || fail "c1 does not hold v1's data"
down c1

step "errors: missing source, too small, another driver's idea of a source"
rbd_pv rx 512Mi ReadWriteOnce '"source":{"snapshot":"nope"}' | expect_rc 1 pvn node-a create -f -
assert_contains "$LAST_ERR" "nope"
rbd_pv rx 128Mi ReadWriteOnce '"source":{"snapshot":"s1"}' | expect_rc 2 pvn node-a create -f -
assert_contains "$LAST_ERR" "smaller"
assert_not_contains "$(images)" "rx"
rbd_cli create --size 512 "$P/foreign"   # someone else's image where the restore would go
rbd_pv foreign 512Mi ReadWriteOnce '"source":{"snapshot":"s1"}' | expect_rc 1 pvn node-a create -f -
assert_contains "$LAST_ERR" "is not pvnode's copy of snapshot s1"
rbd_cli rm "$P/foreign" >/dev/null 2>&1 || fail "foreign image gone"

step "delete s1 while r1 reads through it: r1 stays readable"
expect_rc 0 pvn node-a snapshot delete s1
rc=0; pvn node-a snapshot delete s1 >/dev/null 2>"$TESTDIR/del.err" || rc=$?
[ $rc = 1 ] && grep -q "does not exist" "$TESTDIR/del.err" || fail "a repeated delete: exit $rc, $(cat "$TESTDIR/del.err")"
assert_not_contains "$(rbd_cli snap ls "$P/v1")" " s1 "
echo 3 >/proc/sys/vm/drop_caches
up r1
sums "$TESTDIR/pod/r1" | diff - "$TESTDIR/sums.A" || fail "r1 lost its data with the snapshot"
down r1

step "delete v1 while it has a snapshot: the image waits in the trash, nothing is lost"
expect_rc 0 pvn node-a snapshot create v1 s2
rbd_pv r3 256Mi ReadWriteOnce '"source":{"snapshot":"s2"}' | expect_rc 0 pvn node-a create -f -   # a clone
down v1
expect_rc 0 pvn node-a delete v1
assert_not_contains "$(images)" "v1 "
assert_eq "$(trash)" "v1 " "the trash"
rbd_pv r2 256Mi ReadWriteOnce '"source":{"snapshot":"s2"}' >"$TESTDIR/r2.json"
# on a terminal (script: a pty) the copy reports its progress
out=$(timeout 120 script -qec "$PVCTL --state-dir $TESTDIR/node-a --node-id node-a --allowed-path $TESTDIR --selinux off create -f $TESTDIR/r2.json" /dev/null) ||
	fail "create r2 from a deleted volume's snapshot: $out"
assert_contains "$out" "Copying snapshot s2 of image id"
assert_contains "$out" "100%"
assert_not_contains "$(rbd_cli info "$P/r2")" "parent:" "r2 (a copy: a trashed image cannot be cloned)"
up r2
sums "$TESTDIR/pod/r2" | diff - "$TESTDIR/sums.B" || fail "r2 (from a deleted volume's snapshot) differs"
down r2
expect_rc 0 pvn node-a snapshot delete s2    # of a trashed image, with a clone (r3)
assert_eq "$(trash)" "v1 " "the trash while r1, r3 and c1 still read through v1"
up r3
sums "$TESTDIR/pod/r3" | diff - "$TESTDIR/sums.B" || fail "r3 lost its data with its snapshot and volume"
down r3
expect_rc 0 pvn node-a delete r3
up c1
sums "$TESTDIR/pod/c1" | diff - "$TESTDIR/sums.B" || fail "c1 lost its data"
down c1

step "the last clone's delete purges the trashed image: no image, no trash entry left"
expect_rc 0 pvn node-a delete r1
assert_eq "$(trash)" "v1 " "the trash while c1 still reads through v1"
expect_rc 0 pvn node-a delete c1
expect_rc 0 pvn node-a delete r2
expect_rc 0 pvn node-a delete v0
assert_eq "$(images)" "" "images left"
assert_eq "$(trash)" "" "trash entries left"
expect_rc 0 pvn node-a snapshot list -o json
assert_eq "$(tr -d ' \n' <<<"$LAST_OUT")" '{"items":[]}' "snapshot records left"
assert_key_absent "$TESTDIR/node-a"
assert_clean
