#!/bin/bash
# tests/bench/nfs_helper_memory.sh — where a userspace NFS helper's (pvnode-nfs-fuse)
# memory is, per mapping (tests/bench/smaps_breakdown.py: heap, thread stacks, other
# anonymous mappings such as malloc arenas, each library's pages), against a loopback
# nfs-ganesha (tests/lib/nfs.sh), one volume staged and published with pvctl:
#   idle        2 s after publish
#   write       NFS_MEM_MB (default 256) MiB of 1 MiB dd + fsync; VmRSS sampled every
#               0.1 s (highest shown) and VmHWM
#   idle-after  2 s later (the helper releases its buffers after a quiet second)
#   read        the file read back cold (1 MiB dd), same sampling
#   idle-after  2 s later, with each anonymous mapping's size:resident
# and the helper's threads. Figures, not pass/fail.
#   PVCTL=build/pvctl PVNODE_HELPER_DIR=build tests/bench/nfs_helper_memory.sh   (root)
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"
BD="$(dirname "$0")/smaps_breakdown.py"
MB=${NFS_MEM_MB:-256}
st() {
	awk '/^VmRSS|^RssAnon|^RssFile|^VmHWM|^Threads/ {printf "%s %d kB  ", $1, $2}' "/proc/$1/status"
	echo
}
# sample PID CMD...: run CMD, print the highest VmRSS seen while it ran
sample() {
	local pid=$1 max=0 r c
	shift
	"$@" &
	c=$!
	while kill -0 "$c" 2>/dev/null; do
		r=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
		[ "$r" -gt "$max" ] && max=$r
		sleep 0.1
	done
	wait "$c"
	echo "highest VmRSS sampled: $max kB"
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
nfs_volume_up mem
H=$NFS_HELPER_PID
sleep 2
echo "=== idle"; st "$H"; python3 "$BD" "$H"
echo "=== write $MB MiB (1 MiB dd, fsync)"
sample "$H" dd if=/dev/zero of="$T/targets/mem/f" bs=1M count="$MB" conv=fsync status=none
st "$H"
sleep 2
echo "=== idle after the write"; st "$H"; python3 "$BD" "$H" --anon
sync; echo 3 >/proc/sys/vm/drop_caches
echo "=== read $MB MiB back (cold, 1 MiB dd)"
sample "$H" dd if="$T/targets/mem/f" of=/dev/null bs=1M status=none
st "$H"
sleep 2
echo "=== idle after the read"; st "$H"; python3 "$BD" "$H" --anon
echo "threads:"
for t in /proc/"$H"/task/*; do
	printf '  %s %s\n' "$(cat "$t/comm")" "$(awk '{print $1}' "$t/syscall" 2>/dev/null)"
done | sort | uniq -c
rm -f "$T/targets/mem/f"
pv1 unpublish mem "$T/targets/mem" >/dev/null && pv1 unstage mem >/dev/null || nfs_fail "teardown"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
