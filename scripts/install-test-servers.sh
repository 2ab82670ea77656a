#!/usr/bin/env bash
# Installs what the tests start themselves, each skipped when already there:
# - s3s-fs 0.14.1 (an S3-protocol server on a local folder, tests/common/s3.rs) into a cached root;
# - the Studio's browser test (service/tests/studio_browser.rs): Debian's chromium and chromium-driver,
#   and selenium (PyPI) in a Python venv under that root (the test runs service/tests/browser/studio.py
#   with its python).
# Override the location with VRENDER_TOOLS (default ~/.cache/vrender-tools); tests find s3s-fs
# through S3S_FS_BIN, then that root, then PATH.
set -euo pipefail
root="${VRENDER_TOOLS:-$HOME/.cache/vrender-tools}"

packages=(chromium chromium-driver python3 python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv="$root/browser-venv"
selenium="selenium==4.27.1"
if ! "$venv/bin/python" -c 'import selenium, sys; sys.exit(selenium.__version__ != "4.27.1")' 2>/dev/null; then
  echo "installing $selenium into $venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$selenium"
fi

want="s3s-fs 0.14.1"
if [ -x "$root/bin/s3s-fs" ] && "$root/bin/s3s-fs" --version 2>/dev/null | grep -q "^$want\$"; then
  exit 0
fi
echo "installing $want into $root"
# Optimised lightly (opt-level 1): it serves the tests' small objects, and `make test` builds it beside
# the project, on the same cores (issue 25).
CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo install --root "$root" s3s-fs@0.14.1 --locked --features binary
