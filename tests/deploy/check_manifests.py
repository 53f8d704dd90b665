#!/usr/bin/env python3
"""check_manifests.py — checks deploy/kubernetes/ against itself and against pvnode.

Run by meson (suite deploy); env PVNODE_SOURCE_ROOT and PVNODE_BUILD_ROOT (PVNODE,
PVCTL: the programs, when set). Exit 0 when every check passes, 1 when one fails, 77
(skip) without python3-yaml. What it checks, for every kustomization (the base, the
snapshots overlay, the examples) built the way kustomize builds it:

  - every file parses; kinds and apiVersions are known; names, namespaces and labels
    are consistent; every YAML file belongs to a kustomization or is a standalone example;
  - Deployment/DaemonSet selectors match their template labels and no other workload's;
    service accounts, volumes, env variables, probe ports and host ports add up;
  - RBAC: bindings point at existing roles and service accounts, and each service
    account holds what its pods' sidecars need (the rules their releases document) and
    nothing more;
  - CSI: the driver name is the one in the C sources (grepped, so it survives moves),
    every socket a sidecar dials is the one its pvnode serves (resolved through the
    volume mounts to the host or the pod's emptyDir), node-driver-registrar's
    --kubelet-registration-path is that socket's host path, the node plugin mounts what
    pvnode needs, every pvnode flag exists in "pvnode --help", sidecar flags exist in
    their pinned release, StorageClasses, PVs and snapshot classes name drivers that
    exist and the driver name of their kind of storage;
  - examples/systemd/pvnode.service and examples/nomad/*.nomad use existing flags;
  - "kubectl kustomize" renders the same objects (where kubectl exists) and
    "kubectl apply --dry-run=client" accepts them (where an API server answers).

The tables it applies (sidecar releases, RBAC, kinds of storage) are manifest_rules.py;
how objects, flags and mounts are read is manifest_model.py.
"""
import json
import os
import re
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("SKIP: python3-yaml is not installed (Debian: python3-yaml; scripts/deps/deploy.txt)")
    sys.exit(77)

SRC = os.environ.get("PVNODE_SOURCE_ROOT") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("PVNODE_BUILD_ROOT", "")
DEPLOY = os.path.join(SRC, "deploy", "kubernetes")   # the base; overlays sit beside it

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from manifest_rules import (  # noqa: E402  (the tables the checks apply)
    DRIVER_KIND, FUTURE_DRIVERS, ISCSI_SECRET_KEYS, KINDS,
    KIND_PREFIX, KIND_SELINUX_MOUNT, LEASES, PENDING_FLAGS,
    PROVISIONER_SNAPSHOT_NEEDS, RBAC_NEEDS, SECRET_READER, SIDECARS)
from manifest_model import (flag_values, has_flag, image_parts, mount_of, oid,  # noqa: E402
                            one_flag, parse_args, pod_of, resolve, sidecar_kind,
                            strategic_merge)

errors, notes = [], []


def fail(where, msg):
    errors.append(f"{where}: {msg}")


def note(msg):
    notes.append(msg)


def rel(path):
    return os.path.relpath(path, SRC)


# ---------------------------------------------------------------- pvnode itself

def find_program(env, name):
    p = os.environ.get(env)
    if p and os.access(p, os.X_OK):
        return p
    for root, dirs, files in os.walk(BUILD) if BUILD else []:
        dirs[:] = [d for d in dirs if not d.endswith(".p") and d not in ("meson-private",)]
        if name in files and os.access(os.path.join(root, name), os.X_OK):
            return os.path.join(root, name)
    return None


def c_driver_name():
    """The base CSI driver name, from the C sources' #defines: one name per kind of
    storage (KIND_PREFIX + base; include/pvnode/pv.h), the base the shortest."""
    names = {}
    for root, dirs, files in os.walk(SRC):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build")) and
                   os.path.join(root, d) not in (os.path.join(SRC, "tests"),
                                                 os.path.join(SRC, "deploy"))]
        for f in files:
            if f.endswith((".c", ".h")):
                p = os.path.join(root, f)
                with open(p, errors="replace") as fh:
                    for m in re.finditer(r'#\s*define\s+\w+\s+"([a-z0-9.-]+\.csi\.io)"', fh.read()):
                        names.setdefault(m.group(1), []).append(rel(p))
    if not names:
        fail("C sources", "no CSI driver name (#define ... \"*.csi.io\") found")
        return "pvnode.csi.io"
    base = min(names, key=len)
    want = {KIND_PREFIX[k] + base for k in KIND_PREFIX}
    if set(names) != want:
        fail("C sources", f"the CSI driver names {sorted(names)} are not one per kind of storage {sorted(want)}")
    where = sorted({w for ws in names.values() for w in ws})
    note(f"driver names {', '.join(sorted(names))} (from {', '.join(where)})")
    return base


def source_drivers():
    """Driver names defined in the C sources (struct pv_driver ... = { .name = "x" })."""
    names = set()
    for root, dirs, files in os.walk(SRC):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build")) and d not in ("tests", "deploy")]
        for f in files:
            if f.endswith(".c"):
                with open(os.path.join(root, f), errors="replace") as fh:
                    names |= set(re.findall(r'struct\s+pv_driver\s+\w+\s*=\s*\{[^}]*?\.name\s*=\s*"([a-z0-9-]+)"',
                                            fh.read(), re.S))
    return names


def help_flags(prog):
    out = subprocess.run([prog, "--help"], capture_output=True, text=True, timeout=10)
    text = out.stdout + out.stderr
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])", text))


def build_driver_names(prog):
    """pvnode --help's mapping, "NAME (driver, driver)": the one place it is decided
    is the C sources (pv_driver_csi_name); DRIVER_KIND must agree with it."""
    out = subprocess.run([prog, "--help"], capture_output=True, text=True, timeout=10).stdout
    got = {}
    for name, drvs in re.findall(r"([a-z0-9.-]+\.csi\.io) \(([^)]*)\)", out):
        for d in drvs.replace(",", " ").split():
            if d != "none":
                got[d] = name
    return got


