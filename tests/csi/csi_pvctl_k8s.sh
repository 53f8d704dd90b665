#!/bin/bash
# csi_pvctl_k8s.sh — pvctl for Kubernetes and over CSI:
#   - get -o k8s writes the CSI driver name that serves the volume's driver
#     (local.pvnode.csi.io for file, block.pvnode.csi.io for iscsi), storageClassName ""
#     (or --storage-class), nodeAffinity on topology.pvnode.io/node for node-local
#     volumes; in-process and over --endpoint;
#   - pvctl --endpoint publish, stats and unstage find where a volume is staged (the
#     daemon's node journal) without --staging-path, whoever staged it.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
L() { "$PVCTL" --state-dir "$T/state" --node-id node-a --allowed-path "$ALLOWED" "$@"; }
P() { L --endpoint "$EP" "$@"; }
rc_of() { local rc=0; "$@" >"$T/out" 2>"$T/err" || rc=$?; echo "$rc"; }
# k8s FILE PYTHON-ASSERTIONS on the manifest `m` (or the List `l`)
k8s() {
	python3 - "$1" "$2" <<'PY' || csi_fail "manifest: $(cat "$1")"
import json, sys
m = json.load(open(sys.argv[1])); l = m
exec(sys.argv[2])
PY
}

cat >"$T/f1.json" <<JSON
{"name": "f1", "driver": "file", "capacity": "32Mi", "accessModes": ["ReadWriteOnce"]}
JSON
L create -f "$T/f1.json" >/dev/null
if "$PVCTL" --version | grep -q iscsi; then
	cat >"$T/b1.json" <<JSON
{"name": "b1", "driver": "iscsi", "capacity": "1Gi", "accessModes": ["ReadWriteOnce"], "secretRef": "chap",
 "attributes": {"portal": "127.0.0.1:3260", "iqn": "iqn.2026-11.io.pvnode.test:k8s", "lun": "1"}}
JSON
	L secret set chap node.session.auth.username=u node.session.auth.password=pw-0123456789 >/dev/null
	L create -f "$T/b1.json" >/dev/null
	L get b1 -o k8s >"$T/b1.k8s"
	k8s "$T/b1.k8s" '
s = m["spec"]
assert s["csi"]["driver"] == "block.pvnode.csi.io", s["csi"]
assert s["storageClassName"] == ""
assert "nodeAffinity" not in s
assert s["csi"]["nodeStageSecretRef"] == {"name": "chap", "namespace": "pvnode"}
assert s["csi"]["controllerPublishSecretRef"]["name"] == "chap"'
	L get -o k8s >"$T/all.k8s"
	k8s "$T/all.k8s" 'assert l["kind"] == "List" and len(l["items"]) == 2'
fi
L get f1 -o k8s >"$T/f1.k8s"
k8s "$T/f1.k8s" '
s = m["spec"]
assert s["csi"]["driver"] == "local.pvnode.csi.io", s["csi"]
assert s["storageClassName"] == ""
e = s["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
assert e == {"key": "topology.pvnode.io/node", "operator": "In", "values": ["node-a"]}, e
assert s["csi"]["volumeAttributes"]["pvnode.io/driver"] == "file"'
L get f1 -o k8s --storage-class pvnode-file >"$T/f1c.k8s"
k8s "$T/f1c.k8s" 'assert m["spec"]["storageClassName"] == "pvnode-file"'
[ "$(rc_of L get f1 --storage-class pvnode-file)" = 2 ] || csi_fail "--storage-class without -o k8s is not 2"
[ "$(rc_of L get f1 -o k8s --storage-class Bad_Name)" = 2 ] || csi_fail "a bad class name is not 2"

csi_start
P get f1 -o k8s >"$T/f1r.k8s" || csi_fail "get -o k8s over CSI: $(cat "$T/f1r.k8s")"
k8s "$T/f1r.k8s" '
s = m["spec"]
assert s["csi"]["driver"] == "local.pvnode.csi.io"
assert s["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["node-a"]'
[ "$(rc_of P get nosuch -o k8s)" = 1 ] || csi_fail "get of an unknown volume over CSI is not 1"

# Staged at a path of its own: publish, stats and unstage find it.
mkdir -p "$ALLOWED/pods/a"
[ "$(rc_of P stage f1 --staging-path "$ALLOWED/custom/f1")" = 0 ] || csi_fail "stage: $(cat "$T/err")"
mountpoint -q "$ALLOWED/custom/f1" || csi_fail "not staged at the custom path"
[ "$(rc_of P publish f1 "$ALLOWED/pods/a/f1")" = 0 ] || csi_fail "publish without --staging-path: $(cat "$T/err")"
[ "$(rc_of P stats f1)" = 0 ] || csi_fail "stats without a path: $(cat "$T/err")"
[ "$(rc_of P unpublish f1 "$ALLOWED/pods/a/f1")" = 0 ] || csi_fail "unpublish: $(cat "$T/err")"
[ "$(rc_of P unstage f1)" = 0 ] || csi_fail "unstage without --staging-path: $(cat "$T/err")"
mountpoint -q "$ALLOWED/custom/f1" && csi_fail "still staged after unstage"
# staged by a CO (kubelet's path), unstaged by an operator
expect OK NodeStageVolume volume_id=f1 staging_target_path="$ALLOWED/plugins/kubernetes.io/csi/pv/f1/globalmount" $(cap_mount)
[ "$(rc_of P unstage f1)" = 0 ] || csi_fail "unstage of a CO's stage: $(cat "$T/err")"
mountpoint -q "$ALLOWED/plugins/kubernetes.io/csi/pv/f1/globalmount" && csi_fail "the CO's stage is still mounted"
echo PASS
