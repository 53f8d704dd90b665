#!/usr/bin/env python3
"""check_manifests_selftest.py — proves check_manifests.py fails when the manifests break.

Copies the parts of the source tree the checker reads into a temporary directory, breaks
one thing at a time (each mutation below), runs the checker and expects it to fail with
a message naming the problem; the unbroken copy must pass. Suite deploy.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml  # noqa: F401  (the checker needs it)
except ImportError:
    print("SKIP: python3-yaml is not installed")
    sys.exit(77)

SRC = os.environ.get("PVNODE_SOURCE_ROOT") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
CHECKER = os.path.join(SRC, "tests", "deploy", "check_manifests.py")
K = "deploy/kubernetes/"

# (what breaks, file, old text, new text, a regex the checker's output must match)
MUTATIONS = [
    ("registrar registers another path", K + "node.yaml",
     "- --kubelet-registration-path=/var/lib/kubelet/plugins/pvnode.csi.io/csi.sock\n            - --v=2",
     "- --kubelet-registration-path=/var/lib/kubelet/plugins/pvnode/csi.sock\n            - --v=2",
     r"kubelet-registration-path .* kubelet expects"),
    ("a sidecar dials no pvnode", K + "controller.yaml",
     "            - --csi-address=/csi/csi.sock\n            - --extra-create-metadata",
     "            - --csi-address=/csi/other.sock\n            - --extra-create-metadata",
     r"csi-address /csi/other.sock .* not one"),
    ("pvnode serves its socket elsewhere", K + "node-local.yaml",
     "--endpoint=unix:///var/lib/kubelet/plugins/local.pvnode.csi.io/csi.sock",
     "--endpoint=unix:///var/lib/kubelet/plugins/local/csi.sock",
     r"csi-address /csi/csi.sock .* not one"),
    ("selector does not match the template", K + "node.yaml",
     "    matchLabels:\n      app.kubernetes.io/name: pvnode\n      app.kubernetes.io/component: node\n",
     "    matchLabels:\n      app.kubernetes.io/name: pvnode\n      app.kubernetes.io/component: nodes\n",
     r"selector app.kubernetes.io/component=nodes does not match"),
    ("a mount names a missing volume", K + "node.yaml",
     "        - name: run-mount\n          hostPath:", "        - name: run-mnt\n          hostPath:",
     r"names volume run-mount, which the pod does not have"),
    ("a missing service account", K + "controller.yaml",
     "serviceAccountName: pvnode-controller\n", "serviceAccountName: pvnode-ctrl\n",
     r"serviceAccountName pvnode-ctrl does not exist"),
    ("a binding to a missing role", K + "rbac.yaml",
     "  kind: ClusterRole\n  name: pvnode-external-attacher\n",
     "  kind: ClusterRole\n  name: pvnode-external-attach\n",
     r"roleRef ClusterRole pvnode-external-attach does not exist"),
    ("a right nobody needs", K + "rbac.yaml",
     "subjects:\n  # not pvnode-controller: nfs takes no secrets\n",
     "subjects:\n  - kind: ServiceAccount\n    name: pvnode-controller\n    namespace: pvnode\n",
     r"pvnode-controller: holds get core/secrets in pvnode, which none"),
    ("a right missing", K + "rbac.yaml",
     '    resources: ["volumeattachments/status"]\n    verbs: ["patch"]\n',
     '    resources: ["volumeattachments/status"]\n    verbs: ["get"]\n',
     r"need patch storage.k8s.io/volumeattachments/status"),
    ("an option pvnode does not have", K + "node.yaml",
     "            - --selinux=auto\n            - --log-format=json\n            - --metrics-address=$(NODE_IP):9820",
     "            - --selinux=auto\n            - --log-fmt=json\n            - --metrics-address=$(NODE_IP):9820",
     r"pvnode has no option --log-fmt"),
    ("a flag the sidecar release does not have", K + "controller.yaml",
     "            - --handle-volume-inuse-error=false", "            - --handle-inuse=false",
     r"csi-resizer v2.2.1 has no flag --handle-inuse"),
    ("an unpinned image", K + "controller.yaml",
     "csi-resizer:v2.2.1", "csi-resizer:latest", r"not pinned"),
    ("nfs under the block driver name", K + "storageclass.yaml",
     "provisioner: pvnode.csi.io\nparameters:\n  driver: nfs",
     "provisioner: block.pvnode.csi.io\nparameters:\n  driver: nfs",
     r"nfs is shared storage, served as pvnode.csi.io, not block.pvnode.csi.io"),
    ("seLinuxMount on shared storage", K + "csidriver.yaml",
     "  fsGroupPolicy: File\n  seLinuxMount: false", "  fsGroupPolicy: File\n  seLinuxMount: true",
     r"seLinuxMount must be False for shared storage"),
    ("a driver pvnode does not have", K + "storageclass.yaml",
     "  driver: file\n", "  driver: zfs\n", r"driver zfs is not one pvnode has"),
    ("attachRequired without an attacher", K + "csidriver.yaml",
     "  attachRequired: false\n  podInfoOnMount: true\n  fsGroupPolicy: File\n  seLinuxMount: false",
     "  attachRequired: true\n  podInfoOnMount: true\n  fsGroupPolicy: File\n  seLinuxMount: false",
     r"CSIDriver pvnode.csi.io has attachRequired true, but no csi-attacher"),
    ("Bidirectional without privileges", K + "node-local.yaml",
     "          securityContext:\n            privileged: true\n", "          securityContext:\n            privileged: false\n",
     r"Bidirectional, which needs a privileged container"),
    ("the state directory not on the host", K + "node.yaml",
     "        - name: state\n          hostPath:\n            path: /var/lib/pvnode\n",
     "        - name: state\n          hostPath:\n            path: /var/lib/pvnode-tmp\n",
     r"/var/lib/pvnode comes from /var/lib/pvnode-tmp"),
    ("two host ports collide", K + "node-local.yaml",
     "--http-endpoint=:9810", "--http-endpoint=:9808", r"host port 9808 .* also used by"),
    ("a PVC of a missing class", K + "examples/pvc-file.yaml",
     "storageClassName: pvnode-file", "storageClassName: pvnode-files",
     r"storageClassName pvnode-files is not a pvnode StorageClass"),
    ("a StorageClass secret without an example", K + "storageclass.yaml",
     "csi.storage.k8s.io/node-stage-secret-name: pvnode-rbd\n",
     "csi.storage.k8s.io/node-stage-secret-name: pvnode-ceph\n",
     r"secret pvnode/pvnode-ceph has no example"),
    ("a file left out of the kustomization", K + "kustomization.yaml",
     "  - controller-block.yaml\n", "", r"controller-block.yaml: is in no kustomization"),
    ("an overlay patches nothing", "deploy/kubernetes-snapshots/node-local-snapshotter.yaml",
     "  name: pvnode-node-local\n", "  name: pvnode-node-locale\n", r"patches .* which the resources do not hold"),
    ("the image tag is not the project version", K + "node.yaml",
     "image: localhost/pvnode:0.1.0\n          imagePullPolicy: IfNotPresent\n          args:\n            - --role=node\n            - --driver-name=pvnode.csi.io",
     "image: localhost/pvnode:0.0.9\n          imagePullPolicy: IfNotPresent\n          args:\n            - --role=node\n            - --driver-name=pvnode.csi.io",
     r"pvnode image tag 0.0.9, the project version is"),
    ("the C sources name another driver", "include/pvnode/pv.h",
     '"pvnode.csi.io"', '"pv.csi.io"', r"are not one per kind of storage"),
    ("the systemd unit restricts setgid", "examples/systemd/pvnode.service",
     "RestrictRealtime=yes\n", "RestrictRealtime=yes\nRestrictSUIDSGID=yes\n", r"RestrictSUIDSGID=yes denies the setgid bit"),
    ("the systemd unit uses a missing option", "examples/systemd/pvnode.service",
     "--log-format=json", "--log=json", r"pvnode.service: pvnode has no option --log"),
    ("the Nomad job serves outside mount_dir", "examples/nomad/pvnode.nomad",
     '"--endpoint=unix:///csi/csi.sock"', '"--endpoint=unix:///run/csi.sock"',
     r"is not in csi_plugin mount_dir /csi"),
]

# caught only where pvnode is built (its --help is the reference)
NEEDS_PVNODE = {"an option pvnode does not have", "the systemd unit uses a missing option"}


def pvnode_built():
    p = os.environ.get("PVNODE") or os.path.join(os.environ.get("PVNODE_BUILD_ROOT", ""), "pvnode")
    return os.access(p, os.X_OK)


def copy_tree(dst):
    for part in ("deploy", "examples", "include", "src", "drivers"):
        if os.path.exists(os.path.join(SRC, part)):
            shutil.copytree(os.path.join(SRC, part), os.path.join(dst, part))
    for f in ("meson.build", "Containerfile"):
        shutil.copy(os.path.join(SRC, f), dst)


def run(root):
    env = dict(os.environ, PVNODE_SOURCE_ROOT=root, PVNODE_CHECK_KUBECTL="0")
    r = subprocess.run([sys.executable, os.path.join(root, "checker.py")],
                       capture_output=True, text=True, env=env, timeout=120)
    return r.returncode, r.stdout + r.stderr


def main():
    failed = skipped = 0
    with tempfile.TemporaryDirectory(prefix="pvnode-manifests-") as tmp:
        clean = os.path.join(tmp, "clean")
        os.mkdir(clean)
        copy_tree(clean)
        for f in os.listdir(os.path.dirname(CHECKER)):
            if f.endswith(".py") and f != os.path.basename(__file__):
                shutil.copy(os.path.join(os.path.dirname(CHECKER), f), clean)
        os.rename(os.path.join(clean, "check_manifests.py"), os.path.join(clean, "checker.py"))
        rc, out = run(clean)
        if rc != 0:
            print("FAIL: the unbroken tree does not pass:\n" + out)
            return 1
        print("ok: the unbroken tree passes")
        for what, path, old, new, expect in MUTATIONS:
            if what in NEEDS_PVNODE and not pvnode_built():
                print(f"skip: {what} (pvnode is not built)")
                skipped += 1
                continue
            work = os.path.join(tmp, "work")
            shutil.copytree(clean, work)
            p = os.path.join(work, path)
            text = open(p).read()
            if text.count(old) < 1:
                print(f"FAIL: {what}: {path} no longer holds the text this mutation changes")
                failed += 1
                shutil.rmtree(work)
                continue
            open(p, "w").write(text.replace(old, new, 1))
            rc, out = run(work)
            shutil.rmtree(work)
            if rc == 0:
                print(f"FAIL: {what}: the checker passed")
                failed += 1
            elif not re.search(expect, out):
                print(f"FAIL: {what}: the checker failed without /{expect}/:\n{out}")
                failed += 1
            else:
                print(f"ok: {what}")
    print(f"{len(MUTATIONS) - failed - skipped}/{len(MUTATIONS) - skipped} mutations caught")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