def project_version():
    with open(os.path.join(SRC, "meson.build")) as f:
        m = re.search(r"version\s*:\s*'([^']+)'", f.read())
    return m.group(1) if m else None


# ---------------------------------------------------------------- loading

def load_file(path):
    try:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as e:
        fail(rel(path), f"does not parse: {e}")
        return []
    objs = []
    for i, d in enumerate(docs):
        where = f"{rel(path)}[{i}]"
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
            fail(where, "not a Kubernetes object (kind, apiVersion)")
            continue
        d["__where"] = where
        objs.append(d)
    return objs


def build(kdir, seen):
    """The objects kustomization kdir renders, with the files it takes in."""
    kfile = os.path.join(kdir, "kustomization.yaml")
    with open(kfile) as f:
        k = yaml.safe_load(f) or {}
    where = rel(kfile)
    for field in k:
        if field not in ("apiVersion", "kind", "resources", "patches", "images"):
            fail(where, f"field {field} is not one these checks understand")
    objs = []
    for r in k.get("resources", []):
        p = os.path.normpath(os.path.join(kdir, r))
        if os.path.isdir(p):
            if not os.path.exists(os.path.join(p, "kustomization.yaml")):
                fail(where, f"resource {r} is a directory without kustomization.yaml")
                continue
            objs += build(p, seen)
        elif os.path.isfile(p):
            seen.add(p)
            objs += load_file(p)
        else:
            fail(where, f"resource {r} does not exist")
    for pt in k.get("patches", []):
        p = os.path.normpath(os.path.join(kdir, pt.get("path", "")))
        if not os.path.isfile(p):
            fail(where, f"patch {pt} does not exist")
            continue
        seen.add(p)
        for patch in load_file(p):
            target = next((o for o in objs if oid(o) == oid(patch)), None)
            if target is None:
                fail(patch["__where"], f"patches {oid(patch)}, which the resources do not hold")
                continue
            merged = strategic_merge(target, {k2: v for k2, v in patch.items() if k2 != "__where"})
            objs[objs.index(target)] = merged
    return objs


# ---------------------------------------------------------------- objects

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_basics(objs, examples, base=()):
    ids = {}
    namespaces = {o["metadata"]["name"] for o in list(objs) + list(base) if o["kind"] == "Namespace"}
    for o in objs:
        where, kind = o["__where"], o["kind"]
        md = o.get("metadata") or {}
        name = md.get("name")
        if kind not in KINDS:
            fail(where, f"kind {kind} is not one pvnode deploys")
            continue
        api, namespaced = KINDS[kind]
        if o["apiVersion"] != api:
            fail(where, f"{kind} {name}: apiVersion {o['apiVersion']}, expected {api}")
        if not name or not DNS1123.match(name) or len(name) > 253:
            fail(where, f"{kind}: name {name!r} is not a DNS-1123 subdomain")
        ns = md.get("namespace")
        if namespaced and not ns:
            fail(where, f"{kind} {name}: no namespace (the manifests name it explicitly)")
        if not namespaced and ns:
            fail(where, f"{kind} {name} is cluster-scoped but has namespace {ns}")
        if ns and ns not in namespaces and ns not in ("default", "kube-system"):
            fail(where, f"{kind} {name}: namespace {ns} is not created here")
        if oid(o) in ids:
            fail(where, f"{kind} {ns + '/' if ns else ''}{name} is also defined at {ids[oid(o)]}")
        ids[oid(o)] = where
        if not examples:
            labels = md.get("labels") or {}
            for k in ("app.kubernetes.io/name", "app.kubernetes.io/part-of"):
                if kind not in ("Secret",) and labels.get(k) != "pvnode":
                    fail(where, f"{kind} {name}: label {k} is not pvnode")


class Ctx:
    def __init__(self, objs, cname, pvnode_flags, drivers):
        self.objs, self.cname = objs, cname
        self.pvnode_flags, self.drivers = pvnode_flags, drivers
        self.of = lambda kind: [o for o in objs if o["kind"] == kind]
        self.links = []      # (workload, pod, container, sidecar kind, served name)
        self.node_plugins = {}   # driver name -> [where]
        self.pvnodes = []    # (workload, pod, container, served name, role)


