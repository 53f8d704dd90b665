#!/bin/sh
# gen-proto.sh PROTOC_C PROTO OUTDIR — generate the protobuf-c code of csi.proto and of
# the google/protobuf wrappers, timestamp and descriptor it imports (copies in /usr/include, from
# libprotobuf-dev), flattened into OUTDIR so meson can name every output.
set -eu
protoc_c=$1; proto=$2; out=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
inc=/usr/include
[ -f "$inc/google/protobuf/wrappers.proto" ] || { echo "gen-proto: $inc/google/protobuf/wrappers.proto missing (apt-get install libprotobuf-dev)" >&2; exit 1; }
"$protoc_c" -I"$(dirname "$proto")" -I"$inc" --c_out="$tmp" "$proto" \
	google/protobuf/wrappers.proto google/protobuf/timestamp.proto google/protobuf/descriptor.proto
for f in csi.pb-c.c csi.pb-c.h google/protobuf/wrappers.pb-c.c google/protobuf/wrappers.pb-c.h \
	google/protobuf/timestamp.pb-c.c google/protobuf/timestamp.pb-c.h \
	google/protobuf/descriptor.pb-c.h; do
	sed 's|#include "google/protobuf/|#include "|' "$tmp/$f" > "$out/$(basename "$f")"
done
