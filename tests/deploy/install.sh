#!/usr/bin/env bash
# install.sh — "meson install --destdir" into a temporary directory puts exactly the
# programs, helpers, man pages and completion where Debian expects them below the
# prefix (/usr: /usr/sbin, /usr/libexec/pvnode, /usr/share/man/man8,
# /usr/share/bash-completion/completions), with the right modes, and they work from
# there: the programs run, the man pages render, and systemd-analyze verify accepts
# examples/systemd/pvnode.service against the installed pvnode and man pages.
# Suite deploy; env PVNODE_SOURCE_ROOT, PVNODE_BUILD_ROOT.
set -euo pipefail
SRC=${PVNODE_SOURCE_ROOT:?}
BUILD=${PVNODE_BUILD_ROOT:?}
DEST=$(mktemp -d /tmp/pvnode-install.XXXXXX)
trap 'rm -rf "$DEST"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

meson install -C "$BUILD" --destdir "$DEST" --no-rebuild --quiet

opt() { # the value of a build option, e.g. prefix, sbindir
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1" \
		< <(meson introspect "$BUILD" --buildoptions)
}
under() { case $2 in /*) echo "$2" ;; *) echo "$1/$2" ;; esac; }
PREFIX=$(opt prefix)
SBIN=$(under "$PREFIX" "$(opt sbindir)")
LIBEXEC=$(under "$PREFIX" "$(opt libexecdir)")/pvnode
MAN8=$(under "$PREFIX" "$(opt mandir)")/man8
DATA=$(under "$PREFIX" "$(opt datadir)")
if COMPDIR=$(pkg-config --define-variable=datadir="$DATA" --variable=completionsdir bash-completion 2>/dev/null) && [ -n "$COMPDIR" ]; then
	:
else
	COMPDIR=$DATA/bash-completion/completions
fi
echo "prefix $PREFIX: programs $SBIN, helpers $LIBEXEC, man $MAN8, completion $COMPDIR"

# what must be there: always pvctl, the man pages and the completion; the others when built
want=("$SBIN/pvctl 755" "$MAN8/pvctl.8 644" "$MAN8/pvnode.8 644" "$COMPDIR/pvctl 644" "$COMPDIR/pvnode 644")
[ -x "$BUILD/pvnode" ] && want+=("$SBIN/pvnode 755" "$LIBEXEC/pvctl-csi 755")
[ -x "$BUILD/pvnode-nfs-fuse" ] && want+=("$LIBEXEC/pvnode-nfs-fuse 755")
[ -x "$BUILD/pvnode-iscsi-fuse" ] && want+=("$LIBEXEC/pvnode-iscsi-fuse 755")
[ -x "$BUILD/pvnode-rbd-fuse" ] && want+=("$LIBEXEC/pvnode-rbd 755" "$LIBEXEC/pvnode-rbd-fuse 755")

expected=$(for w in "${want[@]}"; do echo "${w% *}"; done | sort)
got=$(cd "$DEST" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort)
if [ "$expected" != "$got" ]; then
	fail "installed files differ from the expected list:"
	diff <(echo "$expected") <(echo "$got") | sed 's/^/    /' || true
fi
for w in "${want[@]}"; do
	f=$DEST${w% *}
	[ -e "$f" ] || continue
	mode=$(stat -c %a "$f")
	[ "$mode" = "${w##* }" ] || fail "${w% *} has mode $mode, expected ${w##* }"
done
case $PREFIX in
/usr) echo "prefix /usr: Debian's own paths checked" ;;
*) echo "note: prefix $PREFIX; with --prefix=/usr the same layout lands in /usr/sbin, /usr/libexec/pvnode, /usr/share (the image build does that)" ;;
esac

# they work from there
"$DEST$SBIN/pvctl" --version >/dev/null || fail "installed pvctl does not run"
if [ -x "$DEST$SBIN/pvnode" ]; then
	"$DEST$SBIN/pvnode" --version >/dev/null || fail "installed pvnode does not run"
fi
if command -v man >/dev/null; then
	for p in pvctl pvnode; do
		out=$(MANWIDTH=80 man --warnings -l "$DEST$MAN8/$p.8" 2>&1 >/dev/null) || fail "man -l $p.8 failed"
		[ -z "$out" ] || fail "man $p.8 warns: $out"
		MANPATH=$DEST$(under "$PREFIX" "$(opt mandir)") man -w "$p" >/dev/null 2>&1 ||
			fail "man does not find $p(8) in the installed mandir"
	done
fi
bash -n "$DEST$COMPDIR/pvctl" || fail "the installed completion does not parse"
grep -q 'complete -F _pvnode pvnode' "$DEST$COMPDIR/pvnode" || fail "completions/pvnode does not complete pvnode"

if command -v systemd-analyze >/dev/null && [ -x "$DEST$SBIN/pvnode" ]; then
	unit=$DEST/pvnode.service
	sed "s|^ExecStart=/usr/sbin/pvnode|ExecStart=$DEST$SBIN/pvnode|" "$SRC/examples/systemd/pvnode.service" >"$unit"
	grep -q "^ExecStart=/usr/sbin/pvnode" "$SRC/examples/systemd/pvnode.service" ||
		fail "pvnode.service does not start /usr/sbin/pvnode (where a /usr install puts it)"
	cp "$SRC/examples/systemd/pvnode.socket" "$DEST/pvnode.socket"
	if ! out=$(MANPATH=$DEST$(under "$PREFIX" "$(opt mandir)") systemd-analyze verify "$unit" "$DEST/pvnode.socket" 2>&1); then
		fail "systemd-analyze verify pvnode.service pvnode.socket: $out"
	elif [ -n "$out" ]; then
		fail "systemd-analyze verify pvnode.service pvnode.socket warns: $out"
	else
		echo "systemd-analyze verify: pvnode.service and pvnode.socket are clean"
	fi
else
	echo "note: systemd-analyze or pvnode missing: the unit file is not verified"
fi

[ "$fails" -eq 0 ] || { echo "$fails problem(s)"; exit 1; }
echo "installed: $(echo "$got" | wc -l) files, all where expected"