def check_workloads(c):
    sas = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in c.of("ServiceAccount")}
    workloads = c.of("Deployment") + c.of("DaemonSet") + c.of("Pod")
    hostports = {}
    for w in workloads:
        where, ns, name = w["__where"], w["metadata"].get("namespace"), w["metadata"]["name"]
        pod = pod_of(w)
        if w["kind"] != "Pod":
            sel = ((w["spec"].get("selector") or {}).get("matchLabels")) or {}
            tl = (w["spec"]["template"].get("metadata") or {}).get("labels") or {}
            if not sel:
                fail(where, f"{w['kind']} {name}: no selector.matchLabels")
            for k, v in sel.items():
                if tl.get(k) != v:
                    fail(where, f"{w['kind']} {name}: selector {k}={v} does not match the template labels {tl}")
            for other in workloads:
                if other is w or other["kind"] == "Pod" or other["metadata"].get("namespace") != ns:
                    continue
                otl = (other["spec"]["template"].get("metadata") or {}).get("labels") or {}
                if sel and all(otl.get(k) == v for k, v in sel.items()):
                    fail(where, f"{w['kind']} {name}: its selector also matches {other['kind']} {other['metadata']['name']}'s pods")
        sa = pod.get("serviceAccountName", "default")
        if sa != "default" and (ns, sa) not in sas:
            fail(where, f"{name}: serviceAccountName {sa} does not exist in {ns}")
        vols = [v["name"] for v in pod.get("volumes") or []]
        if len(vols) != len(set(vols)):
            fail(where, f"{name}: volume names repeat: {vols}")
        cnames = [x["name"] for x in pod.get("containers") or []]
        if len(cnames) != len(set(cnames)):
            fail(where, f"{name}: container names repeat: {cnames}")
        used_vols = set()
        ports, listening = {}, {}
        for ct in pod.get("containers") or []:
            cw = f"{where} {name}/{ct['name']}"
            image = ct.get("image", "")
            repo, tag = image_parts(image)
            if not tag or tag == "latest":
                fail(cw, f"image {image} is not pinned to a release tag")
            defined = set()
            for e in ct.get("env") or []:
                defined.add(e["name"])
            for a in (ct.get("args") or []) + (ct.get("command") or []):
                for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a):
                    if ref not in defined:
                        fail(cw, f"argument {a} uses $({ref}), which is not in the container's env")
            mps = []
            for m in ct.get("volumeMounts") or []:
                mps.append(m["mountPath"])
                used_vols.add(m["name"])
                if m["name"] not in vols:
                    fail(cw, f"volumeMount {m['mountPath']} names volume {m['name']}, which the pod does not have")
                if m.get("mountPropagation") == "Bidirectional" and not (ct.get("securityContext") or {}).get("privileged"):
                    fail(cw, f"mount {m['mountPath']} is Bidirectional, which needs a privileged container")
            if len(mps) != len(set(mps)):
                fail(cw, f"mount paths repeat: {mps}")
            for p in ct.get("ports") or []:
                for key, val in (("name", p.get("name")), ("port", p["containerPort"])):
                    if val is None:
                        continue
                    if (key, val) in ports:
                        fail(cw, f"container port {key} {val} is also declared by {ports[(key, val)]}")
                    ports[(key, val)] = ct["name"]
            for f, v in parse_args(ct.get("args")):
                if f in ("--http-endpoint", "--metrics-address", "--health-port") and v:
                    port = v.rsplit(":", 1)[-1]
                    if port.isdigit():
                        if int(port) in listening:
                            fail(cw, f"{f} port {port} is also where {listening[int(port)]} listens")
                        listening[int(port)] = ct["name"]
            for probe in ("livenessProbe", "readinessProbe"):
                hg = ((ct.get(probe) or {}).get("httpGet")) or {}
                if hg:
                    port = hg.get("port")
                    named = {p.get("name"): p["containerPort"] for x in pod.get("containers")
                             for p in x.get("ports") or [] if p.get("name")}
                    num = port if isinstance(port, int) else named.get(port)
                    if num is None:
                        fail(cw, f"{probe} port {port} is no container port of the pod")
                    else:
                        served = [x["name"] for x in pod.get("containers")
                                  if sidecar_kind(x) == "livenessprobe" and
                                  (one_flag(x, "--http-endpoint", ":9808").rsplit(":", 1)[-1] == str(num))]
                        if not served:
                            fail(cw, f"{probe} on port {num}: no livenessprobe container serves it (--http-endpoint)")
                ex = ((ct.get(probe) or {}).get("exec")) or {}
                if ex and sidecar_kind(ct) == "csi-node-driver-registrar":
                    a = [x for x in ex.get("command", []) if x.startswith("--kubelet-registration-path=")]
                    b = [x for x in ct.get("args", []) if x.startswith("--kubelet-registration-path=")]
                    if a != b:
                        fail(cw, f"{probe} checks {a}, the registrar registers {b}")
            check_container(c, w, pod, ct, cw)
        if pod.get("hostNetwork") and w["kind"] == "DaemonSet":
            declared = {p["containerPort"] for x in pod.get("containers") or [] for p in x.get("ports") or []}
            for port in declared | set(listening):
                if port in hostports and hostports[port] != name:
                    fail(where, f"{name}: host port {port} (hostNetwork, on every node) is also used by {hostports[port]}")
                hostports.setdefault(port, name)
        for v in vols:
            if v not in used_vols:
                fail(where, f"{name}: volume {v} is mounted by no container")


def check_container(c, w, pod, ct, cw):
    kind = sidecar_kind(ct)
    repo, tag = image_parts(ct.get("image", ""))
    if kind == "pvnode":
        want = project_version()
        if tag != want:
            fail(cw, f"pvnode image tag {tag}, the project version is {want}")
        check_pvnode_flags(c, ct.get("args"), cw)
        served = one_flag(ct, "--driver-name", c.cname)
        role = one_flag(ct, "--role", "all")
        c.pvnodes.append((w, pod, ct, served, role))
    elif kind in SIDECARS:
        rel_tag, flags = SIDECARS[kind]
        if not repo.startswith("registry.k8s.io/sig-storage/"):
            fail(cw, f"{kind} image {repo} is not from registry.k8s.io/sig-storage")
        if tag != rel_tag:
            fail(cw, f"{kind} {tag}: these checks know the flags of {rel_tag}; read the new release's flags and RBAC and update SIDECARS")
        for f, _ in parse_args(ct.get("args")):
            if f.lstrip("-") not in flags:
                fail(cw, f"{kind} {rel_tag} has no flag {f}")
        if kind != "csi-node-driver-registrar" and one_flag(ct, "--csi-address") is None:
            fail(cw, f"{kind} without --csi-address (its default /run/csi/socket is not pvnode's)")
    elif ct.get("image"):
        fail(cw, f"image {ct['image']} is neither pvnode nor a pinned kubernetes-csi sidecar")


def check_pvnode_flags(c, args, where):
    seen = {}
    for f, v in parse_args(args):
        seen[f] = seen.get(f, 0) + 1
        if c.pvnode_flags is None:
            continue
        if f in c.pvnode_flags:
            continue
        if f in PENDING_FLAGS:
            c.pending.setdefault(f, set()).add(where.split(" ")[0])
        else:
            fail(where, f"pvnode has no option {f} (pvnode --help)")
    for f, n in seen.items():
        if n > 1 and f != "--allowed-path":
            fail(where, f"pvnode option {f} is given {n} times")


