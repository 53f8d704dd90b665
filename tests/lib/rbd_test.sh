# tests/lib/rbd_test.sh — the frame of an RBD driver test (tests/rbd/*.sh that drive
# pvctl/pvnode): a private mount namespace, tests/lib/common.sh, a private cluster
# (tests/lib/ceph.sh, started here), tests/lib/rbd.sh, and:
#   pvn NODE ARGS...           pvctl as node NODE (state dir $TESTDIR/NODE, node id NODE,
#                              allowed prefix $TESTDIR, SELinux off)
#   rbd_secret NODE            store the admin key as secret set "ceph" on NODE (stdin)
#   rbd_pv NAME CAP MODES [MEMBERS] [ATTRS]   a PV JSON for this cluster on stdout
#                              (MODES comma-separated; MEMBERS / ATTRS: extra JSON
#                              members of the PV / of its attributes)
#   rbd_watchers IMAGE, rbd_lockers IMAGE     counts from the rbd CLI
#   assert_clean [IMAGE...]    no mount, loop device or helper of this test left, and
#                              no watcher or locker on the images
#   assert_key_absent WHERE... the admin key is in no /proc/*/cmdline or environ and in
#                              none of WHERE: files, directories (recursively, secrets/
#                              excepted) or text
# Cleanup (also on failure): every volume staged by pvn is torn down (delete --force)
# while the cluster still runs, then rbd.sh's and ceph.sh's cleanup.
if [ -z "${PVNODE_RBD_PRIVATE_NS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	# mounts made here stay here: a namespace another process creates meanwhile would
	# otherwise copy them and keep a filesystem alive on a device being torn down
	export PVNODE_RBD_PRIVATE_NS=1
	exec unshare --mount --propagation private -- bash "$0" "$@"
fi
_rbd_test_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$_rbd_test_lib/common.sh"
. "$_rbd_test_lib/ceph.sh"
. "$_rbd_test_lib/rbd.sh"
trap 'exit 1' INT TERM
shopt -s lastpipe   # `... | expect_rc N cmd` sets LAST_OUT and LAST_ERR here
export PVNODE_HELPER_DIR
step() { echo "--- [${SECONDS}s] $*"; }

pvn() {   # a pvctl that hangs fails naming the command, as common.sh's pvctl does
	local node=$1
	shift
	timeout -k 5 "${PVCTL_TIMEOUT:-120}" "$PVCTL" --state-dir "$TESTDIR/$node" --node-id "$node" --allowed-path "$TESTDIR" --selinux off "$@"
}

rbd_secret() { pvn "$1" secret set ceph userID=admin userKey=- <"$CEPH_KEY_FILE" >/dev/null; }

rbd_pv() {
	local name=$1 cap=$2 modes=$3 members=${4:-} attrs=${5:-} m="" x
	IFS=, read -ra arr <<<"$modes"
	for x in "${arr[@]}"; do m="$m${m:+,}\"$x\""; done
	printf '{"name":"%s","driver":"rbd","capacity":"%s","accessModes":[%s],"secretRef":"ceph"%s,' \
		"$name" "$cap" "$m" "${members:+,$members}"
	printf '"attributes":{"monitors":"%s","pool":"%s"%s}}\n' "$CEPH_MONITORS" "$CEPH_POOL" "${attrs:+,$attrs}"
}

rbd_watchers() {
	rbd_cli status --format json "$CEPH_POOL/$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["watchers"]))'
}
rbd_lockers() {
	rbd_cli lock ls --format json "$CEPH_POOL/$1" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(len(j if isinstance(j, list) else j.keys()))'
}

assert_clean() {
	local img
	assert_eq "$(mounts_under "$TESTDIR/")" 0 "mounts under $TESTDIR"
	assert_eq "$(losetup -nO BACK-FILE 2>/dev/null | grep -c "^$TESTDIR/" || true)" 0 "loop devices over $TESTDIR"
	assert_eq "$(pgrep -fc "pvnode-rbd-fuse .*$TESTDIR/" || true)" 0 "helpers left"
	for img in "$@"; do
		assert_eq "$(rbd_watchers "$img")" 0 "watchers of $img"
		assert_eq "$(rbd_lockers "$img")" 0 "lockers of $img"
	done
}

assert_key_absent() {
	local key f
	key=$(cat "$CEPH_KEY_FILE")
	for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do
		if grep -qaF -- "$key" "$f" 2>/dev/null; then fail "the cephx key is in $f ($(tr '\0' ' ' <"${f%/*}/cmdline"))"; fi
	done
	for f in "$@"; do
		if [ -d "$f" ]; then
			if grep -rlaF --exclude-dir=secrets -- "$key" "$f"; then fail "the cephx key is in a file under $f"; fi
		elif [ -f "$f" ]; then
			if grep -qaF -- "$key" "$f"; then fail "the cephx key is in $f"; fi
		elif grep -qaF -- "$key" <<<"$f"; then
			fail "the cephx key is in: $f"
		fi
	done
}

# every node's staged volumes, torn down while the cluster still answers
_rbd_test_teardown() {
	local d v p
	# a helper a test froze would hang every loop-device scan on this machine
	for p in $(pgrep -f "pvnode-rbd-fuse .*$TESTDIR/" || true); do kill -CONT "$p"; done
	for d in "$TESTDIR"/*/; do
		[ -d "$d/journal" ] || continue
		for v in $(ls "$d/journal" 2>/dev/null | sed 's/\.json$//'); do
			timeout 90 "$PVCTL" --state-dir "$d" --node-id "$(basename "$d")" --allowed-path "$TESTDIR" \
				--selinux off delete "$v" --force >/dev/null 2>&1 ||
				timeout 60 "$PVCTL" --state-dir "$d" --node-id "$(basename "$d")" --allowed-path "$TESTDIR" \
					--selinux off unstage "$v" >/dev/null 2>&1
		done
	done
}
CLEANUP_HOOKS=(_rbd_test_teardown "${CLEANUP_HOOKS[@]}")
ceph_start || fail "ceph_start"
