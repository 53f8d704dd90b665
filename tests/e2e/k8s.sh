#!/bin/bash
# tests/e2e/k8s.sh — deploy/kubernetes on a real Kubernetes: the single-node v1.20.2
# cluster of ../shared/tools/k8s-e2e (installed in /opt/k8s-e2e by its build.sh; this
# script brings it up with its up.sh when it is down, and down again at the end). Not part
# of the CI suite: it needs that cluster, minutes, and root on the host.
#
#   tests/e2e/k8s.sh            (env: K8S_E2E=/opt/k8s-e2e, MIRRORS=/work/.mirror,
#                                KEEP=1 leaves the cluster and the objects up,
#                                E2E_OUT=DIR where the pvnode log is kept)
#
# What it checks, with the manifests of deploy/kubernetes as they are but for the
# adaptations below: the three CSIDrivers and the StorageClasses apply; the node plugins
# (pvnode-node: pvnode.csi.io and block.pvnode.csi.io, --role node; pvnode-node-local:
# local.pvnode.csi.io with its node-deployment provisioner) run and register with the
# kubelet, CSINode lists the three and the local one's topology key; the example PVC of
# pvnode-file is provisioned by the provisioner on the node (WaitForFirstConsumer, the
# volume's topology in the PV's nodeAffinity); the example pod writes as uid 1000 with
# fsGroup 2000; after it ends a second pod reads the same data back; the PVC's deletion
# removes the volume; the local pvnode's metrics saw the calls. Last line: PASS or FAIL.
#
# Adaptations to that cluster (an overlay, rendered with the newest kustomize at hand and
# applied with the cluster's kubectl 1.20):
#   - images: pvnode is built from the Containerfile (tests/deploy/image_build.sh,
#     buildah) and imported into containerd; the sidecars are the releases that work with
#     Kubernetes 1.20 (node-driver-registrar v2.7.0 and csi-provisioner v3.4.1 as build.sh
#     built them, livenessprobe v2.9.0 built here from its kubernetes-csi source: the
#     pinned ones are built for current Kubernetes) in images made with the cluster's
#     mkimage.py, and busybox is the cluster's own image: no registry is reachable here;
#   - a CSIDriver.spec field the API server does not know (its OpenAPI schema lacks it) is
#     removed, and the script says which: on 1.20, seLinuxMount (1.25+;
#     doc/operations.md, "Kubernetes versions"); where the server knows it, it is applied;
#   - the controller Deployments are left out: they need the pod network (this cluster's
#     CNI is loopback only) and NFS / iSCSI servers the StorageClasses name;
#   - the node-local provisioner gets --feature-gates=Topology=true: v3.4.1 has the gate off
#     (on from v5; the pinned v6.3.0 needs nothing), and without it the PV has no
#     nodeAffinity and CreateVolume no accessibility_requirements;
#   - the node-local provisioner reaches the API server at 127.0.0.1:16443 (no kube-proxy
#     here to route the kubernetes Service), the example pods use the host network;
#   - the host's /dev and /sys become shared mounts and /var/lib/pvnode a shared bind
#     mount of itself while the test runs (containerd refuses Bidirectional and
#     HostToContainer propagation from private mounts; this VM has no systemd to make /
#     shared), and are made private again at the end.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
E=${K8S_E2E:-/opt/k8s-e2e}
MIRRORS=${MIRRORS:-/work/.mirror}
STORAGE=${PVNODE_IMAGE_STORAGE:-/var/tmp/pvnode-image-storage}
VERSION=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$SRC/meson.build" | head -1)
export KUBECONFIG=$E/pki/admin.kubeconfig
K=$E/bin/kubectl
NODE=$(hostname)
W=$(mktemp -d /tmp/pvnode-k8s-e2e.XXXXXX)
OUT=${E2E_OUT:-/tmp/pvnode-k8s-e2e-last} # logs kept after the run
STARTED_CLUSTER=0 APPLIED=0 SHARED=() BOUND_STATE=0 MADE_STATE=0