def check_csi(c):
    drivers = {o["metadata"]["name"]: o for o in c.of("CSIDriver")}
    for name, d in drivers.items():
        if name != c.cname and not name.endswith("." + c.cname):
            fail(d["__where"], f"CSIDriver {name} is neither {c.cname} (the C sources' name) nor a name below it")
        spec = d.get("spec") or {}
        if spec.get("fsGroupPolicy") != "File":
            fail(d["__where"], f"CSIDriver {name}: fsGroupPolicy {spec.get('fsGroupPolicy')}, pvnode applies the fsGroup itself (File)")
        if spec.get("podInfoOnMount") is not True:
            fail(d["__where"], f"CSIDriver {name}: podInfoOnMount should be true (pod UID -> SELinux level)")
    # pvnode containers and the sockets they serve
    for w, pod, ct, served, role in c.pvnodes:
        cw = f"{w['__where']} {w['metadata']['name']}/{ct['name']}"
        if served not in drivers:
            fail(cw, f"serves driver name {served}, which no CSIDriver declares")
        ep = one_flag(ct, "--endpoint")
        if not ep or not ep.startswith("unix:///"):
            fail(cw, f"--endpoint {ep!r} is not unix:///PATH")
            continue
        ct["__socket"] = resolve(pod, ct, ep[len("unix://"):])
        if ct["__socket"][0] in ("container", "missing-volume"):
            fail(cw, f"socket {ep} is inside the container only: no sidecar or kubelet can reach it")
    # sidecars -> the pvnode whose socket they dial
    for w in c.of("Deployment") + c.of("DaemonSet"):
        pod = pod_of(w)
        pvs = [(ct, served, role) for (w2, p2, ct, served, role) in c.pvnodes if w2 is w]
        for ct in pod.get("containers") or []:
            kind = sidecar_kind(ct)
            if kind not in SIDECARS:
                continue
            cw = f"{w['__where']} {w['metadata']['name']}/{ct['name']}"
            addr = one_flag(ct, "--csi-address")
            if addr is None:
                continue
            sock = resolve(pod, ct, addr)
            match = [(p, s, r) for (p, s, r) in pvs if p.get("__socket") == sock]
            if len(match) != 1:
                fail(cw, f"--csi-address {addr} ({sock}) is the socket of {len(match)} pvnode containers, not one")
                continue
            p, served, role = match[0]
            c.links.append((w, pod, ct, kind, served, role))
            if kind == "csi-node-driver-registrar":
                want = f"/var/lib/kubelet/plugins/{served}/csi.sock"
                krp = one_flag(ct, "--kubelet-registration-path")
                if krp != want:
                    fail(cw, f"--kubelet-registration-path {krp}, kubelet expects {want} for {served}")
                if sock != ("host", want):
                    fail(cw, f"the socket it dials is {sock}, not the host's {want}")
                m, vol = mount_of(pod, ct, "/registration")
                if not m or (vol.get("hostPath") or {}).get("path") != "/var/lib/kubelet/plugins_registry":
                    fail(cw, "needs /registration from hostPath /var/lib/kubelet/plugins_registry")
                c.node_plugins.setdefault(served, []).append(f"{w['metadata']['name']}/{p['name']}")
                check_node_plugin(c, w, pod, p, role)
            if kind in ("csi-provisioner", "csi-attacher", "csi-resizer", "csi-snapshotter"):
                nodedep = has_flag(ct, "--node-deployment")
                if role == "node":
                    fail(cw, f"{kind} talks to a pvnode with --role=node (no Controller service)")
                if nodedep:
                    if w["kind"] != "DaemonSet":
                        fail(cw, f"{kind} --node-deployment outside a DaemonSet")
                    if "NODE_NAME" not in {e["name"] for e in ct.get("env") or []}:
                        fail(cw, f"{kind} --node-deployment needs env NODE_NAME")
                    if has_flag(ct, "--leader-election"):
                        fail(cw, f"{kind}: --node-deployment and --leader-election exclude each other")
                else:
                    if w["kind"] != "Deployment":
                        fail(cw, f"{kind} of a central controller outside a Deployment")
                    if not has_flag(ct, "--leader-election"):
                        fail(cw, f"{kind} without --leader-election (a rollout may run two)")
                    check_controller(c, w, pod, p)
    for name in drivers:
        n = c.node_plugins.get(name, [])
        if len(n) != 1:
            fail(drivers[name]["__where"], f"driver {name} is registered with kubelet by {len(n)} node plugins {n}, expected one")
    by_name = {}
    for (w, pod, ct, kind, served, role) in c.links:
        by_name.setdefault(served, []).append((kind, w, ct))
    for name, d in drivers.items():
        kinds = [k for k, _, _ in by_name.get(name, [])]
        attach = (d.get("spec") or {}).get("attachRequired", True)
        if attach and "csi-attacher" not in kinds:
            fail(d["__where"], f"CSIDriver {name} has attachRequired true, but no csi-attacher serves it")
        if not attach and "csi-attacher" in kinds:
            fail(d["__where"], f"CSIDriver {name} has attachRequired false, yet a csi-attacher serves it")
        for k in ("csi-provisioner", "csi-snapshotter"):
            modes = {has_flag(ct, "--node-deployment") for kk, w, ct in by_name.get(name, []) if kk == k}
            if len(modes) > 1:
                fail(d["__where"], f"{name}: a central and a --node-deployment {k} would both act on its volumes")
    c.by_name = by_name


def check_node_plugin(c, w, pod, p, role):
    cw = f"{w['__where']} {w['metadata']['name']}/{p['name']}"
    if role not in ("node", "all"):
        fail(cw, f"registered with kubelet but --role={role}")
    if not (p.get("securityContext") or {}).get("privileged"):
        fail(cw, "a node plugin mounts: it must be privileged")
    if not pod.get("hostNetwork"):
        fail(cw, "node plugin without hostNetwork (iscsid's abstract socket, the host's view of portals)")
    if pod.get("priorityClassName") != "system-node-critical":
        fail(cw, "node plugin without priorityClassName system-node-critical")
    state = one_flag(p, "--state-dir", "/var/lib/pvnode")
    need = [("/var/lib/kubelet/plugins", "Bidirectional", False),
            ("/var/lib/kubelet/pods", "Bidirectional", False),
            (state, "Bidirectional", False),
            ("/dev", None, False), ("/sys", None, False), ("/run/mount", None, False),
            ("/etc/selinux", None, True)]
    for path, prop, ro in need:
        m, vol = mount_of(pod, p, path)
        if m is None and path.startswith("/var/lib/kubelet/"):
            m, vol = mount_of(pod, p, "/var/lib/kubelet")
            path = "/var/lib/kubelet" if m else path
        if m is None:
            fail(cw, f"does not mount {path}")
            continue
        hp = (vol.get("hostPath") or {}).get("path")
        if hp != path:
            fail(cw, f"{path} comes from {hp or 'no hostPath'}: pvnode needs the host's {path} at the same path")
        if prop and m.get("mountPropagation") != prop:
            fail(cw, f"{path} needs mountPropagation {prop}")
        if ro and not m.get("readOnly"):
            fail(cw, f"{path} should be read-only")
    allowed = flag_values(p, "--allowed-path") or ["/var/lib/kubelet"]
    for path in ("/var/lib/kubelet/plugins", "/var/lib/kubelet/pods"):
        if not any(path == a or path.startswith(a.rstrip("/") + "/") for a in allowed):
            fail(cw, f"kubelet's {path} is outside every --allowed-path {allowed}")


