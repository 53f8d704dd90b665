#!/usr/bin/env python3
"""tests/hardening/hostile.py — issue 9's bounded hostile loop.

Hundreds of tries per category against a real pvctl and pvnode, on real loop devices,
each followed by checks of what must always hold:

  pv-fuzz       fuzzed PVs (hostile names, paths, mount options, sizes, types, broken
                JSON) through pvctl create, and when accepted stage, publish and delete
  csi-fuzz      fuzzed CSI requests (volume_context, staging/target paths, mount flags,
                ids, capabilities, raw garbage) to a running pvnode
  race          a target or staging path flipped between a directory inside the prefix
                and a symbolic link to outside, during publish, stage and unpublish
  kill-pvctl    every operation of a volume's life SIGKILLed after 0-30 ms (and at a
                random point of its measured duration), then retried
  kill-pvnode   pvnode SIGKILLed 0-30 ms into a CSI call, restarted, the call retried

What must hold after every try: nothing of ours mounted outside the test's prefixes;
the victims outside (files, a "host disk" loop device, foreign mounts) unchanged; no
mount stacked twice at a path; after a retry every mount is one the journal knows, the
volume's data is intact, no loop device is left over; no crash, hang or sanitizer report.

Environment: PVCTL, PVNODE, CSI_CALL, FLIP, KILLAFTER (set by meson); HOSTILE_SEED
(default: time), HOSTILE_SCALE (tries multiplier, default 1), HOSTILE_BUDGET (seconds per
category, default 90), HOSTILE_ONLY (comma list of categories), HOSTILE_IGNORE (words of
problems to leave out). Exit 0 when every try held.
The victims are files and a loop device the test makes itself: a broken binary can never
reach a disk of the machine.
"""
import ctypes
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PVCTL = os.environ["PVCTL"]
PVNODE = os.environ.get("PVNODE", "")
CSI_CALL = os.environ.get("CSI_CALL", "")
FLIP = os.environ["FLIP"]
KILLAFTER = os.environ["KILLAFTER"]
SEED = int(os.environ.get("HOSTILE_SEED", str(int(time.time()))))
SCALE = float(os.environ.get("HOSTILE_SCALE", "1"))
BUDGET = float(os.environ.get("HOSTILE_BUDGET", "90"))
ONLY = [c for c in os.environ.get("HOSTILE_ONLY", "").split(",") if c]
IGNORE = [w for w in os.environ.get("HOSTILE_IGNORE", "").split(",") if w]
rng = random.Random(SEED)

if os.geteuid() != 0 or not os.path.exists("/dev/loop-control"):
    print("SKIP: needs root and loop devices")
    sys.exit(77)

T = tempfile.mkdtemp(prefix="pvnode-hostile.", dir="/tmp")
STATE = f"{T}/state"
TARGETS = f"{T}/targets"
OUT = f"{T}/outside"
CSTATE = f"{T}/cstate"
started = []          # our processes, by pid
our_loops = []        # loop devices we attached ourselves
foreign = []          # tmpfs mounts that are not pvnode's
ENV = dict(os.environ, PVNODE_STATE_DIR=STATE, PVNODE_ALLOWED_PATHS=TARGETS, PVNODE_NODE_ID="node-a",
           PVNODE_SELINUX="off")
for k in ("PVNODE_FAULT",):
    ENV.pop(k, None)
libc = ctypes.CDLL(None, use_errno=True)


# ---------------------------------------------------------------- plumbing
def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def work_dir():
    """Commands run in an empty directory outside, so a relative path that escapes shows;
    when an escaped mount hides it, in the test directory (the check reports the escape)."""
    return f"{OUT}/cwd" if os.path.isdir(f"{OUT}/cwd") else T


def run(cmd, timeout=60, env=ENV, cwd=None):
    """(rc, out, err); rc 124 on a hang (the command is killed)."""
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, cwd=cwd or work_dir(),
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        return 124, (e.stdout or b"").decode(errors="replace"), (e.stderr or b"").decode(errors="replace")


def pvctl(*args, timeout=60, kill_us=None):
    cmd = [PVCTL, *args]
    if kill_us is not None:
        cmd = [KILLAFTER, str(kill_us), *cmd]
    return run(cmd, timeout=timeout)


SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|"
                       r"stack smashing|double free|Segmentation fault")


def crashed(rc, err, allowed=(0, 1, 2, 3)):
    """A sentence when the outcome is a crash, hang or sanitizer report; else None."""
    if SANITIZER.search(err):
        return "sanitizer: " + SANITIZER.search(err).group(0) + ": " + err.strip().splitlines()[0][:200]
    if rc == 124:
        return "hang (killed after the timeout)"
    if rc in allowed:
        return None
    if rc < 0 or rc >= 128:
        return f"died of signal {rc - 128 if rc >= 128 else -rc}"
    if rc not in allowed:
        return f"exit status {rc}: {err.strip()[:200]}"
    return None


def renameat2_exchange(a, b):
    if libc.renameat2(-100, a.encode(), -100, b.encode(), 2) != 0:
        raise OSError(ctypes.get_errno(), f"renameat2 {a} {b}")


# ---------------------------------------------------------------- the world
def md5(path, limit=None):
    h = hashlib.md5()
    with open(path, "rb") as f:
        h.update(f.read(limit) if limit else f.read())
    return h.hexdigest()


