#!/usr/bin/env bash
# Installs the servers the tests start themselves: s3s-fs 0.14.1 (an S3-protocol server on a local
# folder, tests/common/s3.rs) into a cached root, skipped when that version is already there.
# Override the location with VRENDER_TOOLS (default ~/.cache/vrender-tools); tests find the binary
# through S3S_FS_BIN, then that root, then PATH.
set -euo pipefail
root="${VRENDER_TOOLS:-$HOME/.cache/vrender-tools}"
want="s3s-fs 0.14.1"
if [ -x "$root/bin/s3s-fs" ] && "$root/bin/s3s-fs" --version 2>/dev/null | grep -q "^$want\$"; then
  exit 0
fi
echo "installing $want into $root"
cargo install --root "$root" s3s-fs@0.14.1 --locked --features binary