def check_controller(c, w, pod, p):
    cw = f"{w['__where']} {w['metadata']['name']}/{p['name']}"
    state = one_flag(p, "--state-dir", "/var/lib/pvnode")
    m, vol = mount_of(pod, p, state)
    if m is None or "hostPath" not in (vol or {}):
        fail(cw, f"the controller's catalog ({state}) must be on a hostPath: DeleteVolume reads what CreateVolume wrote")
    if w["spec"].get("replicas", 1) != 1 or (w["spec"].get("strategy") or {}).get("type") != "Recreate":
        fail(cw, "a controller with a catalog on one node's disk needs replicas 1 and strategy Recreate")
    if not pod.get("nodeSelector") and not pod.get("affinity"):
        fail(cw, "a controller with a catalog on one node's disk must be pinned to that node (nodeSelector)")


def check_rbac(c):
    roles = {}
    for o in c.of("Role") + c.of("ClusterRole"):
        roles[(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])] = o
    sas = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in c.of("ServiceAccount")}
    granted = {}   # (ns, sa) -> set of (scope, group, resource, verb)
    for b in c.of("RoleBinding") + c.of("ClusterRoleBinding"):
        where, ref = b["__where"], b.get("roleRef") or {}
        ns = b["metadata"].get("namespace")
        if ref.get("apiGroup") != "rbac.authorization.k8s.io" or ref.get("kind") not in ("Role", "ClusterRole"):
            fail(where, f"roleRef {ref} is not an RBAC Role or ClusterRole")
            continue
        if b["kind"] == "ClusterRoleBinding" and ref["kind"] == "Role":
            fail(where, "a ClusterRoleBinding cannot bind a Role")
            continue
        role = roles.get((ref["kind"], ns if ref["kind"] == "Role" else None, ref["name"]))
        if role is None:
            fail(where, f"{b['metadata']['name']}: roleRef {ref['kind']} {ref['name']} does not exist{' in ' + ns if ref['kind'] == 'Role' else ''}")
            continue
        scope = "*" if b["kind"] == "ClusterRoleBinding" else ns
        for s in b.get("subjects") or []:
            if s.get("kind") != "ServiceAccount":
                fail(where, f"subject {s} is not a ServiceAccount")
                continue
            key = (s.get("namespace"), s["name"])
            if key not in sas:
                fail(where, f"subject ServiceAccount {key[0]}/{key[1]} does not exist")
                continue
            for r in role.get("rules") or []:
                for g in r.get("apiGroups", []):
                    for res in r.get("resources", []):
                        for v in r.get("verbs", []):
                            granted.setdefault(key, set()).add((scope, g, res, v))
    # what each service account's pods need
    needed = {}
    snapshots = any(k == "csi-snapshotter" for (_, _, _, k, _, _) in c.links)
    users = {}
    for w in c.of("Deployment") + c.of("DaemonSet"):
        pod = pod_of(w)
        key = (w["metadata"]["namespace"], pod.get("serviceAccountName", "default"))
        users.setdefault(key, []).append(w)
        for ct in pod.get("containers") or []:
            kind = sidecar_kind(ct)
            for g, res, verbs in RBAC_NEEDS.get(kind, []) + (
                    PROVISIONER_SNAPSHOT_NEEDS if kind == "csi-provisioner" and snapshots else []):
                for v in verbs.split():
                    needed.setdefault(key, set()).add(("*", g, res, v))
            if kind in RBAC_NEEDS and has_flag(ct, "--leader-election"):
                for g, res, verbs in LEASES:
                    for v in verbs.split():
                        needed.setdefault(key, set()).add((key[0], g, res, v))
    # secrets the StorageClasses and snapshot classes name, read by which sidecar
    for sc in c.of("StorageClass") + c.of("VolumeSnapshotClass"):
        params = sc.get("parameters") or {}
        dname = sc.get("provisioner") or sc.get("driver")
        for k, ns in params.items():
            m = re.match(r"csi\.storage\.k8s\.io/(.+)-secret-namespace$", k)
            if not m or SECRET_READER.get(m.group(1)) is None:
                continue
            reader = SECRET_READER[m.group(1)]
            for (kind, w, ct) in getattr(c, "by_name", {}).get(dname, []):
                if kind == reader:
                    key = (w["metadata"]["namespace"], pod_of(w).get("serviceAccountName", "default"))
                    needed.setdefault(key, set()).add((ns, "", "secrets", "get"))
    for key in sorted(set(granted) | set(needed)):
        g, n = granted.get(key, set()), needed.get(key, set())
        for scope, grp, res, verb in sorted(n):
            if not any(s in ("*", scope) and gg == grp and rr == res and vv in (verb, "*")
                       for s, gg, rr, vv in g):
                fail(f"ServiceAccount {key[0]}/{key[1]}", f"its pods need {verb} {grp or 'core'}/{res}{'' if scope == '*' else ' in ' + scope}, which no binding grants")
        extra = sorted(x for x in g if not any(s in ("*", x[0]) and x[1:] == (gg, rr, vv)
                                               for s, gg, rr, vv in n))
        for scope, grp, res, verb in extra:
            fail(f"ServiceAccount {key[0]}/{key[1]}", f"holds {verb} {grp or 'core'}/{res}{'' if scope == '*' else ' in ' + scope}, which none of its pods' containers needs (least privilege)")
    for key, ws in users.items():
        pods = [pod_of(w) for w in ws]
        if key not in needed and not all(p.get("automountServiceAccountToken") is False for p in pods):
            fail(f"ServiceAccount {key[0]}/{key[1]}", "needs no API access: set automountServiceAccountToken false")


