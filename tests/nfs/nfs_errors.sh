#!/bin/bash
# tests/nfs/nfs_errors.sh — what goes wrong is refused early and clearly, and leaves
# nothing behind: bad attributes (exit 2, naming the attribute and the allowed values),
# an unreachable server or a missing export (exit 1, bounded time), the kernel mounter
# on a node without a kernel NFS client, and a volume directory deleted behind our back.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

expect() { # WANT-EXIT GREP NAME JSON-ATTRS [TOP] [SED]
	local want=$1 pat=$2 name=$3 rc=0 ms start
	nfs_spec "$name" "" "$4" "${5:-}" | sed -e "${6:-}" >"$T/specs/$name.json"
	start=$(date +%s%N)
	pv1 create -f "$T/specs/$name.json" >/dev/null 2>"$T/err" || rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ $rc -eq "$want" ] || nfs_fail "$name: exit $rc, want $want: $(cat "$T/err")"
	grep -q -- "$pat" "$T/err" || nfs_fail "$name: message lacks '$pat': $(cat "$T/err")"
	[ $ms -lt 20000 ] || nfs_fail "$name took $ms ms"
	echo "   $name (exit $rc, $ms ms): $(cat "$T/err")"
}

expect 2 "3, 4, 4.1, 4.2" badver ', "version": "2"'
expect 2 "auto, kernel, userspace" badmounter '' '' 's/"mounter": "userspace"/"mounter": "fuse"/'
expect 2 "delete, retain, archive" badondelete ', "onDelete": "shred"'
expect 2 "NFSv3 only" v4user ', "version": "4.1"'
expect 2 "attributes.server" badport '' '' 's/"server": "127.0.0.1"/"server": "127.0.0.1:99999"/'
expect 2 "attributes.server" badhost '' '' 's/"server": "127.0.0.1"/"server": "host;reboot"/'
expect 2 "mountOptions\[0\]" badopt '' '"mountOptions": ["rw,exec"],'
expect 2 "set by the NFS driver" ownedopt '' '"mountOptions": ["vers=4"],'
cat >"$T/specs/unknown.json" <<JSON
{ "name": "unknown", "driver": "nfs", "capacity": "1Gi", "accessModes": ["RWX"],
  "attributes": { "server": "$NFS_SERVER", "share": "$NFS_RW_SHARE", "path": "/x" } }
JSON
rc=0; pv1 create -f "$T/specs/unknown.json" 2>"$T/err" || rc=$?
[ $rc -eq 2 ] || nfs_fail "unknown attribute accepted (exit $rc): $(cat "$T/err")"
echo "   unknown attribute (exit 2): $(cat "$T/err")"
nfs_ok "bad attributes refused with exit 2, naming the attribute and the allowed values"

sed 's/"share": "\/rw"/"share": "\/nosuchexport"/' <(nfs_spec noexport "") >"$T/specs/noexport.json"
rc=0; pv1 create -f "$T/specs/noexport.json" 2>"$T/err" || rc=$?
[ $rc -ne 0 ] || nfs_fail "create on a missing export succeeded"
echo "   missing export (exit $rc): $(cat "$T/err")"
sed 's/"server": "127.0.0.1"/"server": "127.0.0.1:2050"/' <(nfs_spec noserver "") >"$T/specs/noserver.json"
rc=0; pv1 create -f "$T/specs/noserver.json" 2>"$T/err" || rc=$?
[ $rc -eq 1 ] || nfs_fail "create against no server: exit $rc: $(cat "$T/err")"
echo "   no server on the port (exit $rc): $(cat "$T/err")"
nfs_ok "a missing export or server fails create with exit 1 and the server's answer"
[ -z "$(pv1 get 2>/dev/null | grep -E 'noexport|noserver')" ] || nfs_fail "failed creates left catalog entries"

# The kernel mounter on a node without a kernel NFS client: a clean stage failure.
if ! grep -qw nfs /proc/filesystems; then
	nfs_spec kern "" | sed 's/"mounter": "userspace"/"mounter": "kernel"/' >"$T/specs/kern.json"
	pv1 create -f "$T/specs/kern.json" >/dev/null || nfs_fail "create kern"
	rc=0; pv1 stage kern 2>"$T/err" || rc=$?
	[ $rc -ne 0 ] || nfs_fail "kernel mount succeeded without a kernel NFS client?"
	echo "   kernel mounter here (exit $rc): $(cat "$T/err")"
	grep -q " $T/state1/staging/kern " /proc/self/mountinfo && nfs_fail "kern left a mount"
	nfs_ok "mounter=kernel without a kernel client fails stage cleanly"
fi

# Paths are validated as for every driver: outside the allowed prefix or with "..".
nfs_spec paths "" >"$T/specs/paths.json"
pv1 create -f "$T/specs/paths.json" >/dev/null && pv1 stage paths || nfs_fail "create/stage paths"
for bad in /etc/pvnode-target "$T/targets/../../etc/x"; do
	rc=0; pv1 publish paths "$bad" 2>"$T/err" >/dev/null || rc=$?
	[ $rc -eq 2 ] || nfs_fail "publish to $bad: exit $rc: $(cat "$T/err")"
done
[ ! -e /etc/pvnode-target ] || nfs_fail "a refused publish created /etc/pvnode-target"
rc=0; pv1 stage --staging-path /etc/pvnode-staging paths 2>"$T/err" >/dev/null || rc=$?
[ $rc -ne 0 ] || nfs_fail "staging outside the allowed prefix accepted"
pv1 unstage paths >/dev/null || nfs_fail "unstage paths"
nfs_ok "targets outside the allowed prefix or with '..' refused (exit 2)"

# The volume directory deleted on the server before stage.
nfs_spec gone "" >"$T/specs/gone.json"
pv1 create -f "$T/specs/gone.json" >/dev/null || nfs_fail "create gone"
rmdir "$NFS_RW_DIR/gone"
rc=0; pv1 stage gone 2>"$T/err" || rc=$?
[ $rc -eq 1 ] && grep -q "does not exist" "$T/err" || nfs_fail "stage of a deleted dir: exit $rc: $(cat "$T/err")"
pgrep -f "pvnode-nfs-fuse .*$T/" >/dev/null && nfs_fail "a helper was left running"
grep -q " $T/" /proc/self/mountinfo && nfs_fail "a mount was left"
nfs_ok "stage of a directory deleted on the server: $(cat "$T/err")"
pv1 delete gone || nfs_fail "delete of a volume whose directory is gone"
nfs_ok "delete of an already-gone directory succeeds"
echo PASS
