#!/usr/bin/env bash
# The same lifecycle on xfs (mkfs.xfs needs at least 300 MiB).
export FS=xfs CAP=512Mi
exec "$(dirname "$0")/lifecycle_ext4.sh"
