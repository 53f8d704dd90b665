#!/bin/bash
# tests/nfs/nfs_import.sh — pvctl import of tests/nfs/import_fixture.yaml (in-tree nfs
# on the fixture's ganesha, iscsi with CHAP, rbd, and an awsElasticBlockStore PV):
# --dry-run registers nothing; the import registers the nfs and iscsi PVs (the iSCSI
# one unchecked, naming the secret set to create), registers rbd the same way when the
# rbd driver is built and refuses it (unknown driver) when not, skips the unsupported
# one by name; the nfs PV stages and publishes against
# ganesha, the read-only one gets EROFS, the iSCSI one refuses to stage until its secret
# set exists; `get -o k8s | import -f -` on a second state dir gives the same PVs.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"
FIXTURE="$(dirname "$0")/import_fixture.yaml"
# with the rbd driver (pvctl --version lists it) legacy-rbd is one more unchecked PV;
# without it the import refuses it, and a refused PV makes the exit status 2
if "$PVCTL" --version | grep -q '^pvctl .*drivers:.*\brbd\b'; then
	RBD=1 WANT_RC=0 IMPORTED="legacy-iscsi legacy-nfs legacy-nfs-ro legacy-rbd"
	REPORT="5 PersistentVolumes: 4 registered, 1 skipped, 0 failed"
else
	RBD=0 WANT_RC=2 IMPORTED="legacy-iscsi legacy-nfs legacy-nfs-ro"
	REPORT="5 PersistentVolumes: 3 registered, 1 skipped, 1 failed"
fi

rc=0
pv1 import -f "$FIXTURE" --dry-run >"$T/dry.json" 2>"$T/dry.err" || rc=$?
[ "$rc" = "$WANT_RC" ] || nfs_fail "dry run: exit $rc, wanted $WANT_RC (rbd built: $RBD): $(cat "$T/dry.err")"
python3 - "$T/dry.json" "$IMPORTED" <<'PY' || nfs_fail "dry run output: $(cat "$T/dry.json")"
import json, sys
items = {p["name"]: p for p in json.load(open(sys.argv[1]))["items"]}
assert sorted(items) == sys.argv[2].split(), sorted(items)
if "legacy-rbd" in items:
    assert items["legacy-rbd"]["attributes"] == {"monitors": "127.0.0.1:6789", "pool": "kube", "image": "legacy"}
    assert items["legacy-rbd"]["secretRef"] == "ceph-kube" and items["legacy-rbd"]["reclaimPolicy"] == "Retain"
assert items["legacy-nfs"]["attributes"] == {"server": "127.0.0.1", "share": "/rw"}
assert items["legacy-nfs"]["gid"] == 5555 and items["legacy-nfs"]["reclaimPolicy"] == "Retain"
assert items["legacy-nfs-ro"]["accessModes"] == ["ReadOnlyMany"]
assert items["legacy-iscsi"]["attributes"]["portals"] == "127.0.0.1:3260,127.0.0.1:3261"
assert items["legacy-iscsi"]["fsType"] == "xfs" and items["legacy-iscsi"]["secretRef"] == "legacy-chap"
PY
grep -q "skipped legacy-ebs: source awsElasticBlockStore" "$T/dry.err" || nfs_fail "dry run: $(cat "$T/dry.err")"
[ -z "$(ls "$T/state1/catalog" 2>/dev/null)" ] || nfs_fail "the dry run registered something"
nfs_ok "--dry-run prints the PVs and registers nothing"

rc=0
pv1 import -f "$FIXTURE" >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" = "$WANT_RC" ] || nfs_fail "import: exit $rc, wanted $WANT_RC: $(cat "$T/out" "$T/err")"
for want in "volume legacy-nfs registered from its nfs source (driver nfs, 5Gi, reclaimPolicy Retain)" \
	"volume legacy-nfs-ro registered" "volume legacy-iscsi registered" \
	"pvctl secret set legacy-chap node.session.auth.username=USER node.session.auth.password=-" \
	"skipped legacy-ebs: source awsElasticBlockStore" "$REPORT"; do
	grep -qF -- "$want" "$T/out" || nfs_fail "import report lacks '$want': $(cat "$T/out")"
done
if [ "$RBD" = 1 ]; then
	grep -qF "pvctl secret set ceph-kube userID=kube userKey=-" "$T/out" || nfs_fail "rbd: $(cat "$T/out")"
	nfs_ok "import: nfs, iscsi and rbd registered, awsElasticBlockStore skipped: $(tail -1 "$T/out")"
else
	grep -q "legacy-rbd (rbd): driver: unknown driver 'rbd'" "$T/err" || nfs_fail "rbd: $(cat "$T/err")"
	nfs_ok "import: nfs and iscsi registered, rbd refused, awsElasticBlockStore skipped: $(tail -1 "$T/out")"
fi

echo hello >"$T/hello"
pv1 stage legacy-nfs || nfs_fail "stage legacy-nfs"
pv1 publish legacy-nfs "$T/targets/nfs" -o json >"$T/pub.json" || nfs_fail "publish legacy-nfs"
grep -q 5555 "$T/pub.json" || nfs_fail "the gid annotation is not a supplemental group: $(cat "$T/pub.json")"
cp "$T/hello" "$T/targets/nfs/imported" && sync
cmp "$T/hello" "$NFS_RW_DIR/imported" || nfs_fail "written through the imported PV, not on the export"
pv1 stage legacy-nfs-ro && pv1 publish legacy-nfs-ro "$T/targets/ro" >/dev/null || nfs_fail "stage/publish ro"
if err=$(sh -c "echo x >'$T/targets/ro/new'" 2>&1); then nfs_fail "readOnly PV: write succeeded"; fi
echo "$err" | grep -q "Read-only file system" || nfs_fail "readOnly PV: expected EROFS, got: $err"
rc=0
pv1 stage legacy-iscsi 2>"$T/err" || rc=$?
[ "$rc" = 1 ] && grep -q "secret legacy-chap does not exist" "$T/err" || nfs_fail "iscsi stage: exit $rc: $(cat "$T/err")"
pv1 unpublish legacy-nfs "$T/targets/nfs" && pv1 unstage legacy-nfs || nfs_fail "teardown legacy-nfs"
pv1 unpublish legacy-nfs-ro "$T/targets/ro" && pv1 unstage legacy-nfs-ro || nfs_fail "teardown legacy-nfs-ro"
nfs_ok "the imported nfs PV stages and publishes on ganesha; readOnly gets EROFS; iscsi waits for its secret"

pv1 get -o k8s >"$T/k8s.json" || nfs_fail "get -o k8s"
pv2 import -f - <"$T/k8s.json" >"$T/out2" 2>&1 || nfs_fail "round trip import: $(cat "$T/out2")"
for v in $IMPORTED; do
	[ "$(pv1 get "$v" -o json)" = "$(pv2 get "$v" -o json)" ] ||
		nfs_fail "$v differs after get -o k8s | import: $(pv1 get "$v" -o json) vs $(pv2 get "$v" -o json)"
done
pv2 delete legacy-nfs >/dev/null && pv1 delete legacy-nfs >/dev/null || nfs_fail "delete"
cmp "$T/hello" "$NFS_RW_DIR/imported" || nfs_fail "deleting a Retain PV touched the export"
nfs_ok "get -o k8s | import -f - on a second state dir gives the same PVs"
echo PASS
