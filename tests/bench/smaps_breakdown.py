#!/usr/bin/env python3
"""tests/bench/smaps_breakdown.py PID — one process's memory per mapping kind, in KiB:
Rss, Pss, Private (clean+dirty), Anonymous, per group: [heap], thread stacks (the
anonymous mapping holding a thread's stack pointer, from /proc/PID/task/*/syscall),
other anonymous mappings (glibc arenas, mmap'd buffers), and each file's text (r-x),
read-only data and relro (r--) and data (rw-). Refd: pages accessed since the last
`echo 1 > /proc/PID/clear_refs`; measured on the RBD helper it stays ~= Rss (its pages are
mlocked), so it is no working-set measure there. Figures, not pass/fail."""
import os, re, sys, collections

pid = sys.argv[1]
sps = []
for tid in os.listdir(f"/proc/{pid}/task"):
    try:
        f = open(f"/proc/{pid}/task/{tid}/syscall").read().split()
        if len(f) >= 3 and f[0] != "running":
            sps.append(int(f[-2], 16))
    except OSError:
        pass
groups = collections.OrderedDict()
cur = None
anon_list = []
head = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")
for line in open(f"/proc/{pid}/smaps"):
    m = head.match(line)
    if m:
        lo, hi, perms, name = int(m[1], 16), int(m[2], 16), m[3], m[4].strip()
        if name == "":
            kind = "thread stacks" if any(lo <= s < hi for s in sps) else "anon (arenas, mmap)"
        elif name.startswith("["):
            kind = name
        else:
            base = os.path.basename(name).split(".so")[0]
            part = {"r-xp": "text", "r--p": "rodata+relro", "rw-p": "data"}.get(perms, perms)
            kind = f"{base} {part}"
        if kind.startswith("anon") and "--anon" in sys.argv and cur is not None:
            pass
        cur = groups.setdefault(kind, collections.Counter())
        if kind.startswith("anon") and "--anon" in sys.argv:
            anon_list.append([hi - lo, 0])
        cur["n"] += 1
        cur["size"] += (hi - lo) // 1024
        continue
    k, _, v = line.partition(":")
    if k == "Rss" and "--anon" in sys.argv and m is None and kind.startswith("anon") and anon_list and anon_list[-1][1] == 0 and (hi - lo) == anon_list[-1][0]:
        anon_list[-1][1] = int(v.split()[0])
    if k in ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Anonymous", "Locked", "Referenced") and cur is not None:
        cur[k] += int(v.split()[0])
tot = collections.Counter()
print(f"{'mapping':38} {'n':>3} {'Rss':>7} {'Pss':>7} {'Priv':>7} {'Anon':>7} {'Lockd':>7} {'Refd':>7}")
for kind, c in sorted(groups.items(), key=lambda kv: -kv[1]["Rss"]):
    priv = c["Private_Clean"] + c["Private_Dirty"]
    for k in ("Rss", "Pss", "Anonymous", "Locked", "Referenced"):
        tot[k] += c[k]
    tot["priv"] += priv
    if c["Rss"] >= 64 or "--all" in sys.argv:
        print(f"{kind[:38]:38} {c['n']:3} {c['Rss']:7} {c['Pss']:7} {priv:7} {c['Anonymous']:7} {c['Locked']:7} {c['Referenced']:7}")
print(f"{'total':38} {'':3} {tot['Rss']:7} {tot['Pss']:7} {tot['priv']:7} {tot['Anonymous']:7} {tot['Locked']:7} {tot['Referenced']:7}")
if anon_list:
    print("anon mappings (KiB size:rss):", " ".join(f"{a // 1024}:{r}" for a, r in anon_list if r))
print(f"threads {len(os.listdir(f'/proc/{pid}/task'))}")