def check_storage(c, base_objs):
    drivers = {o["metadata"]["name"]: o for o in c.of("CSIDriver")} or \
        {o["metadata"]["name"]: o for o in base_objs if o["kind"] == "CSIDriver"}
    allowed_keys = {"csi.storage.k8s.io/fstype"} | {
        f"csi.storage.k8s.io/{k}-secret-{x}" for k in SECRET_READER for x in ("name", "namespace")}
    secrets = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o
               for o in c.objs + base_objs if o["kind"] == "Secret"}
    for sc in c.of("StorageClass"):
        where, name = sc["__where"], sc["metadata"]["name"]
        params = sc.get("parameters") or {}
        prov = sc.get("provisioner")
        drv = params.get("driver")
        if prov not in drivers:
            fail(where, f"StorageClass {name}: provisioner {prov} is no CSIDriver here")
        if drv is None:
            fail(where, f"StorageClass {name}: no driver= parameter (pvnode refuses CreateVolume without it)")
            continue
        check_driver(c, where, f"StorageClass {name}", drv, prov, drivers)
        kind = DRIVER_KIND.get(drv)
        for k in params:
            if k.startswith("csi.storage.k8s.io/") and k not in allowed_keys:
                fail(where, f"StorageClass {name}: {k} is not a parameter the sidecars know")
        for k, v in params.items():
            m = re.match(r"(csi\.storage\.k8s\.io/.+-secret-)name$", k)
            if m:
                nsk = m.group(1) + "namespace"
                if nsk not in params:
                    fail(where, f"StorageClass {name}: {k} without {nsk}")
                elif (params[nsk], v) not in secrets:
                    fail(where, f"StorageClass {name}: secret {params[nsk]}/{v} has no example in deploy/kubernetes/examples")
        fst = params.get("csi.storage.k8s.io/fstype", params.get("fsType"))
        if fst is not None and (kind not in ("block", "local") or fst not in ("ext4", "xfs")):
            fail(where, f"StorageClass {name}: fstype {fst} (pvnode formats block volumes ext4 or xfs)")
        if kind == "local" and sc.get("volumeBindingMode") != "WaitForFirstConsumer":
            fail(where, f"StorageClass {name}: node-local volumes need volumeBindingMode WaitForFirstConsumer")
        by = getattr(c, "by_name", {}).get(prov, [])
        if by and sc.get("allowVolumeExpansion") and not any(k == "csi-resizer" for k, _, _ in by):
            fail(where, f"StorageClass {name} allows expansion but no csi-resizer serves {prov}")
        if by and not any(k == "csi-provisioner" for k, _, _ in by):
            fail(where, f"StorageClass {name}: no csi-provisioner serves {prov}")
    for vsc in c.of("VolumeSnapshotClass"):
        if vsc.get("driver") not in drivers:
            fail(vsc["__where"], f"VolumeSnapshotClass {vsc['metadata']['name']}: driver {vsc.get('driver')} is no CSIDriver")
        by = getattr(c, "by_name", {}).get(vsc.get("driver"), [])
        if by and not any(k == "csi-snapshotter" for k, _, _ in by):
            fail(vsc["__where"], f"VolumeSnapshotClass {vsc['metadata']['name']}: no csi-snapshotter serves {vsc.get('driver')}")
    for s in c.of("Secret"):
        keys = set((s.get("stringData") or {}) | (s.get("data") or {}))
        if "iscsi" in s["metadata"]["name"] and not keys <= ISCSI_SECRET_KEYS:
            fail(s["__where"], f"Secret {s['metadata']['name']}: keys {sorted(keys - ISCSI_SECRET_KEYS)} are not open-iscsi's CHAP keys")
        if "rbd" in s["metadata"]["name"] and keys != {"userID", "userKey"}:
            fail(s["__where"], f"Secret {s['metadata']['name']}: ceph-csi's keys are userID and userKey")


def check_driver(c, where, what, drv, dname, drivers):
    if drv not in SOURCE_DRIVERS:
        if drv in FUTURE_DRIVERS:
            note(f"{what}: driver {drv} is not in the sources yet ({FUTURE_DRIVERS[drv]})")
        else:
            fail(where, f"{what}: driver {drv} is not one pvnode has ({', '.join(sorted(SOURCE_DRIVERS))})")
    elif c.drivers is not None and drv not in c.drivers:
        note(f"{what}: driver {drv} is not built in this build (pvctl --version: {', '.join(sorted(c.drivers))})")
    kind = DRIVER_KIND.get(drv)
    if kind is None:
        fail(where, f"{what}: driver {drv}: these checks do not know its kind of storage (DRIVER_KIND)")
        return
    want = KIND_PREFIX[kind] + c.cname
    if dname != want:
        fail(where, f"{what}: {drv} is {kind} storage, served as {want}, not {dname}")
    d = drivers.get(dname)
    if d is not None and (d.get("spec") or {}).get("seLinuxMount", False) != KIND_SELINUX_MOUNT[kind]:
        fail(d["__where"], f"CSIDriver {dname}: seLinuxMount must be {KIND_SELINUX_MOUNT[kind]} for {kind} storage ({drv})")


