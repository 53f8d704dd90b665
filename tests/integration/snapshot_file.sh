#!/usr/bin/env bash
# Snapshots, restores and clones of file volumes (state directory on the test's own
# filesystem: the copy path that filesystem has — a sparse copy on ext4/tmpfs, see
# snapshot_reflink.sh for xfs with reflink):
# data integrity (files written and synced, snapshot, overwrite, restore into a new
# volume: it has the snapshot's checksums, the source the new ones; clone likewise),
# a snapshot of a volume that is being written restores to a filesystem fsck passes,
# idempotency, every refusal with its exit status and sentence, the round trip of
# "source", and snapshots that outlive their volume.
. "$(dirname "$0")/../lib/common.sh"
S=$PVNODE_STATE_DIR
thaw_all() { # never leave a frozen filesystem behind, whatever failed
	local m
	for m in $(awk -v d="$TESTDIR" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo); do
		fsfreeze -u "$m" 2>/dev/null
	done
	[ -n "${writer:-}" ] && kill "$writer" 2>/dev/null
	return 0
}
CLEANUP_HOOKS+=(thaw_all)

sums() { (cd "$1" && find . -type f ! -path './lost+found*' -print0 | sort -z | xargs -0 sha256sum); }
fill() { # DIR TAG: a few files of random data, synced
	mkdir -p "$1/dir"
	head -c 3M /dev/urandom >"$1/a.bin"
	head -c 1M /dev/urandom >"$1/dir/b.bin"
	echo "$2" >"$1/dir/tag"
	sync -f "$1/a.bin"
}
# not_frozen DIR: a write into DIR completes (a frozen filesystem blocks it)
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

step "a volume with data, its snapshot"
expect_rc 0 pvctl create -f "$(mkpv src file 64Mi RWO)"
expect_rc 0 pvctl stage src
src=$S/staging/src
fill "$src" first
before=$(sums "$src")
expect_rc 0 pvctl -v snapshot create src monday
assert_contains "$LAST_OUT" "snapshot monday of volume src created (64Mi"
assert_contains "$LAST_ERR" "volume src: froze its filesystem at $src for the copy"
[ -f "$S/snapshots/monday.img" ] || fail "no snapshot image"
[ -f "$S/catalog/snapshots/monday.json" ] || fail "no snapshot record"
not_frozen "$src"
# a sparse copy keeps the holes: far less allocated than the 64 MiB image
alloc=$(du -k "$S/snapshots/monday.img" | cut -f1)
[ "$alloc" -lt 40000 ] || fail "snapshot image allocates $alloc KiB of 64 MiB: not sparse"

step "idempotent by name; another volume under the same name is refused"
expect_rc 0 pvctl snapshot create src monday
expect_rc 0 pvctl create -f "$(mkpv other file 16Mi RWO)"
expect_rc 1 pvctl snapshot create other monday
assert_contains "$LAST_ERR" "snapshot monday already exists, of volume src (not other)"

step "overwrite the source, restore into a new volume"
fill "$src" second
after=$(sums "$src")
[ "$before" != "$after" ] || fail "the overwrite changed nothing"
expect_rc 0 pvctl create -f "$(mkpv restored file 96Mi RWO '"source":{"snapshot":"monday"}')"
assert_contains "$LAST_OUT" "volume restored restored from snapshot monday"
expect_rc 0 pvctl stage restored
assert_eq "$(sums "$S/staging/restored")" "$before" "checksums of the restored volume"
assert_eq "$(sums "$src")" "$after" "checksums of the source"
# bigger than its snapshot: the filesystem grew to the volume at its stage
size=$(df -k --output=size "$S/staging/restored" | tail -1)
[ "$size" -gt 70000 ] || fail "the restored filesystem is $size KiB: not grown to 96 MiB"
expect_rc 0 pvctl unstage restored
e2fsck -fn "$S/images/restored.img" >/dev/null 2>&1 || fail "e2fsck of the restored image"

step "clone the staged source (frozen for the copy)"
expect_rc 0 pvctl -v create -f "$(mkpv clone file 64Mi RWO '"source":{"volume":"src"}')"
assert_contains "$LAST_ERR" "volume src: froze its filesystem"
assert_contains "$LAST_OUT" "volume clone cloned from volume src"
not_frozen "$src"
expect_rc 0 pvctl stage clone
assert_eq "$(sums "$S/staging/clone")" "$after" "checksums of the clone"
expect_rc 0 pvctl unstage clone

