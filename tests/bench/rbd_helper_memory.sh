#!/bin/bash
# tests/bench/rbd_helper_memory.sh — where an RBD helper's (pvnode-rbd-fuse) memory is,
# per mapping (tests/bench/smaps_breakdown.py: heap, thread stacks, other anonymous
# mappings, each library's text / rodata+relro / data; Rss, Pss, private, anonymous,
# locked), against a private cluster (tests/lib/ceph.sh):
#   idle      one exclusive helper, 3 s after READY
#   io        right after 200 MiB of 1 MiB direct sequential writes (fio QD4 through a
#             loop device on its FUSE file) and 5 s of 4 KiB random writes QD16; VmHWM
#   idle-after  5 s later
#   shared    the first helper's Pss and every helper's Pss with 1, 4 and 10 helpers
#             (library text shared among them)
# Figures, not pass/fail. PVNODE_HELPER_DIR=build tests/bench/rbd_helper_memory.sh (root)
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/ceph.sh"
. "$(dirname "$0")/../lib/rbd.sh"
command -v fio >/dev/null || { echo "SKIP: fio not installed"; exit 77; }
BD="$(dirname "$0")/smaps_breakdown.py"
N=${HELPERS:-10}
ceph_start || fail "ceph_start"
rbd_ctl '"op":"create","image":"v1","size":268435456' >/dev/null || fail "create v1"
for i in $(seq 2 "$N"); do
	rbd_ctl "\"op\":\"create\",\"image\":\"v$i\",\"size\":67108864" >/dev/null || fail "create v$i"
done
st() { awk '/^VmRSS|^RssAnon|^RssFile|^VmHWM/ {printf "%s %d MiB(%d kB)  ", $1, $2/1024, $2}' "/proc/$1/status"; echo; }
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
helper_start v1 --exclusive --node-id a || fail "helper: $HELPER_LINE"
H=$HELPER_PID M=$HELPER_MNT
sleep 3
echo "=== idle"; st "$H"; python3 "$BD" "$H"
dev=$(losetup --direct-io=on -f --show "$M/disk") || fail "losetup"
fio --name=seq --filename="$dev" --rw=write --bs=1M --iodepth=4 --ioengine=libaio --direct=1 \
	--size=200M --output-format=terse --terse-version=3 >"$TESTDIR/fio1" || fail "fio seq"
fio --name=rnd --filename="$dev" --rw=randwrite --bs=4k --iodepth=16 --ioengine=libaio --direct=1 \
	--size=200M --time_based --runtime=5 --output-format=terse --terse-version=3 >"$TESTDIR/fio2" || fail "fio rand"
echo "=== io (seq $(awk -F';' '{printf "%d MiB/s", $48/1024}' "$TESTDIR/fio1"), rand $(awk -F';' '{print $49}' "$TESTDIR/fio2") IOPS)"
st "$H"; python3 "$BD" "$H"
sleep 5
echo "=== idle-after"; st "$H"; python3 "$BD" "$H" --anon
losetup -d "$dev"
pss_all() { local p s=0; for p in "$@"; do s=$((s + $(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup))); done; echo $s; }
pids=("$H")
for n in $( [ "$N" -ge 4 ] && echo 4) $( [ "$N" -gt 1 ] && echo "$N"); do
	while [ ${#pids[@]} -lt "$n" ]; do
		helper_start "v$(( ${#pids[@]} + 1 ))" --exclusive --node-id a || fail "helper: $HELPER_LINE"
		pids+=("$HELPER_PID")
	done
	sleep 3
	echo "=== shared: $n helpers: first helper Pss $(awk '/^Pss:/ {print $2}' /proc/$H/smaps_rollup) kB, all $(pss_all "${pids[@]}") kB, last helper: $(st "${pids[-1]}")"
done
echo "=== last helper, $N running"; python3 "$BD" "${pids[-1]}"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p"; done
