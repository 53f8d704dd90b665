"""manifest_rules.py — what check_manifests.py holds the manifests to: the flags pvnode
does not have yet, the kind of storage and driver name per pvnode driver, the
Kubernetes kinds deployed, and per pinned sidecar release its flags and the RBAC rules
its repository documents. Edit here when a sidecar is bumped or a driver is added.
"""

# Flags the manifests use before pvnode has them. Each is checked as soon as
# "pvnode --help" lists it; until then it is reported, never silently accepted.
PENDING_FLAGS = {}
FUTURE_DRIVERS = {"rbd": "the rbd driver is to come (StorageClass pvnode-rbd)"}

# Kind of storage per pvnode driver, and the driver name serving each kind (a prefix
# to the name in the C sources): see doc/operations.md, "Why three driver names".
DRIVER_KIND = {"nfs": "shared", "iscsi": "block", "rbd": "block", "file": "local"}
KIND_PREFIX = {"shared": "", "block": "block.", "local": "local."}
KIND_SELINUX_MOUNT = {"shared": False, "block": True, "local": True}

KINDS = {  # kind: (apiVersion, namespaced)
    "Namespace": ("v1", False), "ServiceAccount": ("v1", True), "Secret": ("v1", True),
    "PersistentVolumeClaim": ("v1", True), "PersistentVolume": ("v1", False),
    "Pod": ("v1", True),
    "CSIDriver": ("storage.k8s.io/v1", False), "StorageClass": ("storage.k8s.io/v1", False),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", False),
    "Role": ("rbac.authorization.k8s.io/v1", True),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", True),
    "DaemonSet": ("apps/v1", True), "Deployment": ("apps/v1", True),
    "VolumeSnapshotClass": ("snapshot.storage.k8s.io/v1", False),
}

# The sidecars, pinned: the flags of each release (read from its cmd/ and
# csi-lib-utils/standardflags at that tag) and the RBAC rules its deploy/kubernetes
# documents. A new tag needs its flags read again: the check fails until then.
COMMON_FLAGS = {"version", "kubeconfig", "csi-address", "leader-election",
                "leader-election-namespace", "leader-election-lease-duration",
                "leader-election-renew-deadline", "leader-election-retry-period",
                "leader-election-labels", "kube-api-qps", "kube-api-burst", "http-endpoint",
                "metrics-address", "metrics-path", "v", "vmodule"}
SIDECARS = {
    "csi-provisioner": ("v6.3.0", COMMON_FLAGS | {
        "capacity-for-immediate-binding", "capacity-ownerref-level", "capacity-poll-interval",
        "capacity-threads", "cloning-protection-threads", "controller-publish-readonly",
        "default-fstype", "enable-capacity", "enable-pprof", "extra-create-metadata",
        "immediate-topology", "kube-api-capacity-burst", "kube-api-capacity-qps", "master",
        "node-deployment", "node-deployment-base-delay", "node-deployment-immediate-binding",
        "node-deployment-max-delay", "prevent-volume-mode-conversion", "retry-interval-max",
        "retry-interval-start", "snapshot-orphan-sweep-interval", "strict-topology", "timeout",
        "volume-name-prefix", "volume-name-uuid-length", "worker-threads", "feature-gates"}),
    "csi-attacher": ("v4.12.0", COMMON_FLAGS | {
        "default-fstype", "max-entries", "max-grpc-log-length", "reconcile-sync", "resync",
        "retry-interval-max", "retry-interval-start", "timeout", "worker-threads"}),
    "csi-resizer": ("v2.2.1", COMMON_FLAGS | {
        "extra-modify-metadata", "feature-gates", "handle-volume-inuse-error", "master",
        "resync-period", "retry-interval-max", "retry-interval-start", "timeout", "workers"}),
    "csi-snapshotter": ("v8.6.0", COMMON_FLAGS | {
        "extra-create-metadata", "node-deployment", "resync-period", "retry-interval-max",
        "retry-interval-start", "snapshot-name-prefix", "snapshot-name-uuid-length", "timeout",
        "worker-threads", "feature-gates"}),
    "csi-node-driver-registrar": ("v2.17.0", {
        "connection-timeout", "csi-address", "enable-pprof", "health-port", "http-endpoint",
        "kubelet-registration-path", "mode", "plugin-registration-path", "timeout", "version",
        "v", "vmodule"}),
    "livenessprobe": ("v2.19.0", {
        "csi-address", "http-endpoint", "metrics-address", "metrics-path", "probe-timeout",
        "v", "vmodule"}),
}
LEASES = [("coordination.k8s.io", "leases", "get watch list delete update create")]
RBAC_NEEDS = {
    "csi-provisioner": [
        ("", "persistentvolumes", "get list watch create patch delete"),
        ("", "persistentvolumeclaims", "get list watch update"),
        ("storage.k8s.io", "storageclasses", "get list watch"),
        ("", "events", "list watch create update patch"),
        ("storage.k8s.io", "csinodes", "get list watch"),
        ("", "nodes", "get list watch"),
        ("storage.k8s.io", "volumeattachments", "get list watch")],
    "csi-attacher": [
        ("", "persistentvolumes", "get list watch patch"),
        ("storage.k8s.io", "csinodes", "get list watch"),
        ("storage.k8s.io", "volumeattachments", "get list watch patch"),
        ("storage.k8s.io", "volumeattachments/status", "patch")],
    "csi-resizer": [
        ("", "persistentvolumes", "get list watch patch"),
        ("", "persistentvolumeclaims", "get list watch"),
        ("", "pods", "get list watch"),
        ("", "persistentvolumeclaims/status", "patch"),
        ("", "events", "list watch create update patch"),
        ("storage.k8s.io", "volumeattributesclasses", "get list watch")],
    "csi-snapshotter": [
        ("", "events", "list watch create update patch"),
        ("snapshot.storage.k8s.io", "volumesnapshotclasses", "get list watch"),
        ("snapshot.storage.k8s.io", "volumesnapshotcontents", "get list watch update patch"),
        ("snapshot.storage.k8s.io", "volumesnapshotcontents/status", "update patch")],
}
# external-provisioner restoring from snapshots, where snapshots are deployed
PROVISIONER_SNAPSHOT_NEEDS = [
    ("snapshot.storage.k8s.io", "volumesnapshots", "get list watch update"),
    ("snapshot.storage.k8s.io", "volumesnapshotcontents", "get list")]
# StorageClass secret parameter -> the sidecar that reads the secret
SECRET_READER = {"provisioner": "csi-provisioner", "controller-publish": "csi-attacher",
                 "controller-expand": "csi-resizer", "node-stage": None,
                 "node-publish": None, "node-expand": None, "snapshotter": "csi-snapshotter"}
ISCSI_SECRET_KEYS = {"node.session.auth.username", "node.session.auth.password",
                     "node.session.auth.username_in", "node.session.auth.password_in",
                     "discovery.sendtargets.auth.username",
                     "discovery.sendtargets.auth.password"}
