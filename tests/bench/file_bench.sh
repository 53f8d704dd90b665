#!/usr/bin/env bash
# Benchmarks of the node engine with the `file` driver (prints figures; not a timed test).
#  1. stage and publish latency, median and p99 over N cycles (default 50);
#  2. SELinux labelling cost: publish of a volume holding 100,000 files vs an empty
#     one (labelling touches only the root, so the ratio should stay near 1), and a
#     recursive relabel of the same 100,000 files for comparison.
#   usage: tests/bench/file_bench.sh [cycles]    (uses build/pvctl, a release build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PVCTL=${PVCTL:-$here/../../build/pvctl}
. "$here/../lib/common.sh"
trap - EXIT; trap 'cleanup' EXIT   # common.sh's cleanup prints PASS/FAIL; fine for a bench
N=${1:-50}
ms() { echo $(( ($(date +%s%N) - $1) / 1000 )); }   # microseconds since $1 (ns)
stats() { sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; p=a[int(NR*0.99+0.999)]; if(p=="")p=a[NR]; printf "median %.2f ms, p99 %.2f ms (n=%d)\n", m/1000, p/1000, NR}'; }

pvctl create -f "$(mkpv lat file 64Mi RWO)" >/dev/null
pvctl stage lat >/dev/null; pvctl unstage lat >/dev/null   # format once
: >"$TESTDIR/stage.us"; : >"$TESTDIR/publish.us"
for i in $(seq "$N"); do
	t=$(date +%s%N); pvctl stage lat >/dev/null; ms "$t" >>"$TESTDIR/stage.us"
	t=$(date +%s%N); pvctl publish lat "$TESTDIR/targets/p" >/dev/null; ms "$t" >>"$TESTDIR/publish.us"
	pvctl unpublish lat "$TESTDIR/targets/p" >/dev/null
	pvctl unstage lat >/dev/null
done
echo "file driver, $N cycles (each a pvctl process: exec + catalog + journal + lock + mounts)"
echo "  stage   (loop attach + blkid + mount): $(stats <"$TESTDIR/stage.us")"
echo "  publish (bind mount + journal):        $(stats <"$TESTDIR/publish.us")"

pvctl create -f "$(mkpv empty file 2Gi RWO)" >/dev/null
pvctl create -f "$(mkpv full file 2Gi RWO)" >/dev/null
pvctl stage empty >/dev/null; pvctl stage full >/dev/null
echo "  creating 100,000 files..."
python3 - "$PVNODE_STATE_DIR/staging/full" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    p = os.path.join(root, f"d{d:03d}"); os.mkdir(p)
    for f in range(1000):
        open(os.path.join(p, f"f{f:04d}"), "w").close()
PY
sync
pub() { # volume target level -> microseconds
	local t=$(date +%s%N); pvctl --selinux on publish "$1" "$2" --selinux-level "$3" ${4:-} >/dev/null; ms "$t"
}
: >"$TESTDIR/e.us"; : >"$TESTDIR/f.us"
for i in $(seq 10); do
	c=$((i % 100)); lvl="s0:c$c,c$((c + 200))"
	pub empty "$TESTDIR/targets/e" "$lvl" >>"$TESTDIR/e.us"; pvctl unpublish empty "$TESTDIR/targets/e" >/dev/null
	pub full "$TESTDIR/targets/f" "$lvl" >>"$TESTDIR/f.us"; pvctl unpublish full "$TESTDIR/targets/f" >/dev/null
done
e=$(sort -n "$TESTDIR/e.us" | sed -n 5p); f=$(sort -n "$TESTDIR/f.us" | sed -n 5p)
echo "SELinux label at publish (--selinux on, a new level each time, median of 10):"
echo "  empty volume:        $(awk -v x="$e" 'BEGIN{printf "%.2f ms", x/1000}')"
echo "  100,000 files:       $(awk -v x="$f" 'BEGIN{printf "%.2f ms", x/1000}')"
echo "  ratio full/empty:    $(awk -v a="$f" -v b="$e" 'BEGIN{printf "%.2f", a/b}')"
r=$(pub full "$TESTDIR/targets/r" s0:c11,c12 --relabel)
echo "  recursive relabel of 100,000 files (--relabel): $(awk -v x="$r" 'BEGIN{printf "%.0f ms", x/1000}') ($(awk -v a="$r" -v b="$f" 'BEGIN{printf "%.0f", a/b}')x the O(1) publish)"
pvctl unpublish full "$TESTDIR/targets/r" >/dev/null
r2=$(pub full "$TESTDIR/targets/r" s0:c11,c12 --relabel)
echo "  same relabel again (root already labelled, skipped): $(awk -v x="$r2" 'BEGIN{printf "%.2f ms", x/1000}')"
