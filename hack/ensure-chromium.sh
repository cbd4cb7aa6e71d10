#!/usr/bin/env bash
# ensure-chromium.sh installs Debian's chromium for the browser end-to-end tests.
set -euo pipefail
command -v chromium >/dev/null && exit 0
[ "$(id -u)" = 0 ] || { echo "ensure-chromium: chromium is missing; install it: apt-get install chromium" >&2; exit 1; }
echo "ensure-chromium: installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || echo "ensure-chromium: apt-get update reported errors; trying the install anyway" >&2
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium >/dev/null || { echo "ensure-chromium: chromium did not install" >&2; exit 1; }
