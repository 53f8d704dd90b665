#!/bin/bash
# tests/nfs/nfs_coherence.sh — close-to-open coherence of the userspace mounter's
# write-behind and readahead, against a real nfs-ganesha, with two helpers ("nodes") on
# the same volume:
#   - rounds of random files: one node writes (random sizes and offsets, unaligned, with
#     and without O_TRUNC, sometimes a truncate) and closes, the other, which had the
#     previous version in its caches (stat and read just before), opens and must read
#     exactly what was written (length and SHA-256 against a model kept in memory);
#   - a write whose RPCs cannot reach the server (server stopped) is reported by fsync or
#     close, never lost silently; the mount works again once the server is back;
#   - a server restart between UNSTABLE writes and the COMMIT (write verifier changed)
#     is reported by fsync as EIO.
# NFS_COHERENCE_ROUNDS (default 40) and NFS_COHERENCE_SEED (default: the PID, printed on
# failure) replay a run.
# The PV asks for a 2 s RPC timeout (mountOptions timeo=20).
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

nfs_two_nodes co '"mountOptions": ["timeo=20"],'
[ "$(pgrep -fc "pvnode-nfs-fuse .*--mountpoint $T/")" = 2 ] || nfs_fail "want two helpers (one per node)"

cat >"$T/rounds.py" <<'PY'
import hashlib, os, random, sys
a, b, rounds, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
MiB = 1 << 20
models = {}
def check(path, want, what):
    fd = os.open(path, os.O_RDONLY)
    got = bytearray()
    while True:
        chunk = os.read(fd, rng.choice([4096, 65536, MiB, 3 * MiB + 5]))
        if not chunk:
            break
        got += chunk
    os.close(fd)
    if len(got) != len(want) or hashlib.sha256(got).digest() != hashlib.sha256(want).digest():
        first = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), min(len(got), len(want)))
        st = os.stat(path)
        sys.exit(f"FAIL: {what}: read {len(got)} bytes, wrote {len(want)}; first difference at {first} "
                 f"(now size {st.st_size} mtime {st.st_mtime_ns} ctime {st.st_ctime_ns})")
for r in range(rounds):
    name = f"f{rng.randrange(4)}"
    w, rd = (a, b) if rng.random() < 0.5 else (b, a)
    model = models.get(name, bytearray())
    if os.path.exists(os.path.join(rd, name)):
        os.stat(os.path.join(rd, name))       # the reader's attributes and pages are
        check(os.path.join(rd, name), model, f"round {r}: {name} before the rewrite")  # cached
    trunc = rng.random() < 0.3
    fd = os.open(os.path.join(w, name), os.O_RDWR | os.O_CREAT | (os.O_TRUNC if trunc else 0), 0o644)
    if trunc:
        model = bytearray()
    for _ in range(rng.randrange(1, 12)):
        size = rng.choice([1, 17, 4096, 65536, MiB - 1, MiB, MiB + 4097, 3 * MiB])
        off = rng.choice([len(model), rng.randrange(0, 12 * MiB), rng.randrange(0, 64) * 4096])
        data = rng.randbytes(size)
        os.pwrite(fd, data, off)
        if off > len(model):
            model += bytes(off - len(model))
        model[off:off + size] = data
    if rng.random() < 0.15:
        n = rng.randrange(0, len(model) + MiB)
        os.ftruncate(fd, n)
        model = model[:n] + bytes(max(0, n - len(model)))
    os.close(fd)                               # close-to-open: all of it on the server now
    models[name] = model
    check(os.path.join(rd, name), model, f"round {r}: {name} written on {w}, read on {rd}")
    if rng.random() < 0.3:                     # and the writer's own view
        check(os.path.join(w, name), model, f"round {r}: {name} read back on the writer")
print(f"{rounds} rounds, files {sorted(models)}")
PY
out=$(python3 "$T/rounds.py" "$t1" "$t2" "${NFS_COHERENCE_ROUNDS:-40}" "${NFS_COHERENCE_SEED:-$$}" 2>&1) ||
	nfs_fail "coherence: $out (seed ${NFS_COHERENCE_SEED:-$$})"
