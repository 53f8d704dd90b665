#!/usr/bin/env bash
# image_build.sh — builds the Containerfile into localhost/pvnode:VERSION with the first
# usable container engine and checks the image: pvnode and pvctl run from the entry
# point and PATH, the helpers, man pages and completion are where meson installs them
# under /usr, every program pvnode runs is there (mkfs.ext4, mkfs.xfs, resize2fs,
# xfs_growfs, iscsiadm, sg_persist, losetup, fusermount3), no library is missing and no
# compiler or -dev package is left. Prints the image size.
#
# Engines, in order: $PVNODE_CONTAINER_ENGINE, docker (when its daemon answers), podman,
# buildah (Debian packages; as root with vfs storage and chroot isolation, so no
# daemon, no overlay and no network namespace are needed). None usable: exit 77 (skip)
# saying why. Base image: $PVNODE_IMAGE_BASE, else docker.io/library/debian:bookworm-slim
# when a registry answers, else one made here with debootstrap from the Debian mirror
# apt uses (the build stages reach that mirror too). buildah/podman keep their layers in
# $PVNODE_IMAGE_STORAGE (default /var/tmp/pvnode-image-storage), so a rebuild only
# redoes what changed; remove that directory to reclaim the space.
# Suite deploy (slow: minutes the first time); env PVNODE_SOURCE_ROOT.
set -uo pipefail
SRC=${PVNODE_SOURCE_ROOT:?}
VERSION=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$SRC/meson.build" | head -1)
IMAGE=localhost/pvnode:$VERSION
STORAGE=${PVNODE_IMAGE_STORAGE:-/var/tmp/pvnode-image-storage}
RUNROOT=/run/pvnode-image-storage
why=()

usable() { # ENGINE -> 0 and sets ENGINE_CMD when it can build here
	case $1 in
	docker)
		command -v docker >/dev/null || { why+=("docker: not installed"); return 1; }
		timeout 20 docker info >/dev/null 2>&1 || { why+=("docker: the client is installed but no daemon answers"); return 1; }
		ENGINE_CMD=(docker) ;;
	podman | buildah)
		command -v "$1" >/dev/null || { why+=("$1: not installed (Debian: apt-get install $1)"); return 1; }
		[ "$(id -u)" -eq 0 ] || { why+=("$1: not root (rootless needs subuid ranges; not set up here)"); return 1; }
		ENGINE_CMD=("$1" --root "$STORAGE" --runroot "$RUNROOT" --storage-driver vfs)
		timeout 60 "${ENGINE_CMD[@]}" images >/dev/null 2>&1 || { why+=("$1: cannot open its storage in $STORAGE"); return 1; } ;;
	*)
		why+=("$1: not an engine these checks know")
		return 1 ;;
	esac
	ENGINE=$1
}

ENGINE=""
for e in ${PVNODE_CONTAINER_ENGINE:-docker podman buildah}; do
	usable "$e" && break
done
if [ -z "$ENGINE" ]; then
	echo "SKIP: no container engine can build the image here:"
	printf '  %s\n' "${why[@]}"
	exit 77
fi
echo "engine: $ENGINE ($("${ENGINE_CMD[@]}" --version 2>/dev/null | head -1))"

E() { "${ENGINE_CMD[@]}" "$@"; }