def fingerprint(path):
    """Size, times and the first MiB: any write through a loop device or a mkfs moves the
    times (a full checksum of every victim after every try would cost seconds)."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, md5(path, 1 << 20))


def mountinfo():
    rows = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a = line.split()
            sep = a.index("-")
            unesc = lambda s: re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)
            rows.append({"id": a[0], "dev": a[2], "root": unesc(a[3]), "mnt": unesc(a[4]), "opts": a[5],
                         "fstype": a[sep + 1], "source": unesc(a[sep + 2]), "super": a[sep + 3] if len(a) > sep + 3 else ""})
    return rows


def loops_under(prefix):
    """{"/dev/loopN": (major:minor, backing)} for loop devices backed by files under prefix."""
    res = {}
    for d in os.listdir("/sys/block"):
        bf = f"/sys/block/{d}/loop/backing_file"
        try:
            with open(bf) as f:
                back = f.read().strip()
            with open(f"/sys/block/{d}/dev") as f:
                dev = f.read().strip()
        except OSError:
            continue
        if back.startswith(prefix + "/"):
            res["/dev/" + d] = (dev, back)
    return res


def setup():
    for d in (STATE, TARGETS, OUT, f"{OUT}/cwd", f"{OUT}/dir", CSTATE, f"{STATE}/images"):
        os.makedirs(d, exist_ok=True)
    # victims: a file of a volume's size, a "passwd", a "host disk" (a loop device)
    with open(f"{OUT}/victim.img", "wb") as f:
        f.write(b"VICTIM" * 1000)
        f.truncate(32 << 20)
    shutil.copy("/etc/hostname", f"{OUT}/passwd") if os.path.exists("/etc/hostname") else open(f"{OUT}/passwd", "w").write("x\n")
    with open(f"{OUT}/hostdisk.img", "wb") as f:
        f.write(b"HOSTDISK" * 4096)
        f.truncate(32 << 20)
    dev = sh("losetup", "--find", "--show", f"{OUT}/hostdisk.img").stdout.strip()
    our_loops.append(dev)
    # foreign mounts: one outside, one inside the allowed prefix
    for m in (f"{OUT}/mnt", f"{TARGETS}/foreign"):
        os.makedirs(m, exist_ok=True)
        sh("mount", "-t", "tmpfs", "-o", "size=1m", "hostile-foreign", m)
        with open(f"{m}/marker", "w") as f:
            f.write("foreign\n")
        foreign.append(m)
    # links: to outside, to an ancestor of the prefix, inside images to outside
    os.symlink(OUT, f"{TARGETS}/esc")
    os.symlink(T, f"{TARGETS}/up")
    os.symlink(f"{OUT}/victim.img", f"{STATE}/images/link.img")
    os.symlink(OUT, f"{STATE}/images/dirlink")
    global BASE_ANCESTORS, VICTIMS, HOSTDISK
    HOSTDISK = dev
    anc = ["/", "/tmp", T, TARGETS, OUT, STATE, CSTATE, f"{OUT}/dir", f"{OUT}/cwd"]
    BASE_ANCESTORS = {m: sum(1 for r in mountinfo() if r["mnt"] == m) for m in anc}
    VICTIMS = {p: fingerprint(p) for p in (f"{OUT}/victim.img", f"{OUT}/passwd", f"{OUT}/hostdisk.img")}


def cleanup():
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in started:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    # helpers our pvctl/pvnode started name T on their command line
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != os.getpid():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if T.encode() in f.read():
                        os.kill(int(p), signal.SIGKILL)
            except OSError:
                pass
    for _ in range(3):
        for m in sorted({r["mnt"] for r in mountinfo() if r["mnt"] == T or r["mnt"].startswith(T + "/")}, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        # anything of our devices mounted elsewhere (an escape) goes too
        devs = {v[0] for v in loops_under(T).values()}
        for r in mountinfo():
            if r["dev"] in devs or any(r["root"] == "/" + os.path.basename(d) for d in loops_under(T)):
                subprocess.run(["umount", "-l", r["mnt"]], capture_output=True)
        for dev in loops_under(T):
            subprocess.run(["losetup", "-d", dev], capture_output=True)
        time.sleep(0.1)
    shutil.rmtree(T, ignore_errors=True)


# ---------------------------------------------------------------- invariants
def check_world(after_recovery=False, state=STATE):
    """Sentences for everything that does not hold now (empty: all held). after_recovery:
    no operation is half-done (none was killed, or it was retried), so every mount and loop
    device of a volume must be one its journal lists."""
    bad = []
    for p, h in VICTIMS.items():
        if not os.path.exists(p) or fingerprint(p) != h:
            bad.append(f"victim {p} changed or gone")
    rows = mountinfo()
    for m in foreign:
        n = sum(1 for r in rows if r["mnt"] == m)
        if n != 1 or not os.path.exists(f"{m}/marker"):
            bad.append(f"foreign mount {m}: {n} mounts, marker {'there' if os.path.exists(m + '/marker') else 'gone'}")
    loops = loops_under(T)
    devs = {v[0] for k, v in loops.items() if k not in our_loops}
    names = {"/" + os.path.basename(k) for k in loops if k not in our_loops}
    host_dev = loops[HOSTDISK][0] if HOSTDISK in loops else None
    allowed = (TARGETS + "/", f"{STATE}/staging/", f"{CSTATE}/staging/", f"{STATE}/run/", f"{CSTATE}/run/")
    seen = {}
    for r in rows:
        ours = r["dev"] in devs or (r["root"] in names and r["fstype"] == "devtmpfs")
        if ours and not r["mnt"].startswith(allowed):
            bad.append(f"escape: a volume mounted at {r['mnt']}")
        if r["dev"] == host_dev or (r["root"] == "/" + os.path.basename(HOSTDISK) and r["fstype"] == "devtmpfs"):
            bad.append(f"the host disk {HOSTDISK} is mounted at {r['mnt']}")
        if r["mnt"].startswith(OUT + "/") and r["mnt"] not in foreign:
            bad.append(f"escape: new mount {r['mnt']} ({r['fstype']} {r['source']})")
        if r["mnt"].startswith(T + "/"):
            seen[r["mnt"]] = seen.get(r["mnt"], 0) + 1
            if ours and "/staging/" in r["mnt"] and ("nosuid" not in r["opts"] or "nodev" not in r["opts"]):
                bad.append(f"staging mount {r['mnt']} lacks nosuid,nodev ({r['opts']})")
            if r["dev"] in devs and "/staging/" not in r["mnt"] and "nosuid" not in r["opts"]:
                bad.append(f"publish {r['mnt']} lacks nosuid ({r['opts']})")
    for m, n in seen.items():
        if n > 1:
            bad.append(f"{n} mounts stacked at {m}")
    # over the prefix, the test directory or their ancestors (a link to an ancestor)
    for m, n in BASE_ANCESTORS.items():
        now = sum(1 for r in rows if r["mnt"] == m)
        if now > n:
            bad.append(f"escape: {now - n} new mount(s) over {m}")
    outside_names = set(os.listdir(OUT))
    if not outside_names <= {"cwd", "dir", "victim.img", "passwd", "hostdisk.img", "mnt", "pd"}:
        bad.append(f"files made outside: {sorted(outside_names)}")
    if not (os.path.isdir(f"{OUT}/cwd") and os.path.isdir(f"{OUT}/dir")):
        bad.append(f"escape: {OUT} is hidden or changed (something mounted over it?)")
    elif os.listdir(f"{OUT}/cwd") or os.listdir(f"{OUT}/dir"):
        bad.append(f"files made outside: {os.listdir(OUT + '/cwd') + os.listdir(OUT + '/dir')}")
    if after_recovery:
        bad += check_journal_knows(rows, state)
    # HOSTILE_IGNORE (comma list of words): leave a class of problem out, to see what else
    # an old build gets wrong (e.g. "lacks" for the missing nosuid,nodev)
    bad = [b for b in bad if not any(w in b for w in IGNORE)]
    # the worst first: a try is counted under its first problem
    return sorted(bad, key=lambda b: ("lacks" in b, "files made" in b))


def journals(state):
    res = {}
    d = f"{state}/journal"
    for f in os.listdir(d) if os.path.isdir(d) else []:
        if f.endswith(".json"):
            try:
                with open(f"{d}/{f}") as fh:
                    res[f[:-5]] = json.load(fh)
            except (OSError, ValueError):
                res[f[:-5]] = None
    return res


def held_elsewhere(dev, majmin):
    """A loop device pvnode detached while another mount namespace still holds a copy of
    its mount (a container or image build that started meanwhile copies every mount) is
    only marked for autoclear: the kernel detaches it when that namespace lets go."""
    try:
        with open(f"/sys/block/{os.path.basename(dev)}/loop/autoclear") as f:
            if f.read().strip() != "1":
                return False
        ours = os.readlink("/proc/self/ns/mnt")
    except OSError:
        return False
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") == ours:
                continue
            with open(f"/proc/{pid}/mountinfo") as f:
                if any(line.split()[2] == majmin for line in f):
                    return True
        except (OSError, IndexError):
            continue
    return False


def check_journal_knows(rows, state):
    """After a retry: every mount of a volume is one its journal lists; loops match."""
    bad = []
    js = journals(state)
    known = set()
    for v, j in js.items():
        if j is None:
            bad.append(f"journal of {v} unreadable after a retry")
            continue
        if j.get("phase") == "staged":
            known.add(j.get("stagingPath"))
        for p in j.get("publishes", []):
            known.add(p.get("target"))
    # the images of staged volumes, as their journals name them (a PV's path attribute
    # may name an image other than <volume>.img)
    staged_images = {(j.get("attachment") or {}).get("backing") for j in js.values()
                     if j and j.get("phase") == "staged"}
    loops = loops_under(state)
    for _ in range(30):
        # a loop device detached while its filesystem was still being put away goes when
        # the last reference does (autoclear): give that a moment before calling it a leak
        if all(b in staged_images for _, b in loops.values()):
            break
        time.sleep(0.1)
        loops = loops_under(state)
    devs = {v[0] for v in loops.values()}
    names = {"/" + os.path.basename(k) for k in loops}
    for r in rows:
        if r["dev"] in devs or (r["root"] in names and r["fstype"] == "devtmpfs"):
            if r["mnt"] not in known:
                bad.append(f"mount {r['mnt']} is not in any journal")
    per_image = {}
    for dev, (majmin, back) in loops.items():
        if back not in staged_images and held_elsewhere(dev, majmin):
            continue
        per_image.setdefault(back, []).append(dev)
    for back, devs_ in per_image.items():
        staged = back in staged_images
        if len(devs_) > 1 or (not staged and devs_):
            bad.append(f"{len(devs_)} loop devices on {back} (staged: {bool(staged)})")
    return bad


# ---------------------------------------------------------------- results
results = {}


def record(cat, ok, why=None, what=""):
    r = results.setdefault(cat, {"tries": 0, "held": 0, "failed": 0, "examples": [], "kinds": {}})
    r["tries"] += 1
    if ok:
        r["held"] += 1
    else:
        r["failed"] += 1
        kind = re.sub(r"\d+", "N", re.sub(r"(/tmp|/dev)/\S*", "PATH", str(why)))[:90]
        if kind not in r["kinds"]:
            r["examples"].append(f"{what}: {why}")
        r["kinds"][kind] = r["kinds"].get(kind, 0) + 1


def tries(n):
    return max(1, int(n * SCALE))


def over(t0):
    return time.monotonic() - t0 > BUDGET


# ---------------------------------------------------------------- pv-fuzz
NAMES = ["../x", "-rf", ".", "..", "a/b", "A" * 300, "", " ", "\u00fc", "x\ny", "x;id", "$(id)", "v%n%s",
         "UPPER", "a" * 63, "a" * 64, "-", "--force", "x\t", "catalog", "foreign", "0"]
PATHS = ["/dev/HOSTDISK", f"{OUT}/victim.img", f"{OUT}/passwd", f"{STATE}/images/../../outside/victim.img",
         f"{STATE}/images/link.img", f"{STATE}/images/dirlink/x.img", f"{STATE}/images", f"{STATE}/images/",
         f"{STATE}/images/sub/new.img", "relative.img", "/proc/self/fd/0", f"{STATE}/catalog/x.json",
         f"{STATE}/images//x.img", f"{STATE}/images/./x.img", f"{OUT}/dir/new.img", "", "/", "/dev/null",
         f"{T}/targets/up/outside/victim.img"]
OPTS = ["suid", "dev", "exec", "loop", "x-mount.mkdir", "errors=panic", "helper=/bin/sh", "nouser", "rw,suid",
        'context="system_u:object_r:container_file_t:s0"', "uid=0", "data=journal", "journal_path=/dev/sda",
        "usrjquota=" + OUT + "/passwd", "A" * 5000, "noatime", "ro", "x-systemd.automount", "offset=1024",
        "sizelimit=1", "nofail", "discard", "noexec,nodev", "owner", "user", "users", "defaults", "bind", "rbind",
        "move", "remount", "=", ",", "source=/dev/sda", "lowerdir=/", "fd=0", "default_permissions"]
GOOD_OPTS = ["noatime", "nodiratime", "discard", "noexec", "ro", "sync", "lazytime", "relatime", "data=ordered",
             "commit=30", "nosuid", "nodev"]
CAPS = ["8Ei", "-1", "0", "1e30", "1.5Gi", "99999999999999999999", "16Mi ", "0x10", 1048576, None, "32Mi", "1Ki",
        "9223372036854775807", "9223372036854775808", "32mi", "32 Mi", True, [], {}]
MODES = [[], ["XYZ"], ["RWO", "RWX"], "RWO", [1], ["ReadWriteOncePod"], ["ROX"], ["RWOP", "RWO"], None]


def hostile_value(kind):
    v = rng.choice(kind)
    return HOSTDISK if v == "/dev/HOSTDISK" else v


def fuzz_pv(i):
    driver = rng.choice(["file"] * 6 + ["nfs", "iscsi", "rbd", "zfs", "", "../file"])
    pv = {"name": f"f{i}", "driver": driver, "capacity": rng.choice(["16Mi", "32Mi"]), "accessModes": ["RWO"]}
    if driver == "nfs":
        pv["attributes"] = {"server": "127.0.0.1", "share": "/export", "port": "1"}
    elif driver == "iscsi":
        pv["attributes"] = {"portal": "127.0.0.1:1", "iqn": "iqn.2026-01.io.x:t", "lun": "1", "loginTimeout": "1"}
    if rng.random() < 0.4:
        # a valid variation, so that a good share is accepted and staged, published, deleted
        pv.update(rng.choice([{"mountOptions": rng.sample(GOOD_OPTS, rng.randint(1, 3))}, {"gid": 5555},
                              {"volumeMode": "Block"}, {"accessModes": ["RWOP"]}, {"accessModes": ["RWO", "ROX"]},
                              {"fsType": "ext4"}, {"capacity": "24Mi"}, {"reclaimPolicy": "Retain"},
                              {"attributes": {"path": f"{STATE}/images/{pv['name']}.img"}}]))
        if rng.random() < 0.7:
            return pv, json.dumps(pv)
    for _ in range(rng.randint(1, 3)):
        m = rng.randrange(12)
        if m == 0:
            pv["name"] = rng.choice(NAMES)
        elif m in (1, 2):
            if not isinstance(pv.get("attributes"), dict):
                pv["attributes"] = {}
            pv["attributes"]["path"] = hostile_value(PATHS)
        elif m == 3:
            pv["mountOptions"] = [rng.choice(OPTS) for _ in range(rng.randint(1, 3))]
        elif m == 4:
            pv["capacity"] = rng.choice(CAPS)
        elif m == 5:
            pv["accessModes"] = rng.choice(MODES)
        elif m == 6:
            pv["volumeMode"] = rng.choice(["Block", "weird", "", None])
        elif m == 7:
            pv["fsType"] = rng.choice(["btrfs", "vfat", "../ext4", "ext4 -E root_owner", "xfs", "", "ext4", "ext2"])
        elif m == 8:
            pv["gid"] = rng.choice([-1, 0, 4294967296, "x", 1.5, 5555, 2 ** 63])
        elif m == 9:
            pv[rng.choice(["attributes", "secretRef", "labels", "mountOptions"])] = rng.choice(
                [[], "x", 1, {"a": {"b": [1, 2]}}, {"path": 1}, {"subDir": "../.."}, {"../x": "y"}])
        elif m == 10:
            pv["attributes"] = {rng.choice(["subDir", "share", "server", "portal", "iqn", "lun", "pool", "image",
                                            "monitors", "ioTimeout"]): hostile_value(PATHS + NAMES)}
        else:
            pv["x" * rng.randint(1, 5)] = {"nested": [[[[[[[[[[[[1]]]]]]]]]]]]}
    text = json.dumps(pv)
    r = rng.random()
    if r < 0.1:
        text = text[: rng.randrange(len(text))]
    elif r < 0.15:
        k = rng.randrange(len(text))
        text = text[:k] + rng.choice(["\x00", "\xff", "}", "{", '"', "\\u0000", "[" * 500]) + text[k:]
    elif r < 0.18:
        text = text[:-1] + ', "name": "dup"}'
    return pv, text


def pv_fuzz():
    cat = "pv-fuzz"
    t0 = time.monotonic()
    outcome = {}
    for i in range(tries(300)):
        if over(t0):
            break
        pv, text = fuzz_pv(i)
        path = f"{T}/fuzz.json"
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        rc, out, err = pvctl("create", "-f", path, timeout=30)
        outcome[rc] = outcome.get(rc, 0) + 1
        why = crashed(rc, err)
        name = pv.get("name") if isinstance(pv.get("name"), str) else None
        if not why and rc == 0 and name is not None:
            why = exercise(name, pv)
        if not why:
            bad = check_world(after_recovery=True)
            why = "; ".join(bad) if bad else None
        record(cat, why is None, why, text[:160])
        if why:
            heal()
    print(f"pv-fuzz: create exit statuses {dict(sorted(outcome.items()))}, {STAGED[0]} staged")


STAGED = [0]


def exercise(name, pv):
    """An accepted fuzzed PV: stage, publish, check, unpublish, unstage, delete."""
    tgt = f"{TARGETS}/fz"
    n = ["--", name] if name.startswith("-") else [name]
    for op, args in (("stage", ["stage", *n]), ("publish", ["publish", *n, tgt])):
        rc, out, err = pvctl(*args)
        why = crashed(rc, err)
        if why:
            return f"{op}: {why}"
        bad = check_world(after_recovery=True)
        if bad:
            return f"after {op} (exit {rc}): " + "; ".join(bad)
        if rc != 0:
            break
        if op == "stage":
            STAGED[0] += 1
    for op, args in (("unpublish", ["unpublish", *n, tgt]), ("unstage", ["unstage", *n]),
                     ("delete", ["delete", "--force", *n])):
        rc, out, err = pvctl(*args)
        why = crashed(rc, err)
        if why:
            return f"{op}: {why}"
    bad = check_world(after_recovery=True)
    return "after delete: " + "; ".join(bad) if bad else None


def heal():
    """After a failed try: take away what it left so the next try starts clean."""
    heal_ancestors()
    for v in list(journals(STATE)):
        for p in (journals(STATE).get(v) or {}).get("publishes", []):
            pvctl("unpublish", "--", v, p.get("target", ""))
        pvctl("unstage", "--", v)
    for f in os.listdir(f"{STATE}/catalog") if os.path.isdir(f"{STATE}/catalog") else []:
        if f.endswith(".json"):
            pvctl("delete", "--force", "--", f[:-5])
    for r in sorted(mountinfo(), key=lambda r: -len(r["mnt"])):
        if r["mnt"].startswith(T + "/") and r["mnt"] not in foreign:
            subprocess.run(["umount", "-l", r["mnt"]], capture_output=True)
    devs = {v[0] for k, v in loops_under(T).items() if k not in our_loops}
    for r in mountinfo():
        if r["dev"] in devs:
            subprocess.run(["umount", "-l", r["mnt"]], capture_output=True)
    for dev in loops_under(T):
        if dev not in our_loops:
            subprocess.run(["losetup", "-d", dev], capture_output=True)
    for m in foreign:
        if not any(r["mnt"] == m for r in mountinfo()):
            os.makedirs(m, exist_ok=True)
            sh("mount", "-t", "tmpfs", "-o", "size=1m", "hostile-foreign", m, check=False)
            open(f"{m}/marker", "w").write("foreign\n")
    for d in (f"{OUT}/cwd", f"{OUT}/dir"):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d, exist_ok=True)
    for p, h in list(VICTIMS.items()):
        if not os.path.exists(p) or fingerprint(p) != h:
            VICTIMS[p] = fingerprint(p) if os.path.exists(p) else VICTIMS.pop(p)


# ---------------------------------------------------------------- csi-fuzz
class Daemon:
    def __init__(self, state):
        self.state = state
        self.sock = f"{T}/csi.sock"
        self.ep = "unix://" + self.sock
        self.log = open(f"{T}/pvnode.log", "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([PVNODE, "--endpoint", self.ep, "--node-id", "node-a", "--state-dir", self.state,
                                      "--allowed-path", TARGETS, "--selinux", "off"], stdout=self.log,
                                     stderr=self.log, env=ENV, cwd=work_dir())
        started.append(self.proc.pid)
        for _ in range(200):
            if run([CSI_CALL, self.ep, "Probe"], timeout=5)[0] == 0:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"pvnode exited at start ({self.proc.returncode})")
            time.sleep(0.05)
        raise RuntimeError("pvnode did not answer Probe")

    def call(self, method, *fields, timeout=60):
        return run([CSI_CALL, self.ep, method, *fields], timeout=timeout)

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode


def csi_cap(block=False, mode="SINGLE_NODE_WRITER", fs="ext4", flags=()):
    if block:
        return ["volume_capability.block=", f"volume_capability.access_mode.mode={mode}"]
    return [f"volume_capability.mount.fs_type={fs}", f"volume_capability.access_mode.mode={mode}",
            *[f"volume_capability.mount.mount_flags={f}" for f in flags]]


def csi_ctx(driver="file", cap=33554432, extra=None):
    c = {"pvnode.io/driver": driver, "pvnode.io/capacity": str(cap), "pvnode.io/accessModes": "RWO",
         "pvnode.io/fsType": "ext4", "pvnode.io/volumeMode": "Filesystem"}
    c.update(extra or {})
    return [f"volume_context.{k}={v}" for k, v in c.items()]


CSI_PATHS = [f"{TARGETS}/s/c1", f"{OUT}/s", f"{TARGETS}/esc/s", f"{TARGETS}/up/outside", "relative",
             f"{TARGETS}/../outside", f"{TARGETS}/foreign", f"{CSTATE}/staging/c1", "", "/", f"{TARGETS}",
             f"{TARGETS}/s/c1/inner", f"{TARGETS}/" + "d" * 300, f"{TARGETS}/a\nb", f"{OUT}/mnt"]


def fuzz_csi(d, i):
    m = rng.choice(["NodeStageVolume"] * 3 + ["NodePublishVolume"] * 3 + ["NodeUnpublishVolume", "NodeUnstageVolume",
                    "CreateVolume", "DeleteVolume", "NodeGetVolumeStats", "NodeExpandVolume",
                    "ValidateVolumeCapabilities", "raw"])
    vid = "c1" if rng.random() < 0.6 else rng.choice(NAMES + ["c2", "c1/../c1"])
    spath = f"{TARGETS}/s/c1" if rng.random() < 0.5 else rng.choice(CSI_PATHS)
    tpath = f"{TARGETS}/p/{i % 4}" if rng.random() < 0.5 else rng.choice(CSI_PATHS)
    extra = {}
    if rng.random() < 0.5:
        extra["path"] = hostile_value(PATHS + [f"{CSTATE}/images/c1.img"])
    if rng.random() < 0.2:
        extra[rng.choice(["pvnode.io/accessModes", "pvnode.io/volumeMode", "pvnode.io/fsType", "pvnode.io/capacity",
                          "pvnode.io/gid", "subDir", "server", "portal"])] = rng.choice(NAMES + CAPS[:8] + PATHS[:4])
    driver = "file" if rng.random() < 0.8 else rng.choice(["nfs", "iscsi", "rbd", "", "x"])
    flags = [rng.choice(OPTS) for _ in range(rng.randint(0, 2))] if rng.random() < 0.4 else []
    cap = csi_cap(block=rng.random() < 0.15, mode=rng.choice(["SINGLE_NODE_WRITER"] * 4 + [
        "MULTI_NODE_MULTI_WRITER", "MULTI_NODE_READER_ONLY", "SINGLE_NODE_MULTI_WRITER", "UNKNOWN"]),
        fs=rng.choice(["ext4"] * 5 + ["xfs", "../x", "vfat", ""]), flags=[str(f) for f in flags])
    ctx = csi_ctx(driver, extra={k: str(v) for k, v in extra.items()})
    if m == "raw":
        blob = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))).hex()
        return m, [rng.choice(["NodeStageVolume", "NodePublishVolume", "CreateVolume"]), "--raw", blob or "00"]
    if m == "NodeStageVolume":
        f = [f"volume_id={vid}", f"staging_target_path={spath}", *cap, *ctx]
    elif m == "NodePublishVolume":
        f = [f"volume_id={vid}", f"staging_target_path={spath}", f"target_path={tpath}", *cap, *ctx]
        if rng.random() < 0.3:
            f.append("readonly=true")
    elif m == "NodeUnpublishVolume":
        f = [f"volume_id={vid}", f"target_path={tpath}"]
    elif m == "NodeUnstageVolume":
        f = [f"volume_id={vid}", f"staging_target_path={spath}"]
    elif m == "CreateVolume":
        f = [f"name={vid}", f"capacity_range.required_bytes={rng.choice([33554432, 0, -1, 2**63 - 1, 1])}",
             "volume_capabilities[0].mount.fs_type=ext4", "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER",
             f"parameters.driver={driver}", *[f"parameters.{k}={v}" for k, v in extra.items()]]
    elif m == "DeleteVolume":
        f = [f"volume_id={vid if vid != 'c1' else 'c2'}"]
    elif m == "NodeGetVolumeStats":
        f = [f"volume_id={vid}", f"volume_path={tpath}"]
    elif m == "NodeExpandVolume":
        f = [f"volume_id={vid}", f"volume_path={tpath}", "capacity_range.required_bytes=33554432"]
    else:
        f = [f"volume_id={vid}", "volume_capabilities[0].mount.fs_type=ext4",
             "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER", *ctx]
    return m, [m, *f]


def csi_fuzz():
    cat = "csi-fuzz"
    if not (PVNODE and CSI_CALL):
        return
    d = Daemon(CSTATE)
    d.start()
    rc, out, err = d.call("CreateVolume", "name=c1", "capacity_range.required_bytes=33554432",
                          "volume_capabilities[0].mount.fs_type=ext4",
                          "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER", "parameters.driver=file")
    if rc != 0:
        record(cat, False, f"CreateVolume c1 failed: {err.strip()}", "setup")
        return
    t0 = time.monotonic()
    for i in range(tries(300)):
        if over(t0):
            break
        m, args = fuzz_csi(d, i)
        rc, out, err = d.call(*args, timeout=60)
        why = crashed(rc, err, allowed=tuple(range(0, 17)))
        if not why and not d.alive():
            why = f"pvnode died (status {d.proc.returncode})"
        if not why and rc == 14:
            why = "UNAVAILABLE: pvnode stopped answering"
        if not why:
            bad = check_world(after_recovery=True, state=CSTATE)
            why = "; ".join(bad) if bad else None
        record(cat, why is None, why, " ".join(args)[:200])
        if why and os.environ.get("HOSTILE_DEBUG"):
            with open(f"{T}/pvnode.log", errors="replace") as f:
                print("--- pvnode log, last lines ---\n" + "".join(f.readlines()[-30:]))
        if not d.alive():
            d.start()
        if why:
            heal()
    rc = d.stop()
    with open(f"{T}/pvnode.log", errors="replace") as f:
        log = f.read()
    if SANITIZER.search(log) or rc not in (0, -15):
        record(cat, False, f"pvnode at shutdown: status {rc}, " + (SANITIZER.search(log).group(0) if SANITIZER.search(log) else ""), "shutdown")


# ---------------------------------------------------------------- races
class Flipper:
    def __init__(self, a, b, us=200):
        self.p = subprocess.Popen([FLIP, a, b, str(us)])
        started.append(self.p.pid)
        self.a, self.b = a, b

    def stop(self):
        self.p.kill()
        self.p.wait()

    def restore(self):
        """The directory back under its own name (after a moved mount was taken away)."""
        if os.path.islink(self.a) and not os.path.islink(self.b):
            renameat2_exchange(self.a, self.b)


def race():
    cat = "race"
    rc, _, err = pvctl("create", "-f", write_pv("rc", "32Mi"))
    if rc != 0 or pvctl("stage", "rc")[0] != 0:
        record(cat, False, f"setup: {err.strip()}", "setup")
        return
    t0 = time.monotonic()
    # 1. publish onto a target flipped with a link to outside
    t = f"{TARGETS}/flip"
    os.makedirs(t, exist_ok=True)
    os.symlink(OUT, t + ".alt")
    fl = Flipper(t, t + ".alt")
    for _ in range(tries(80)):
        if over(t0):
            break
        rc, out, err = pvctl("publish", "rc", t)
        why = crashed(rc, err)
        bad = check_world()
        if rc == 0:
            rc2, _, err2 = pvctl("unpublish", "rc", t)
            why = why or crashed(rc2, err2)
        record(cat, not why and not bad, why or "; ".join(bad), "publish onto a flipping target")
        if bad:
            heal_race(t)
    fl.stop()
    settle_moved("rc", [t, t + ".alt"])
    fl.restore()
    # 2. stage onto a staging path flipped with a link to outside
    pvctl("unstage", "rc")
    s = f"{TARGETS}/sflip"
    os.makedirs(s, exist_ok=True)
    os.symlink(f"{OUT}/dir", s + ".alt")
    fl = Flipper(s, s + ".alt")
    t1 = time.monotonic()
    for _ in range(tries(60)):
        if time.monotonic() - t1 > BUDGET / 3:
            break
        rc, out, err = pvctl("stage", "rc", "--staging-path", s)
        why = crashed(rc, err)
        bad = check_world()
        if rc == 0:
            rc2, _, err2 = pvctl("unstage", "rc", "--staging-path", s)
            why = why or crashed(rc2, err2)
            if rc2 != 0:   # the mount moved with a rename inside the prefix: undo it there
                settle_moved("rc", [s, s + ".alt"], staging=True)
        record(cat, not why and not bad, why or "; ".join(bad), "stage onto a flipping staging path")
        if bad:
            heal_race(s)
    fl.stop()
    settle_moved("rc", [s, s + ".alt"], staging=True)
    fl.restore()
    # 3. unpublish while the target's parent flips with a link to a place where a foreign
    #    mount sits at the same name
    if pvctl("stage", "rc")[0] != 0:
        record(cat, False, "restage failed", "setup")
        return
    pd = f"{TARGETS}/pd"
    os.makedirs(f"{OUT}/pd/u", exist_ok=True)
    if not any(r["mnt"] == f"{OUT}/pd/u" for r in mountinfo()):
        sh("mount", "-t", "tmpfs", "-o", "size=1m", "hostile-foreign", f"{OUT}/pd/u")
        open(f"{OUT}/pd/u/marker", "w").write("foreign\n")
        foreign.append(f"{OUT}/pd/u")
    os.makedirs(f"{pd}/u", exist_ok=True)
    os.symlink(f"{OUT}/pd", pd + ".alt")
    t2 = time.monotonic()
    for _ in range(tries(60)):
        if time.monotonic() - t2 > BUDGET / 3:
            break
        if os.path.islink(pd):
            renameat2_exchange(pd, pd + ".alt")
        rc, _, err = pvctl("publish", "rc", f"{pd}/u")
        if rc != 0:
            record(cat, False, f"publish for the unpublish race: {err.strip()}", "unpublish race setup")
            continue
        fl = Flipper(pd, pd + ".alt", 50)
        rc, out, err = pvctl("unpublish", "rc", f"{pd}/u")
        fl.stop()
        fl.restore()
        why = crashed(rc, err)
        bad = check_world()
        # a refused unpublish (the path was a link at that instant) is fine: retry it now
        rc2, _, err2 = pvctl("unpublish", "rc", f"{pd}/u")
        why = why or crashed(rc2, err2) or (None if rc2 == 0 else f"unpublish after the race: {err2.strip()}")
        bad += check_world(after_recovery=True)
        record(cat, not why and not bad, why or "; ".join(bad), "unpublish while the parent flips")
        if bad:
            heal_race(f"{pd}/u")
    pvctl("unstage", "rc")
    pvctl("delete", "rc")


def settle_moved(vol, paths, staging=False):
    """A rename the kernel let complete moves a just-made mount to the other name inside
    the prefix: take it away there."""
    for p in paths:
        if os.path.ismount(p) and not os.path.islink(p):
            if staging:
                pvctl("unstage", vol, "--staging-path", p)
            else:
                pvctl("unpublish", vol, p)


def heal_race(path):
    for r in sorted(mountinfo(), key=lambda r: -len(r["mnt"])):
        if r["mnt"].startswith(OUT + "/") and r["mnt"] not in foreign:
            subprocess.run(["umount", "-l", r["mnt"]], capture_output=True)
    heal_ancestors()
    heal_foreign()


def heal_ancestors():
    """Mounts an escape stacked over the prefix, the test directory or an ancestor."""
    for m, n in BASE_ANCESTORS.items():
        for _ in range(10):
            if sum(1 for r in mountinfo() if r["mnt"] == m) <= n:
                break
            subprocess.run(["umount", "-l", m], capture_output=True)


def heal_foreign():
    for m in foreign:
        if not any(r["mnt"] == m for r in mountinfo()):
            os.makedirs(m, exist_ok=True)
            sh("mount", "-t", "tmpfs", "-o", "size=1m", "hostile-foreign", m, check=False)
            open(f"{m}/marker", "w").write("foreign\n")


def write_pv(name, cap, extra=None):
    pv = {"name": name, "driver": "file", "capacity": cap, "accessModes": ["RWO"], "fsType": "ext4"}
    pv.update(extra or {})
    path = f"{T}/{name}.json"
    with open(path, "w") as f:
        json.dump(pv, f)
    return path


# ---------------------------------------------------------------- kill-pvctl
def data_ok(target, want):
    try:
        with open(f"{target}/data", "rb") as f:
            return hashlib.md5(f.read()).hexdigest() == want
    except OSError:
        return False


def kill_pvctl():
    cat = "kill-pvctl"
    t0 = time.monotonic()
    t1, t2 = f"{TARGETS}/k1", f"{TARGETS}/k2"
    durations = {}
    cycle = 0
    while cycle < tries(22) and not over(t0):
        cycle += 1
        v = f"k{cycle}"
        want = None
        ops = [("create", ["create", "-f", write_pv(v, "32Mi")]), ("stage", ["stage", v]),
               ("publish", ["publish", v, t1]), ("write", None), ("publish-2", ["publish", v, t2]),
               ("publish-ro", ["publish", v, f"{TARGETS}/k3", "--readonly"]),
               ("unpublish-2", ["unpublish", v, t2]), ("unpublish-ro", ["unpublish", v, f"{TARGETS}/k3"]),
               ("unstage-busy", ["unstage", v]), ("unpublish", ["unpublish", v, t1]),
               ("unstage", ["unstage", v]), ("restage", ["stage", v]), ("unstage-2", ["unstage", v]),
               ("delete", ["delete", v])]
        for op, args in ops:
            if op == "write":
                payload = os.urandom(1 << 20)
                with open(f"{t1}/data", "wb") as f:
                    f.write(payload)
                    f.flush()
                    os.fsync(f.fileno())
                want = hashlib.md5(payload).hexdigest()
                continue
            # 0-30 ms, or a random point of the operation's measured length
            dur = durations.get(op, 30000)
            us = rng.randint(0, 30000) if rng.random() < 0.5 else rng.randint(0, max(1000, dur))
            start = time.monotonic()
            rc, out, err = pvctl(*args, kill_us=us)
            if rc != 137:
                durations[op] = int((time.monotonic() - start) * 1e6)
            why = crashed(rc, err, allowed=(0, 1, 2, 3, 137))
            expect = 3 if op == "unstage-busy" else 0   # refused: still published
            # the retry: what a kubelet or an operator does next
            if not why:
                for attempt in range(60):
                    rc2, out2, err2 = pvctl(*args)
                    if rc2 == 1 and re.search(r"busy|in progress|locked", err2, re.I) and attempt < 59:
                        time.sleep(0.5)
                        continue
                    break
                why = crashed(rc2, err2)
                if not why and op == "delete" and rc2 == 1 and "not in the catalog" in err2:
                    rc2 = 0
                if not why and rc2 != expect:
                    why = f"retry after a kill at {us} us: exit {rc2}: {err2.strip()[:200]}"
            bad = check_world(after_recovery=not why)
            if not why and want and op not in ("unpublish", "unstage", "restage", "unstage-2", "delete") \
                    and not data_ok(t1, want):
                bad.append("the data written through the first target is not intact")
            if not why and op == "delete" and os.path.exists(f"{STATE}/images/{v}.img"):
                bad.append("the image is still there after delete")
            if not why and op == "delete" and loops_under(f"{STATE}/images"):
                bad.append(f"loop devices left: {list(loops_under(STATE + '/images'))}")
            record(cat, not why and not bad, why or "; ".join(bad), f"{op} killed after {us} us (rc {rc})")
            if why or bad:
                heal()
                break
        if op == "delete" and rc != 137:
            pass


# ---------------------------------------------------------------- kill-pvnode
def kill_pvnode():
    cat = "kill-pvnode"
    if not (PVNODE and CSI_CALL):
        return
    d = Daemon(CSTATE)
    d.start()
    t0 = time.monotonic()
    sp, tp = f"{TARGETS}/ks/n", f"{TARGETS}/kp/n"
    cycle = 0
    while cycle < tries(12) and not over(t0):
        cycle += 1
        v = f"n{cycle}"
        calls = [
            ("CreateVolume", [f"name={v}", "capacity_range.required_bytes=33554432",
                              "volume_capabilities[0].mount.fs_type=ext4",
                              "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER", "parameters.driver=file"]),
            ("NodeStageVolume", [f"volume_id={v}", f"staging_target_path={sp}", *csi_cap(), *csi_ctx()]),
            ("NodePublishVolume", [f"volume_id={v}", f"staging_target_path={sp}", f"target_path={tp}", *csi_cap(),
                                   *csi_ctx()]),
            ("NodeUnpublishVolume", [f"volume_id={v}", f"target_path={tp}"]),
            ("NodeUnstageVolume", [f"volume_id={v}", f"staging_target_path={sp}"]),
            ("DeleteVolume", [f"volume_id={v}"]),
        ]
        for method, fields in calls:
            us = rng.randint(0, 30000)
            p = subprocess.Popen([CSI_CALL, d.ep, method, *fields], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env=ENV)
            time.sleep(us / 1e6)
            d.kill()
            p.wait()
            d.start()
            rc, out, err = d.call(method, *fields)
            why = crashed(rc, err, allowed=(0,))
            bad = check_world(after_recovery=not why, state=CSTATE)
            if not why and method == "DeleteVolume" and os.path.exists(f"{CSTATE}/images/{v}.img"):
                bad.append("the image is still there after DeleteVolume")
            if bad and os.environ.get("HOSTILE_DEBUG"):
                print(sh("losetup", "-l").stdout, json.dumps(journals(CSTATE), indent=1)[:3000])
                for dev in loops_under(CSTATE):
                    print(dev, sh("fuser", "-vm", dev, check=False).stderr, [r for r in mountinfo() if r["dev"] == loops_under(CSTATE)[dev][0]])
                    print(sh("sh", "-c", f"grep -l {dev} /proc/*/mountinfo | head; ls -l /proc/*/fd 2>/dev/null | grep {dev}", check=False).stdout)
                print(open(f"{T}/pvnode.log", errors="replace").read()[-3000:])
            record(cat, not why and not bad, why or "; ".join(bad), f"{method}, pvnode killed after {us} us")
            if why or bad:
                heal_csi(d)
                break
    rc = d.stop()
    with open(f"{T}/pvnode.log", errors="replace") as f:
        log = f.read()
    if SANITIZER.search(log):
        record(cat, False, SANITIZER.search(log).group(0), "pvnode log")


def heal_csi(d):
    d.stop()
    for r in sorted(mountinfo(), key=lambda r: -len(r["mnt"])):
        if r["mnt"].startswith(T + "/") and r["mnt"] not in foreign:
            subprocess.run(["umount", "-l", r["mnt"]], capture_output=True)
    for dev in loops_under(CSTATE):
        subprocess.run(["losetup", "-d", dev], capture_output=True)
    shutil.rmtree(f"{CSTATE}/journal", ignore_errors=True)
    heal_ancestors()
    heal_foreign()
    d.start()


# ---------------------------------------------------------------- main
CATEGORIES = [("pv-fuzz", pv_fuzz), ("csi-fuzz", csi_fuzz), ("race", race), ("kill-pvctl", kill_pvctl),
              ("kill-pvnode", kill_pvnode)]


def main():
    print(f"hostile loop: seed {SEED} (HOSTILE_SEED={SEED} to repeat), scale {SCALE}, budget {BUDGET:.0f} s per category")
    print(f"pvctl: {PVCTL}")
    setup()
    t_all = time.monotonic()
    try:
        for name, fn in CATEGORIES:
            if ONLY and name not in ONLY:
                continue
            t0 = time.monotonic()
            # each category draws from its own sequence: one cut short by its time budget
            # does not change what the next one tries
            rng.seed(f"{SEED}:{name}")
            try:
                fn()
            except Exception as e:   # a harness error is a failed try, not a pass
                record(name, False, f"harness: {type(e).__name__}: {e}", "harness")
                try:
                    heal()
                except Exception:
                    pass
            r = results.get(name, {"tries": 0, "held": 0, "failed": 0})
            print(f"{name:12} {r['tries']:4} tries {r['held']:4} held {r['failed']:4} failed  "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)
            for kind, n in sorted(r.get("kinds", {}).items(), key=lambda kv: -kv[1]):
                print(f"    {n:4} x {kind}")
            for ex in r.get("examples", [])[:8]:
                print(f"    e.g. {ex[:400]}")
            if os.environ.get("HOSTILE_DEBUG"):
                print("  csi state after", name, loops_under(CSTATE), json.dumps(journals(CSTATE))[:600])
    finally:
        cleanup()
    total = sum(r["tries"] for r in results.values())
    failed = sum(r["failed"] for r in results.values())
    print(f"hostile loop: {total} tries, {total - failed} held, {failed} failed in {time.monotonic() - t_all:.0f} s")
    if total == 0:
        print("SKIP: nothing ran")
        return 77
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