def check_examples(objs, base):
    scs = {o["metadata"]["name"] for o in base if o["kind"] == "StorageClass"}
    drivers = {o["metadata"]["name"]: o for o in base if o["kind"] == "CSIDriver"}
    pvcs = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs if o["kind"] == "PersistentVolumeClaim"}
    pvs = {o["metadata"]["name"]: o for o in objs if o["kind"] == "PersistentVolume"}
    for (ns, name), pvc in pvcs.items():
        scn = (pvc.get("spec") or {}).get("storageClassName")
        if scn not in scs:
            fail(pvc["__where"], f"PVC {name}: storageClassName {scn} is not a pvnode StorageClass")
        vn = pvc["spec"].get("volumeName")
        if vn and vn not in pvs:
            fail(pvc["__where"], f"PVC {name}: volumeName {vn} is no PV here")
    for name, pv in pvs.items():
        spec = pv.get("spec") or {}
        csi = spec.get("csi") or {}
        attrs = csi.get("volumeAttributes") or {}
        drv = attrs.get("pvnode.io/driver")
        if not drv:
            fail(pv["__where"], f"PV {name}: no pvnode.io/driver attribute (a node that never saw the catalog cannot stage it)")
        elif drv not in DRIVER_KIND:
            fail(pv["__where"], f"PV {name}: unknown driver {drv}")
        else:
            want = KIND_PREFIX[DRIVER_KIND[drv]] + CNAME
            if csi.get("driver") != want:
                fail(pv["__where"], f"PV {name}: {drv} volumes are served by {want}, not {csi.get('driver')}")
        if csi.get("driver") not in drivers:
            fail(pv["__where"], f"PV {name}: driver {csi.get('driver')} is no CSIDriver")
        if not re.match(r"^[A-Za-z0-9._:-]{1,128}$", csi.get("volumeHandle", "")):
            fail(pv["__where"], f"PV {name}: volumeHandle is not a pvnode volume id")
        if spec.get("storageClassName") not in scs:
            fail(pv["__where"], f"PV {name}: storageClassName {spec.get('storageClassName')} is not a pvnode StorageClass")
        cr = spec.get("claimRef")
        if cr and (cr.get("namespace"), cr.get("name")) not in pvcs:
            fail(pv["__where"], f"PV {name}: claimRef {cr} is no PVC here")
    for pod in [o for o in objs if o["kind"] == "Pod"]:
        for v in pod["spec"].get("volumes") or []:
            cn = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if cn and (pod["metadata"]["namespace"], cn) not in pvcs:
                fail(pod["__where"], f"Pod {pod['metadata']['name']}: claim {cn} is no PVC in {pod['metadata']['namespace']}")


# ---------------------------------------------------------------- outside Kubernetes

def check_systemd_nomad(pvnode_flags, pending):
    unit = os.path.join(SRC, "examples", "systemd", "pvnode.service")
    if os.path.exists(unit):
        text = open(unit).read()
        es = re.search(r"^ExecStart=(.*(?:\\\n.*)*)", text, re.M)
        args = es.group(1).replace("\\\n", " ").split() if es else []
        where = rel(unit)
        cfg = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
        for k, v in (("Type", "notify"), ("KillMode", "process"), ("StateDirectory", "pvnode")):
            if cfg.get(k) != v:
                fail(where, f"{k}={cfg.get(k)}, expected {v}")
        if cfg.get("RestrictSUIDSGID", "no").lower() in ("yes", "true", "1", "on"):
            fail(where, "RestrictSUIDSGID=yes denies the setgid bit pvnode gives volume roots (gid, fsGroup)")
        check_flag_list(pvnode_flags, pending, [a.split("=", 1)[0] for a in args[1:] if a.startswith("-")], where)
        opts = dict(a.split("=", 1) for a in args[1:] if a.startswith("--") and "=" in a)
        if opts.get("--state-dir") != "/var/lib/pvnode":
            fail(where, "--state-dir must be /var/lib/pvnode (StateDirectory=pvnode)")
        ep = opts.get("--endpoint", "")
        rd = cfg.get("RuntimeDirectory")
        if not rd or not ep.startswith(f"unix:///run/{rd}/"):
            fail(where, f"--endpoint {ep} is not in RuntimeDirectory=/run/{rd}")
        sock = os.path.join(SRC, "examples", "systemd", "pvnode.socket")
        if os.path.exists(sock):
            scfg = dict(re.findall(r"^(\w+)=(.*)$", open(sock).read(), re.M))
            if "unix://" + scfg.get("ListenStream", "") != ep:
                fail(rel(sock), f"ListenStream={scfg.get('ListenStream')} is not pvnode.service's --endpoint {ep}")
            if cfg.get("RuntimeDirectoryPreserve") != "yes":
                fail(where, "RuntimeDirectoryPreserve must be yes: a stop would remove pvnode.socket's socket")
    for root, _, files in os.walk(os.path.join(SRC, "examples", "nomad")):
        for f in files:
            if not f.endswith(".nomad"):
                continue
            p = os.path.join(root, f)
            text = open(p).read()
            m = re.search(r"args\s*=\s*\[(.*?)\]", text, re.S)
            args = re.findall(r'"([^"]*)"', m.group(1)) if m else []
            check_flag_list(pvnode_flags, pending, [a.split("=", 1)[0] for a in args if a.startswith("-")], rel(p))
            opts = dict(a.split("=", 1) for a in args if a.startswith("--") and "=" in a)
            md = re.search(r'mount_dir\s*=\s*"([^"]+)"', text)
            if md and not opts.get("--endpoint", "").startswith(f"unix://{md.group(1)}/"):
                fail(rel(p), f"--endpoint {opts.get('--endpoint')} is not in csi_plugin mount_dir {md.group(1)}")
            sp = re.search(r'stage_publish_base_dir\s*=\s*"([^"]+)"', text)
            allowed = [a.split("=", 1)[1] for a in args if a.startswith("--allowed-path=")] or ["/var/lib/kubelet"]
            if sp and not any(sp.group(1) == a or sp.group(1).startswith(a.rstrip("/") + "/") for a in allowed):
                fail(rel(p), f"stage_publish_base_dir {sp.group(1)} is outside --allowed-path {allowed}")


def check_flag_list(pvnode_flags, pending, flags, where):
    if pvnode_flags is None:
        return
    for f in flags:
        if f in pvnode_flags:
            continue
        if f in PENDING_FLAGS:
            pending.setdefault(f, set()).add(where)
        else:
            fail(where, f"pvnode has no option {f} (pvnode --help)")


# ---------------------------------------------------------------- kubectl