# ---- the base image
mirror() { # the Debian mirror apt uses here
	local u
	u=$(sed -n 's/^URIs: *\(\S*\/debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
	[ -n "$u" ] || u=$(sed -n 's/^deb \(\[[^]]*\] \)\?\(\S*\/debian\)\/\? .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -1)
	echo "${u:-http://deb.debian.org/debian}"
}

make_base() { # a bookworm image from debootstrap, as the official one is laid out
	local tag=localhost/pvnode-base:bookworm
	if E inspect --type image "$tag" >/dev/null 2>&1; then
		BASE=$tag
		return 0
	fi
	command -v debootstrap >/dev/null || { echo "SKIP: no registry answers and debootstrap is not installed to make a base image"; exit 77; }
	local m root
	m=$(mirror)
	root=$(mktemp -d /var/tmp/pvnode-base.XXXXXX)
	echo "base: debootstrap --variant=minbase bookworm from $m"
	if ! debootstrap --variant=minbase bookworm "$root/rootfs" "$m" >"$root/debootstrap.log" 2>&1; then
		tail -5 "$root/debootstrap.log"
		rm -rf "$root"
		echo "FAIL: debootstrap could not make a base image"
		exit 1
	fi
	rm -f "$root/rootfs/etc/apt/sources.list"
	cat >"$root/rootfs/etc/apt/sources.list.d/debian.sources" <<-EOF
		Types: deb
		URIs: $m
		Suites: bookworm bookworm-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb
		URIs: ${m%/debian}/debian-security
		Suites: bookworm-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	rm -rf "$root"/rootfs/var/lib/apt/lists/* "$root"/rootfs/var/cache/apt/*.bin \
		"$root"/rootfs/var/cache/apt/archives/*.deb "$root"/rootfs/var/log/*.log
	tar -C "$root/rootfs" --numeric-owner -cf "$root/rootfs.tar" .
	case $ENGINE in
	docker | podman) E import --change 'CMD ["/bin/bash"]' "$root/rootfs.tar" "$tag" >/dev/null ;;
	buildah)
		local c
		c=$(E from scratch) && E add "$c" "$root/rootfs.tar" / >/dev/null &&
			E config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c" &&
			E commit -q "$c" "$tag" >/dev/null
		E rm "$c" >/dev/null ;;
	esac
	rm -rf "$root"
	BASE=$tag
}

BASE=${PVNODE_IMAGE_BASE:-}
if [ -z "$BASE" ]; then
	if timeout 60 "${ENGINE_CMD[@]}" pull -q docker.io/library/debian:bookworm-slim >/dev/null 2>&1; then
		BASE=docker.io/library/debian:bookworm-slim
	else
		echo "base: docker.io is not reachable from here"
		make_base
	fi
fi
echo "base: $BASE"

# ---- build
t0=$(date +%s)
case $ENGINE in
docker) build=(build) ;;
podman) build=(build --isolation chroot --layers) ;;
buildah) build=(bud --isolation chroot --layers) ;;
esac
log=$(mktemp /tmp/pvnode-image-build.XXXXXX)
if ! E "${build[@]}" --build-arg BASE="$BASE" --build-arg JOBS=2 --build-arg VERSION="$VERSION" \
	-t "$IMAGE" -f "$SRC/Containerfile" "$SRC" >"$log" 2>&1; then
	tail -30 "$log"
	rm -f "$log"
	echo "FAIL: the image does not build ($ENGINE)"
	exit 1
fi
grep '^runtime packages:' "$log" | tail -1
echo "built $IMAGE in $(($(date +%s) - t0)) s"

# vfs storage copies every layer whole: drop the cache images of earlier builds (those
# this build neither made nor reused), keep this build's for the next one
if [ "$ENGINE" != docker ]; then
	keep=$(sed -n 's/^--> \(Using cache \)\?\([0-9a-f]\{10,64\}\).*/\2/p' "$log")
	freed=0
	while :; do # removing a leaf can leave its parent dangling: until nothing goes
		n=$freed
		for id in $(E images -a -q --no-trunc --filter dangling=true 2>/dev/null); do
			id=${id#sha256:}
			used=0
			for k in $keep; do [[ $id == "$k"* ]] && used=1 && break; done
			((used)) || { E rmi "$id" >/dev/null 2>&1 && freed=$((freed + 1)); }
		done
		[ "$freed" -eq "$n" ] && break
	done
	[ "$freed" -gt 0 ] && echo "removed $freed cache images of earlier builds"
fi
rm -f "$log"

# ---- checks inside the image
fails=0
inside() { # run a shell script in the image
	case $ENGINE in
	docker | podman) E run --rm --entrypoint /bin/sh "$IMAGE" -c "$1" ;;
	buildah)
		local c r
		c=$(E from "$IMAGE") || return 1
		E run --isolation chroot "$c" -- /bin/sh -c "$1"
		r=$?
		E rm "$c" >/dev/null
		return $r ;;
	esac
}
checks=$(
	cat <<EOF
set -u
fail() { echo "FAIL: \$*"; n=\$((n + 1)); }
n=0
out=\$(/usr/bin/tini -s -- /usr/sbin/pvnode --version) && case "\$out" in "pvnode $VERSION "*|"pvnode $VERSION") ;; *) false ;; esac || fail "entry point: \$out"
pvctl --version | grep -q "drivers: file, nfs, iscsi, rbd" || fail "pvctl --version: \$(pvctl --version)"
for f in /usr/sbin/pvctl /usr/sbin/pvnode /usr/libexec/pvnode/pvctl-csi /usr/libexec/pvnode/pvnode-nfs-fuse \
	/usr/libexec/pvnode/pvnode-iscsi-fuse /usr/libexec/pvnode/pvnode-rbd /usr/libexec/pvnode/pvnode-rbd-fuse \
	/usr/share/man/man8/pvctl.8 /usr/share/man/man8/pvnode.8 \
	/usr/share/bash-completion/completions/pvctl; do
	[ -e "\$f" ] || fail "\$f is missing"
done
for p in mkfs.ext4 mkfs.xfs resize2fs xfs_growfs iscsiadm sg_persist losetup blkid mount fusermount3; do
	command -v "\$p" >/dev/null || fail "\$p is missing"
done
for f in /usr/sbin/pvctl /usr/sbin/pvnode /usr/libexec/pvnode/*; do
	ldd "\$f" | grep -q "not found" && fail "\$f: \$(ldd "\$f" | grep "not found")"
done
command -v gcc >/dev/null && fail "a compiler is in the run image"
dev=\$(dpkg-query -W -f '\${Package}\n' | grep -- '-dev\$')
[ -z "\$dev" ] || fail "-dev packages in the run image: \$dev"
echo "installed packages: \$(dpkg-query -W -f '.\n' | wc -l)"
exit \$n
EOF
)
if ! inside "$checks"; then
	fails=1
fi

size=$(E images --format '{{.Size}}' "$IMAGE" | head -1)
arch=$(mktemp -u /var/tmp/pvnode-image.XXXXXX.tar)
case $ENGINE in
docker) E save "$IMAGE" | gzip -6 >"$arch" ;;
podman | buildah) E push -q "$IMAGE" "oci-archive:$arch" >/dev/null 2>&1 ;;
esac
packed=$([ -s "$arch" ] && echo "$(($(stat -c %s "$arch") / 1000000)) MB" || echo "?")
rm -f "$arch"
echo "image size: $size unpacked, $packed compressed as pushed (base $BASE)"
case $ENGINE in
podman | buildah) echo "layers kept in $STORAGE ($(du -sh "$STORAGE" 2>/dev/null | cut -f1)); rm -rf it to reclaim the space" ;;
esac
[ "$fails" -eq 0 ] || { echo "FAIL: the image is not right"; exit 1; }
echo "image $IMAGE is right"
