"""manifest_model.py — Kubernetes objects as check_manifests.py reads them: the part of
kustomize's strategic merge the manifests use, pod templates, container flags, and
paths inside a container resolved through its volume mounts to the host (hostPath) or
the pod (emptyDir). Pure functions, no checks.
"""
import os

from manifest_rules import SIDECARS


def strategic_merge(base, patch):
    """The part of kustomize's strategic merge these manifests use: maps merge, lists
    of named maps (containers, volumes, env, volumeMounts by mountPath) merge by key."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = strategic_merge(base[k], v) if k in base else v
        return out
    if isinstance(base, list) and isinstance(patch, list):
        key = None
        for cand in ("name", "mountPath"):
            if all(isinstance(x, dict) and cand in x for x in base + patch):
                key = cand
                break
        if key is None:
            return patch
        out = list(base)
        for p in patch:
            idx = next((i for i, b in enumerate(out) if b[key] == p[key]), None)
            if idx is None:
                out.append(p)
            else:
                out[idx] = strategic_merge(out[idx], p)
        return out
    return patch


def oid(o):
    md = o.get("metadata", {})
    return (o["kind"], md.get("namespace"), md.get("name"))


def pod_of(o):
    if o["kind"] == "Pod":
        return o.get("spec") or {}
    return ((o.get("spec") or {}).get("template") or {}).get("spec") or {}


def image_parts(image):
    repo, _, tag = image.rpartition(":")
    if "/" in tag or not repo:
        return image, ""
    return repo, tag


def parse_args(args):
    """['--a=1', '--b', 'x', '--c'] -> [(flag, value or None)] (values after '=' only;
    the manifests write --flag=value)."""
    out = []
    for a in args or []:
        if a.startswith("-"):
            flag, eq, val = a.partition("=")
            out.append((flag, val if eq else None))
    return out


def flag_values(container, flag):
    return [v for f, v in parse_args(container.get("args")) if f == flag]


def has_flag(container, flag):
    return any(f == flag for f, _ in parse_args(container.get("args")))


def one_flag(container, flag, default=None):
    v = flag_values(container, flag)
    return v[-1] if v else default


def sidecar_kind(container):
    repo, _ = image_parts(container.get("image", ""))
    base = repo.rsplit("/", 1)[-1]
    if base in SIDECARS:
        return base
    if base == "pvnode":
        return "pvnode"
    return None


def resolve(pod, container, path):
    """A path inside container -> ('host', path) or ('emptyDir', volume, rest)."""
    best = None
    for m in container.get("volumeMounts") or []:
        mp = m["mountPath"].rstrip("/") or "/"
        if path == mp or path.startswith(mp + "/") or mp == "/":
            if best is None or len(mp) > len(best[0]):
                best = (mp, m)
    if best is None:
        return ("container", container["name"], path)
    mp, m = best
    restp = path[len(mp):].lstrip("/")
    vol = next((v for v in pod.get("volumes") or [] if v["name"] == m["name"]), None)
    if vol is None:
        return ("missing-volume", m["name"], restp)
    sub = m.get("subPath", "")
    restp = os.path.join(sub, restp) if sub else restp
    if "hostPath" in vol:
        return ("host", os.path.normpath(os.path.join(vol["hostPath"]["path"], restp)))
    return ("emptyDir" if "emptyDir" in vol else "volume", vol["name"], restp)


def mount_of(pod, container, mount_path):
    for m in container.get("volumeMounts") or []:
        if m["mountPath"].rstrip("/") == mount_path:
            vol = next((v for v in pod.get("volumes") or [] if v["name"] == m["name"]), {})
            return m, vol
    return None, None