log() { echo "[k8s-e2e $(date +%T)] $*"; }
skip() { echo "SKIP: $*"; rm -rf "$W"; exit 77; }
fail() { log "FAIL: $*"; RESULT="FAIL: $*"; exit 1; }
RESULT=""

[ "$(id -u)" = 0 ] || skip "needs root"
for b in kubelet kube-apiserver kubectl csi-node-driver-registrar csi-provisioner; do
	[ -x "$E/bin/$b" ] || skip "$E/bin/$b is missing: build the cluster first (MIRRORS=... $E/build.sh; see ../shared/tools/k8s-e2e/REPORT.md)"
done
command -v buildah >/dev/null || skip "buildah is needed for the pvnode image (scripts/deps/image.txt)"
command -v go >/dev/null || skip "go is needed to build the sidecars (build.sh installs golang-go)"

wait_for() { # SECONDS CMD...: until CMD succeeds
	local t=$1 s=$SECONDS
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS - s > t)) && return 1
		sleep 1
	done
}

cleanup() {
	local rc=$?
	if [ "${KEEP:-0}" = 1 ]; then
		log "KEEP=1: leaving the cluster, the objects and the shared mounts as they are ($W)"
	else
		if [ "$APPLIED" = 1 ]; then
			log "cleanup: objects"
			$K delete pod -n default pvnode-example pvnode-e2e-reader --ignore-not-found --wait=true --timeout=120s >/dev/null 2>&1
			$K delete pvc -n default pvnode-file-data --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1
			wait_for 60 sh -c "! $K get pv -o name | grep -q ." || log "cleanup: a PV is left: $($K get pv -o name)"
			$K delete -f "$W/rendered.yaml" --ignore-not-found --wait=true --timeout=120s >/dev/null 2>&1
			wait_for 120 sh -c "! $K get pods -n pvnode -o name 2>/dev/null | grep -q ." ||
				log "cleanup: pvnode pods are left: $($K get pods -n pvnode -o name)"
		fi
		if [ "$STARTED_CLUSTER" = 1 ]; then
			log "cleanup: stopping the cluster this script started"
			"$E/down.sh" >"$W/down.log" 2>&1 || log "down.sh: $(tail -3 "$W/down.log")"
		fi
		[ "$BOUND_STATE" = 1 ] && { umount /var/lib/pvnode 2>/dev/null || umount -l /var/lib/pvnode; }
		[ "$MADE_STATE" = 1 ] && rm -rf /var/lib/pvnode
		for m in ${SHARED[@]+"${SHARED[@]}"}; do mount --make-private "$m"; done
		rm -rf "$W"
	fi
	[ -n "$RESULT" ] && echo "$RESULT"
	[ -z "$RESULT" ] && [ "$rc" != 0 ] && echo "FAIL: exit $rc"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- the cluster
if ! $K get --raw /readyz >/dev/null 2>&1; then
	log "the cluster is down: $E/up.sh"
	"$E/up.sh" >"$W/up.log" 2>&1 || fail "up.sh: $(tail -5 "$W/up.log")"
	STARTED_CLUSTER=1
fi
log "cluster: $($K version --short 2>/dev/null | tr '\n' ' ')"
command -v ctr >/dev/null || fail "ctr (containerd) is not installed"

# ---- images
import() { # TAR
	ctr -n k8s.io images import "$1" >/dev/null || fail "ctr import $1"
}
have_image() { ctr -n k8s.io images ls -q | grep -qx "$1"; }

pvnode_image() {
	local ref=localhost/pvnode:$VERSION B=(buildah --root "$STORAGE" --runroot /run/pvnode-image-storage --storage-driver vfs)
	log "pvnode image: tests/deploy/image_build.sh (buildah; minutes the first time)"
	PVNODE_SOURCE_ROOT=$SRC PVNODE_CONTAINER_ENGINE=buildah bash "$SRC/tests/deploy/image_build.sh" >"$W/image.log" 2>&1
	"${B[@]}" inspect --type image "$ref" >/dev/null 2>&1 || fail "no image $ref: $(tail -20 "$W/image.log")"
	grep -E '^(built|FAIL|image|runtime)' "$W/image.log" | sed 's/^/    /'
	"${B[@]}" push -q "$ref" "docker-archive:$W/pvnode.tar:$ref" >/dev/null || fail "buildah push $ref"
	import "$W/pvnode.tar"
}

# sidecar REPO TAG CMD: image k8s-e2e.local/CMD:TAG of that release: the binary build.sh
# made (with the libraries ldd lists), else a static build of the release's source
sidecar() {
	local repo=$1 tag=$2 cmd=$3 ref=k8s-e2e.local/$3:$2 src=$E/src/$1 root=$W/img/$3 lib
	have_image "$ref" && return 0
	mkdir -p "$root"
	if [ -x "$E/bin/$cmd" ] && "$E/bin/$cmd" --version 2>&1 | grep -q "$tag"; then
		cp "$E/bin/$cmd" "$root/$cmd"
		for lib in $(ldd "$E/bin/$cmd" | grep -o '/[^ ]*'); do
			mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"
		done
	else
		if [ ! -d "$src" ]; then
			[ -d "$MIRRORS/kubernetes-csi+$repo/repo" ] || fail "no source of $repo: neither $src nor $MIRRORS/kubernetes-csi+$repo/repo"
			git clone -q "$MIRRORS/kubernetes-csi+$repo/repo" "$src" || fail "git clone $repo"
		fi
		log "building $repo $tag"
		(cd "$src" && git checkout -q "$tag" && CGO_ENABLED=0 GOFLAGS=-mod=vendor GOPROXY=off GOCACHE=/tmp/k8s/gocache-static \
			go build -p 2 -trimpath -ldflags="-s -w -X main.version=$tag" -o "$root/$cmd" "./cmd/$cmd") \
			>"$W/build-$cmd.log" 2>&1 || fail "building $repo $tag: $(tail -5 "$W/build-$cmd.log")"
	fi
	python3 "$E/images/mkimage.py" "$root" "$ref" "$W/$cmd.tar" "[\"/$cmd\"]" >/dev/null || fail "mkimage $ref"
	import "$W/$cmd.tar"
	log "image $ref made"
}
if [ "${REBUILD:-1}" = 0 ] && buildah --root "$STORAGE" --runroot /run/pvnode-image-storage --storage-driver vfs \
	inspect --type image "localhost/pvnode:$VERSION" >/dev/null 2>&1; then
	log "REBUILD=0: the pvnode image as it was last built"
	buildah --root "$STORAGE" --runroot /run/pvnode-image-storage --storage-driver vfs push -q "localhost/pvnode:$VERSION" \
		"docker-archive:$W/pvnode.tar:localhost/pvnode:$VERSION" >/dev/null || fail "buildah push"
	import "$W/pvnode.tar"
else
	pvnode_image
fi
sidecar node-driver-registrar v2.7.0 csi-node-driver-registrar
sidecar external-provisioner v3.4.1 csi-provisioner
sidecar livenessprobe v2.9.0 livenessprobe
BUSYBOX=$(ctr -n k8s.io images ls -q | grep '^k8s-e2e.local/busybox:' | head -1)
[ -n "$BUSYBOX" ] || fail "the cluster's busybox image is not in containerd"

# ---- the host's mounts: shared where the manifests propagate mounts
for m in /dev /sys; do
	if [ "$(findmnt -no PROPAGATION "$m")" = private ]; then
		mount --make-shared "$m" && SHARED+=("$m")
	fi
done
[ -d /var/lib/pvnode ] || { mkdir -p /var/lib/pvnode && MADE_STATE=1; }
if [ "$(findmnt -no TARGET --target /var/lib/pvnode)" != /var/lib/pvnode ]; then
	mount --bind /var/lib/pvnode /var/lib/pvnode && BOUND_STATE=1
fi
mount --make-shared /var/lib/pvnode

# ---- fields newer than the API server: CSIDriver.spec keys its OpenAPI schema lacks
$K get --raw /openapi/v2 >"$W/openapi.json" 2>/dev/null || fail "no OpenAPI schema from the API server"
KNOWN=$(python3 -c 'import json,sys; print(" ".join(sorted(json.load(open(sys.argv[1]))["definitions"]["io.k8s.api.storage.v1.CSIDriverSpec"]["properties"])))' "$W/openapi.json") ||
	fail "the API server's schema has no storage.k8s.io/v1 CSIDriverSpec"
USED=$(python3 -c '
import sys, yaml
keys = set()
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "CSIDriver":
        keys |= set(d["spec"])
print(" ".join(sorted(keys)))' "$SRC/deploy/kubernetes/csidriver.yaml") || fail "cannot read deploy/kubernetes/csidriver.yaml (python3-yaml)"
UNKNOWN_FIELDS="" APPLIED_FIELDS=""
for f in $USED; do
	if [[ " $KNOWN " == *" $f "* ]]; then APPLIED_FIELDS+="$f "; else UNKNOWN_FIELDS+="$f "; fi
done
log "CSIDriver fields applied as they are: $APPLIED_FIELDS"
[ -n "$UNKNOWN_FIELDS" ] && log "CSIDriver fields this API server does not know, left out: $UNKNOWN_FIELDS"

# ---- the overlay
mkdir -p "$W/overlay"
cp -r "$SRC/deploy/kubernetes" "$W/base"
cat >"$W/overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
bases:
  - ../base
  - ../base/examples
images:
  - {name: registry.k8s.io/sig-storage/csi-node-driver-registrar, newName: k8s-e2e.local/csi-node-driver-registrar, newTag: "v2.7.0"}
  - {name: registry.k8s.io/sig-storage/csi-provisioner, newName: k8s-e2e.local/csi-provisioner, newTag: "v3.4.1"}
  - {name: registry.k8s.io/sig-storage/livenessprobe, newName: k8s-e2e.local/livenessprobe, newTag: "v2.9.0"}
  - {name: docker.io/library/busybox, newName: "${BUSYBOX%:*}", newTag: "${BUSYBOX##*:}"}
patchesStrategicMerge:
  - drop-controllers.yaml
  - pod-host-network.yaml
patchesJson6902:
  - target: {group: apps, version: v1, kind: DaemonSet, name: pvnode-node-local, namespace: pvnode}
    path: local-provisioner.yaml
$(if [ -n "$UNKNOWN_FIELDS" ]; then
	for d in pvnode.csi.io block.pvnode.csi.io local.pvnode.csi.io; do
		printf '  - target: {group: storage.k8s.io, version: v1, kind: CSIDriver, name: %s}\n    path: csidriver-unknown-fields.yaml\n' "$d"
	done
fi)
EOF
# the node-local provisioner: the Topology gate, and the API server without a Service
c=$(python3 -c '
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
print([c["name"] for c in d["spec"]["template"]["spec"]["containers"]].index("csi-provisioner"))' "$SRC/deploy/kubernetes/node-local.yaml") ||
	fail "no csi-provisioner container in deploy/kubernetes/node-local.yaml"
cat >"$W/overlay/local-provisioner.yaml" <<EOF
- {op: test, path: /spec/template/spec/containers/$c/name, value: csi-provisioner}
- {op: add, path: /spec/template/spec/containers/$c/args/-, value: "--feature-gates=Topology=true"}
- {op: add, path: /spec/template/spec/containers/$c/env/-, value: {name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}}
- {op: add, path: /spec/template/spec/containers/$c/env/-, value: {name: KUBERNETES_SERVICE_PORT, value: "16443"}}
EOF
for f in $UNKNOWN_FIELDS; do printf -- '- op: remove\n  path: /spec/%s\n' "$f"; done >"$W/overlay/csidriver-unknown-fields.yaml"
cat >"$W/overlay/drop-controllers.yaml" <<'EOF'
$patch: delete
apiVersion: apps/v1
kind: Deployment
metadata: {name: pvnode-controller, namespace: pvnode}
---
$patch: delete
apiVersion: apps/v1
kind: Deployment
metadata: {name: pvnode-controller-block, namespace: pvnode}
EOF
cat >"$W/overlay/pod-host-network.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: pvnode-example, namespace: default}
spec:
  hostNetwork: true
EOF
if command -v kubectl >/dev/null && kubectl kustomize "$W/overlay" >"$W/rendered.yaml" 2>"$W/kustomize.err"; then
	log "rendered with $(kubectl version --client 2>/dev/null | grep -i kustomize | head -1)"
else
	$K kustomize "$W/overlay" >"$W/rendered.yaml" 2>"$W/kustomize.err" || fail "kustomize: $(cat "$W/kustomize.err")"
fi
for f in $UNKNOWN_FIELDS; do grep -q "^  $f:" "$W/rendered.yaml" && fail "$f was not removed"; done
python3 -c '
import sys, yaml
left = [d["metadata"]["name"] for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "Deployment"]
sys.exit(1 if left else 0)' "$W/rendered.yaml" || fail "the controller Deployments were not left out"

# ---- apply
log "kubectl apply ($(grep -c '^kind:' "$W/rendered.yaml") objects)"
APPLIED=1
$K apply -f "$W/rendered.yaml" >"$W/apply.log" 2>&1 || fail "kubectl apply: $(tail -5 "$W/apply.log")"
n_drivers=$($K get csidrivers -o name | grep -c 'pvnode.csi.io')
[ "$n_drivers" = 3 ] || fail "$n_drivers CSIDrivers, expected 3"
for sc in pvnode-nfs pvnode-iscsi pvnode-rbd pvnode-file; do
	$K get storageclass "$sc" >/dev/null 2>&1 || fail "StorageClass $sc did not apply"
done
log "CSIDrivers and StorageClasses applied"

ds_ready() { # NAME: every container of its pod on this node ready
	[ "$($K -n pvnode get ds "$1" -o jsonpath='{.status.numberReady}')" = 1 ]
}
for ds in pvnode-node pvnode-node-local; do
	wait_for 240 ds_ready "$ds" || {
		$K -n pvnode get pods -o wide
		$K -n pvnode describe pods | tail -40
		fail "DaemonSet $ds is not ready"
	}
done
log "node plugins ready: $($K -n pvnode get pods --no-headers | awk '{print $1" "$2}' | tr '\n' ' ')"
csinode_has() { [ "$($K get csinode "$NODE" -o jsonpath='{.spec.drivers[*].name}' | wc -w)" = 3 ]; }
wait_for 60 csinode_has || fail "CSINode lists: $($K get csinode "$NODE" -o jsonpath='{.spec.drivers[*].name}')"
topo=$($K get csinode "$NODE" -o jsonpath='{.spec.drivers[?(@.name=="local.pvnode.csi.io")].topologyKeys}')
[[ "$topo" == *topology.pvnode.io/node* ]] || fail "local.pvnode.csi.io has no topology key in CSINode: $topo"
[ "$($K get node "$NODE" -o jsonpath='{.metadata.labels.topology\.pvnode\.io/node}')" = "$NODE" ] ||
	fail "the node has no topology.pvnode.io/node label"
log "CSINode: $($K get csinode "$NODE" -o jsonpath='{.spec.drivers[*].name}'); local topology $topo"

# ---- the example: provisioned on this node, written, read back after the pod ended
pod_phase() { $K get pod -n default "$1" -o jsonpath='{.status.phase}' 2>/dev/null; }
running() { [ "$(pod_phase "$1")" = Running ]; }
wait_for 180 running pvnode-example || {
	$K describe pvc -n default pvnode-file-data | tail -15
	$K describe pod -n default pvnode-example | tail -20
	fail "the example pod does not run"
}
PV=$($K get pvc -n default pvnode-file-data -o jsonpath='{.spec.volumeName}')
[ -n "$PV" ] || fail "the PVC is not bound"
drv=$($K get pv "$PV" -o jsonpath='{.spec.csi.driver}')
aff=$($K get pv "$PV" -o jsonpath='{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].key}={.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}')
[ "$drv" = local.pvnode.csi.io ] || fail "PV $PV has driver $drv"
[ "$aff" = "topology.pvnode.io/node=$NODE" ] || fail "PV $PV has node affinity '$aff': $($K get pv "$PV" -o jsonpath='{.spec.nodeAffinity}')"
log "PVC bound to $PV ($drv, $aff)"
wait_for 30 sh -c "$K logs -n default pvnode-example | grep -q ' 1000 *2000 '" ||
	fail "the pod did not write as 1000:2000: $($K logs -n default pvnode-example)"
written=$($K logs -n default pvnode-example | grep -c . || true)
log "the pod wrote: $($K logs -n default pvnode-example | tr '\n' '|')"
$K delete pod -n default pvnode-example --wait=true --timeout=120s >/dev/null || fail "the writer pod did not end"
cat >"$W/reader.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: pvnode-e2e-reader, namespace: default}
spec:
  hostNetwork: true
  restartPolicy: Never
  securityContext: {runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000}
  containers:
    - name: reader
      image: $BUSYBOX
      command: [sh, -c, "cat /data/log"]
      volumeMounts: [{name: data, mountPath: /data}]
  volumes:
    - name: data
      persistentVolumeClaim: {claimName: pvnode-file-data}
EOF
$K apply -f "$W/reader.yaml" >/dev/null || fail "reader pod"
done_ok() { [ "$(pod_phase pvnode-e2e-reader)" = Succeeded ]; }
wait_for 120 done_ok || fail "the reader pod did not finish: $(pod_phase pvnode-e2e-reader)"
readback=$($K logs -n default pvnode-e2e-reader)
[ -n "$readback" ] || fail "the reader found no data"
log "after the writer ended, the reader read: $readback"
[ "$written" -ge 1 ] || fail "nothing was written"

# ---- the local pvnode's metrics
NODE_IP=$($K get pod -n pvnode -l app.kubernetes.io/component=node-local -o jsonpath='{.items[0].status.hostIP}')
M=$(curl -sf "http://$NODE_IP:9822/metrics") || fail "no metrics on $NODE_IP:9822"
for want in 'pvnode_csi_calls_total{method="CreateVolume",code="OK"}' 'pvnode_csi_calls_total{method="NodePublishVolume",code="OK"}' \
	'pvnode_build_info{version="'"$VERSION"'",driver_name="local.pvnode.csi.io",role="all"} 1'; do
	grep -qF "$want" <<<"$M" || fail "metrics lack $want"
done
log "metrics: $(grep -E '^pvnode_csi_calls_total' <<<"$M" | sed 's/pvnode_csi_calls_total//' | tr '\n' ' ')"

# ---- what the kubelet and the sidecars sent (the local pvnode's request log)
LOCAL_POD=$($K get pod -n pvnode -l app.kubernetes.io/component=node-local -o jsonpath='{.items[0].metadata.name}')
mkdir -p "$OUT"
$K logs -n pvnode "$LOCAL_POD" -c pvnode >"$OUT/pvnode-node-local.log" 2>&1
calls=$(grep -o '[A-Za-z]* request ' "$OUT/pvnode-node-local.log" | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}')
log "calls the local pvnode got: ${calls%, }"
grep -q 'NodePublishVolume request.*volume_mount_group' "$OUT/pvnode-node-local.log" &&
	log "the kubelet sent volume_mount_group (fsGroup delegated to pvnode)" ||
	log "the kubelet sent no volume_mount_group (fsGroup applied by the kubelet itself: delegation is 1.22+)"
grep -q 'NodeStageVolume request.*context=' "$OUT/pvnode-node-local.log" &&
	log "the kubelet sent a context= mount option" || log "the kubelet sent no context= mount option"

# ---- deleting the PVC deletes the volume
$K delete pod -n default pvnode-e2e-reader --wait=true --timeout=60s >/dev/null
$K delete pvc -n default pvnode-file-data --wait=true --timeout=60s >/dev/null || fail "PVC deletion"
pv_gone() { ! $K get pv "$PV" >/dev/null 2>&1; }
wait_for 90 pv_gone || fail "PV $PV was not deleted"
[ -e "/var/lib/pvnode/catalog/$PV.json" ] && fail "the catalog still holds $PV"
log "PVC deleted: PV $PV and its image are gone"
RESULT="PASS: deploy/kubernetes on Kubernetes $($K version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])' 2>/dev/null): 3 CSIDrivers, 4 StorageClasses, node plugins registered, PVC provisioned on the node, written, read back after the pod ended, deleted"