step "capacity left out: the source's; get -o json round trips the source"
printf '{"name":"sized","driver":"file","accessModes":["RWO"],"source":{"snapshot":"monday"}}\n' >"$TESTDIR/sized.json"
expect_rc 0 pvctl create -f "$TESTDIR/sized.json"
assert_contains "$LAST_OUT" "64Mi"
expect_rc 0 pvctl create -f "$TESTDIR/sized.json"  # the same create again
expect_rc 0 pvctl get restored -o json
echo "$LAST_OUT" >"$TESTDIR/restored.back.json"
assert_contains "$LAST_OUT" '"snapshot": "monday"'
expect_rc 0 pvctl create -f "$TESTDIR/restored.back.json"
expect_rc 0 pvctl get restored -o json
assert_eq "$LAST_OUT" "$(cat "$TESTDIR/restored.back.json")" "get -o json after a create of its own output"
expect_rc 0 pvctl get clone -o k8s
assert_contains "$LAST_OUT" '"pvnode.io/dataSource": "{\"kind\":\"PersistentVolume\",\"name\":\"src\"}"'
expect_rc 0 pvctl get restored -o k8s
assert_contains "$LAST_OUT" '\"kind\":\"VolumeSnapshot\",\"name\":\"monday\"'
expect_rc 0 pvctl describe restored
assert_contains "$LAST_OUT" "Source:         snapshot monday"

step "a repeat with another source, or none, is refused"
expect_rc 1 pvctl create -f "$(mkpv restored file 96Mi RWO '"source":{"volume":"src"}')"
assert_contains "$LAST_ERR" "volume restored already exists, made from snapshot monday"
expect_rc 1 pvctl create -f "$(mkpv restored file 96Mi RWO)"
assert_contains "$LAST_ERR" "made from snapshot monday"
expect_rc 1 pvctl create -f "$(mkpv src file 64Mi RWO '"source":{"snapshot":"monday"}')"
assert_contains "$LAST_ERR" "volume src already exists, made from no source"

step "refusals"
expect_rc 1 pvctl snapshot create ghost s1
assert_contains "$LAST_ERR" "volume ghost is not in the catalog"
expect_rc 2 pvctl snapshot create src 'a/b'
assert_contains "$LAST_ERR" "'a/b' is not a valid snapshot name"
expect_rc 2 pvctl snapshot create src
expect_rc 2 pvctl snapshot frobnicate src
assert_contains "$LAST_ERR" "unknown subcommand"
expect_rc 1 pvctl create -f "$(mkpv r1 file 64Mi RWO '"source":{"snapshot":"nosuch"}')"
assert_contains "$LAST_ERR" "volume r1: source: snapshot nosuch does not exist"
expect_rc 1 pvctl create -f "$(mkpv r1 file 64Mi RWO '"source":{"volume":"nosuch"}')"
assert_contains "$LAST_ERR" "volume r1: source: volume nosuch is not in the catalog"
expect_rc 2 pvctl create -f "$(mkpv r1 file 32Mi RWO '"source":{"snapshot":"monday"}')"
assert_contains "$LAST_ERR" "capacity 32Mi is smaller than snapshot monday (64Mi): ask for at least 64Mi"
expect_rc 2 pvctl create -f "$(mkpv r1 file 32Mi RWO '"source":{"volume":"src"}')"
assert_contains "$LAST_ERR" "smaller than volume src"
expect_rc 2 pvctl create -f "$(mkpv r1 file 512Mi RWO '"fsType":"xfs","source":{"snapshot":"monday"}')"
assert_contains "$LAST_ERR" "snapshot monday holds ext4, not fsType xfs"
expect_rc 2 pvctl create -f "$(mkpv r1 file 64Mi RWO '"volumeMode":"Block","source":{"snapshot":"monday"}')"
assert_contains "$LAST_ERR" "snapshot monday has volumeMode Filesystem, not Block"
expect_rc 2 pvctl create -f "$(mkpv r1 nfs 64Mi RWX '"attributes":{"server":"127.0.0.1","share":"/x"},"source":{"snapshot":"monday"}')"
assert_contains "$LAST_ERR" "snapshot monday is of driver file, not nfs"
expect_rc 2 pvctl create -f "$(mkpv r1 file 64Mi RWO '"source":{"volume":"r1"}')"
assert_contains "$LAST_ERR" "cannot be a copy of itself"
expect_rc 2 pvctl create -f "$(mkpv r1 file 64Mi RWO '"source":{"tape":"x"}')"
assert_contains "$LAST_ERR" "source.tape: unknown key"
expect_rc 2 pvctl create --existing -f "$(mkpv r1 file 64Mi RWO '"source":{"snapshot":"monday"}')"
assert_contains "$LAST_ERR" "storage that exists already has its data"
[ -e "$S/catalog/r1.json" ] && fail "a refused volume was recorded"
[ -e "$S/images/r1.img" ] && fail "a refused volume left an image"
expect_rc 1 pvctl snapshot delete nosuch
assert_contains "$LAST_ERR" "snapshot nosuch does not exist"
expect_rc 1 pvctl snapshot list ghost
# a driver without snapshots: a recorded iscsi volume (nothing is contacted to refuse)
if "$PVCTL" --version | grep -q iscsi; then
	printf '{"name":"lun","driver":"iscsi","capacity":"64Mi","accessModes":["RWO"],"attributes":{"portal":"127.0.0.1:3260","iqn":"iqn.2026-11.test:t","lun":"1"}}\n' \
		>"$S/catalog/lun.json"
	expect_rc 1 pvctl snapshot create lun s-lun
	assert_contains "$LAST_ERR" "volume lun: driver iscsi cannot take snapshots"
	expect_rc 1 pvctl create -f "$(mkpv lun2 iscsi 64Mi RWO '"attributes":{"portal":"127.0.0.1:3260","iqn":"iqn.2026-11.test:t","lun":"2"},"source":{"volume":"lun"}')"
	assert_contains "$LAST_ERR" "volume lun2: driver iscsi cannot clone volumes"
	rm "$S/catalog/lun.json"
	[ -e "$S/catalog/snapshots/s-lun.json" ] && fail "a refused snapshot was recorded"