nfs_ok "close-to-open across two helpers: $out"

# Write-behind errors are never lost: the writes' RPCs fail (server stopped), so fsync or
# close must fail; a write() itself may succeed (it was queued).
cat >"$T/lost.py" <<'PY'
import errno, os, sys
path, step = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
if step == "restart":
    # UNSTABLE writes answered by one server instance, COMMIT by the next one
    for i in range(4):
        os.pwrite(fd, bytes([i + 1]) * (1 << 20), i << 20)
    os.fstat(fd)                                 # waits for the writes' replies
    sys.stdout.write("written\n"); sys.stdout.flush()
    sys.stdin.readline()                         # the server restarts meanwhile
else:
    sys.stdout.write("open\n"); sys.stdout.flush()
    sys.stdin.readline()                         # the server stops meanwhile
errors = []
try:
    if step != "restart":
        for i in range(4):
            os.pwrite(fd, bytes([i + 1]) * (1 << 20), i << 20)
except OSError as e:
    errors.append(f"write: {os.strerror(e.errno)}")
try:
    os.fsync(fd)
except OSError as e:
    errors.append(f"fsync: {os.strerror(e.errno)}")
try:
    os.close(fd)
except OSError as e:
    errors.append(f"close: {os.strerror(e.errno)}")
print("; ".join(errors) if errors else "NO ERROR")
PY
# writer STEP FILE: start lost.py in the background, talking over two fifos (fd 7: to it,
# fd 8: from it).
writer() {
	rm -f "$T/to" "$T/from"
	mkfifo "$T/to" "$T/from"
	python3 -u "$T/lost.py" "$2" "$1" <"$T/to" >"$T/from" 2>&1 &
	WPID=$!
	NFS_TEST_PIDS="${NFS_TEST_PIDS:-} $WPID"
	exec 7>"$T/to" 8<"$T/from"
}
writer_done() { exec 7>&- 8<&-; wait "$WPID" 2>/dev/null || true; }

writer stop "$t1/lost"
read -r -t 30 line <&8 && [ "$line" = open ] || nfs_fail "writer did not open: $line $(timeout 2 cat <&8)"
nfs_server_stop || nfs_fail "cannot stop ganesha"
echo go >&7
read -r -t 60 line <&8 || nfs_fail "the writer hung with the server down"
writer_done
case $line in
"NO ERROR"*) nfs_fail "writes that never reached the server were reported as done" ;;
*fsync:*) nfs_ok "server down: the write-behind error surfaces ($line)" ;;
*) nfs_fail "fsync did not report the failed writes: $line" ;;
esac
nfs_server_start || nfs_fail "cannot restart ganesha"
ok=
for _ in $(seq 40); do
	if dd if=/dev/urandom of="$T/after" bs=1M count=3 status=none && cp "$T/after" "$t1/after" 2>/dev/null &&
		cmp -s "$T/after" "$t2/after"; then ok=1; break; fi
	sleep 0.25
done
[ -n "$ok" ] || nfs_fail "the mount did not recover after the server came back"
nfs_ok "server back: writes through node-1 reach node-2 again"

# A restart between WRITE and COMMIT: ganesha's write verifier is its boot time, so the
# restart is at least a second apart.
writer restart "$t1/lost2"
read -r -t 30 line <&8 && [ "$line" = written ] || nfs_fail "writer did not write: $line $(timeout 2 cat <&8)"
nfs_server_stop || nfs_fail "cannot stop ganesha"
sleep 1.1
nfs_server_start || nfs_fail "cannot restart ganesha"
echo go >&7
read -r -t 60 line <&8 || nfs_fail "the writer hung after the restart"
writer_done
case $line in
*fsync:*"Input/output error"*) nfs_ok "server restarted before COMMIT: fsync reports EIO ($line)" ;;
*) nfs_fail "a restart between WRITE and COMMIT went unreported: $line" ;;
esac

for n in 1 2; do
	_pv_node $n unpublish co "$T/targets/n$n" >/dev/null && _pv_node $n unstage co >/dev/null ||
		nfs_fail "teardown on node-$n"
done
echo PASS