def kubectl_checks(kdirs, rendered):
    kubectl = shutil.which("kubectl")
    if os.environ.get("PVNODE_CHECK_KUBECTL") == "0":
        note("kubectl checks turned off (PVNODE_CHECK_KUBECTL=0)")
        return
    if not kubectl:
        note("kubectl not installed: kustomize rendering and --dry-run=client skipped")
        return
    for kdir in kdirs:
        r = subprocess.run([kubectl, "kustomize", kdir], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            fail(rel(kdir), f"kubectl kustomize fails: {r.stderr.strip()[:500]}")
            continue
        objs = [d for d in yaml.safe_load_all(r.stdout) if d]
        got = {oid(o) for o in objs}
        want = {oid(o) for o in rendered[kdir]}
        if got != want:
            fail(rel(kdir), f"kubectl kustomize renders {sorted(got ^ want)} differently from these checks")
        mine = {oid(o): o for o in rendered[kdir]}
        for o in objs:
            m = mine.get(oid(o))
            if m and o["kind"] in ("Deployment", "DaemonSet"):
                a = [c["name"] for c in pod_of(o)["containers"]]
                b = [c["name"] for c in pod_of(m)["containers"]]
                if sorted(a) != sorted(b):
                    fail(rel(kdir), f"{o['kind']} {o['metadata']['name']}: kustomize gives containers {a}, these checks {b}")
    note(f"kubectl kustomize renders {len(kdirs)} kustomizations as expected")
    v = subprocess.run([kubectl, "version", "-o", "json", "--request-timeout=5s"],
                       capture_output=True, text=True, timeout=30)
    try:
        server = json.loads(v.stdout).get("serverVersion")
    except ValueError:
        server = None
    if not server:
        note("kubectl apply --dry-run=client skipped: no Kubernetes API server answers (it needs one for discovery)")
        return
    for kdir in kdirs:
        r = subprocess.run([kubectl, "apply", "--dry-run=client", "-k", kdir],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            fail(rel(kdir), f"kubectl apply --dry-run=client: {r.stderr.strip()[:500]}")
    note(f"kubectl apply --dry-run=client accepted them (server {server.get('gitVersion')})")


# ---------------------------------------------------------------- main

def main():
    global CNAME, SOURCE_DRIVERS
    CNAME = c_driver_name()
    SOURCE_DRIVERS = source_drivers()
    if not SOURCE_DRIVERS:
        fail("C sources", "no driver definitions found (struct pv_driver ... = { .name = ... })")
    else:
        note(f"drivers in the sources: {', '.join(sorted(SOURCE_DRIVERS))}")
    pvnode = find_program("PVNODE", "pvnode")
    pvctl = find_program("PVCTL", "pvctl")
    pvnode_flags = help_flags(pvnode) if pvnode else None
    if pvnode_flags is None:
        note("pvnode is not built (-Dcsi=disabled?): pvnode flags not checked")
    else:
        served_as = build_driver_names(pvnode)
        if not served_as:
            fail("pvnode --help", "lists no CSI driver name with its drivers")
        for drv, name in sorted(served_as.items()):
            kind = DRIVER_KIND.get(drv)
            if kind is None or KIND_PREFIX[kind] + CNAME != name:
                fail("tests/deploy/manifest_rules.py", f"DRIVER_KIND says {drv} is {kind}, pvnode serves it as {name}")
    drivers = None
    if pvctl:
        out = subprocess.run([pvctl, "--version"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"\(drivers: ([^)]*)\)", out)
        drivers = set(m.group(1).replace(",", " ").split()) if m else None
    if drivers is None:
        note("pvctl --version gave no driver list: StorageClass drivers not checked against it")

    kdirs = []
    for root, dirs, files in os.walk(os.path.dirname(DEPLOY)):
        dirs.sort()
        if "kustomization.yaml" in files:
            kdirs.append(root)
    seen, rendered = set(), {}
    for kdir in kdirs:
        rendered[kdir] = build(kdir, seen)
    for root, _, files in os.walk(os.path.dirname(DEPLOY)):
        for f in files:
            p = os.path.join(root, f)
            if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml" and p not in seen:
                if os.path.basename(root) == "examples":
                    note(f"{rel(p)}: standalone example (in no kustomization)")
                    rendered.setdefault(root + "#standalone", []).extend(load_file(p))
                else:
                    fail(rel(p), "is in no kustomization.yaml")
            elif not f.endswith((".yaml", ".yml")):
                fail(rel(p), "is not YAML (deploy/ holds manifests only)")

    base = rendered.get(DEPLOY, [])
    pending = {}
    for key, objs in rendered.items():
        examples = os.path.basename(key.split("#")[0]) == "examples"
        check_basics(objs, examples, base if examples else ())
        if examples:
            check_examples(objs + [o for o in rendered.get(os.path.join(DEPLOY, "examples"), []) +
                                   rendered.get(os.path.join(DEPLOY, "examples") + "#standalone", [])
                                   if o not in objs], base)
            cx = Ctx(objs, CNAME, pvnode_flags, drivers)
            cx.pending = pending
            check_storage(cx, base + [o for k, v in rendered.items() if "examples" in k for o in v])
            continue
        cx = Ctx(objs, CNAME, pvnode_flags, drivers)
        cx.pending = pending
        check_workloads(cx)
        check_csi(cx)
        check_rbac(cx)
        check_storage(cx, base + [o for k, v in rendered.items() if "examples" in k for o in v])

    check_systemd_nomad(pvnode_flags, pending)
    kubectl_checks(kdirs, rendered)

    with open(os.path.join(SRC, "Containerfile")) as f:
        m = re.search(r"^ARG VERSION=(\S+)", f.read(), re.M)
    if not m or m.group(1) != project_version():
        fail("Containerfile", f"ARG VERSION={m.group(1) if m else None}, the project version is {project_version()}")

    for n in notes:
        print(f"note: {n}")
    for f, where in sorted(pending.items()):
        print(f"PENDING: pvnode has no {f} yet ({PENDING_FLAGS[f]}); used by {', '.join(sorted(where))} — not checked until pvnode --help lists it")
    for f in sorted(PENDING_FLAGS):
        if pvnode_flags and f in pvnode_flags:
            print(f"note: {f} is in pvnode --help now and checked; drop it from PENDING_FLAGS")
    for e in errors:
        print(f"FAIL: {e}")
    total = sum(len(v) for v in rendered.values())
    print(f"{len(errors)} problem(s) in {total} objects of {len(kdirs)} kustomizations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