fi

step "list: table, json, by volume"
expect_rc 0 pvctl snapshot create other tuesday
expect_rc 0 pvctl describe other
assert_contains "$LAST_OUT" "Snapshots:      tuesday"
expect_rc 0 pvctl snapshot list
assert_contains "$LAST_OUT" "NAME"
assert_contains "$LAST_OUT" "READY"
echo "$LAST_OUT" | grep -Eq '^monday +src +64Mi +true +[0-9]+s$' || fail "table row of monday: $LAST_OUT"
echo "$LAST_OUT" | grep -q '^tuesday ' || fail "tuesday not listed"
expect_rc 0 pvctl snapshot list src -o json
assert_contains "$LAST_OUT" '"name": "monday"'
assert_not_contains "$LAST_OUT" "tuesday"
python3 -c 'import json,sys; d=json.load(sys.stdin); i=d["items"][0]; assert i["source"]=="src" and i["readyToUse"] and i["size"]=="64Mi" and i["origin"]["name"]=="src" and i["attributes"]["copy"]' <<<"$LAST_OUT" ||
	fail "snapshot list -o json: $LAST_OUT"
expect_rc 0 pvctl snapshot create src wednesday -o json
assert_contains "$LAST_OUT" '"name": "wednesday"'

step "a snapshot of a volume that is being written restores to a clean filesystem"
( i=0; while :; do
	head -c 256k /dev/urandom >"$src/w.$((i % 40))" 2>/dev/null; i=$((i + 1))
	[ $((i % 8)) -eq 0 ] && sync -f "$src" 2>/dev/null
done ) &
writer=$!
sleep 0.5
for k in 1 2 3; do
	expect_rc 0 pvctl snapshot create src busy$k
	sleep 0.2
done
kill $writer; wait $writer 2>/dev/null || true
writer=""
not_frozen "$src"
for k in 1 2 3; do
	expect_rc 0 pvctl create -f "$(mkpv busy-r$k file 64Mi RWO "\"source\":{\"snapshot\":\"busy$k\"}")"
	# the restored image as a power cut would have left it: the journal replays clean
	e2fsck -fn "$S/images/busy-r$k.img" >"$TESTDIR/fsck.$k" 2>&1 ||
		{ cat "$TESTDIR/fsck.$k" >&2; fail "e2fsck -fn of the volume restored from busy$k"; }
	expect_rc 0 pvctl stage busy-r$k
	expect_rc 0 pvctl unstage busy-r$k
	e2fsck -fn "$S/images/busy-r$k.img" >/dev/null 2>&1 || fail "e2fsck after staging busy-r$k"
done

step "snapshots outlive their volume; volumes restored from a deleted snapshot stay"
expect_rc 0 pvctl unstage src
expect_rc 0 pvctl delete src
expect_rc 0 pvctl snapshot list src
assert_contains "$LAST_OUT" "monday"
expect_rc 0 pvctl create -f "$(mkpv late file 64Mi RWO '"source":{"snapshot":"monday"}')"
expect_rc 0 pvctl snapshot delete monday
[ -e "$S/snapshots/monday.img" ] && fail "snapshot image left after delete"
[ -e "$S/catalog/snapshots/monday.json" ] && fail "snapshot record left after delete"
expect_rc 0 pvctl stage late
assert_eq "$(sums "$S/staging/late")" "$before" "checksums of a volume restored from a snapshot of a deleted volume"
expect_rc 0 pvctl unstage late
expect_rc 0 pvctl stage restored
assert_eq "$(sums "$S/staging/restored")" "$before" "checksums of a volume whose snapshot is deleted"
expect_rc 0 pvctl unstage restored
expect_rc 1 pvctl snapshot delete monday
for s in tuesday wednesday busy1 busy2 busy3; do expect_rc 0 pvctl snapshot delete $s; done
assert_eq "$(ls "$S/snapshots")" "" "snapshot images left"
for v in restored clone sized other late busy-r1 busy-r2 busy-r3; do expect_rc 0 pvctl delete $v; done
assert_eq "$(ls "$S/images")" "" "images left"
assert_eq "$(losetup -a | grep -c "$TESTDIR" || true)" 0 "loop devices left"
exit 0
