#!/usr/bin/env bash
# ensure-host.sh readies this host for make test in one pass: every Debian
# package the tests need (the Docker engine, debootstrap for the image builds,
# Chromium for the browser tests, PostgreSQL for the store's) comes from a
# single apt-get update and install, then the Docker engine is started
# (hack/ensure-docker.sh). The ensure-*.sh scripts it stands in front of still
# work alone: each installs only what it needs when run by itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
say() { printf 'ensure-host: %s\n' "$*" >&2; }

missing=()
need() { command -v "$1" >/dev/null || missing+=("$2"); }
need dockerd docker.io
need debootstrap debootstrap
need tar tar
need chromium chromium
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { say "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"; exit 1; }
	[[ " ${missing[*]} " == *" chromium "* ]] && missing+=(fonts-dejavu-core)
	say "installing ${missing[*]} from Debian"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || say "apt-get update reported errors; trying the install anyway"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		{ say "apt-get install ${missing[*]} failed: check the Debian mirror in /etc/apt/sources.list"; exit 1; }
fi
bash "$root/hack/ensure-docker.sh"
