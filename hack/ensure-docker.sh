#!/usr/bin/env bash
# ensure-docker.sh makes a Docker engine reachable for kindlab: it installs Debian's
# docker.io (and debootstrap, which image builds need) when missing, registers the
# capability-clamping runtime wrapper (images/runc-clamp) as dockerd's default runtime
# when this host's capability bounding set lacks something Docker asks for, and starts
# dockerd when none answers. Safe to run again: it does nothing when all is in place.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
wrapper=/usr/local/libexec/kindlab/kindlab-runc
log=/var/log/kindlab-dockerd.log
own_pid=/run/kindlab-dockerd.pid

say() { printf 'ensure-docker: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || { docker info >/dev/null 2>&1 && exit 0; die "not root and no Docker engine answers: run as root or start Docker (sudo systemctl start docker)"; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v tar >/dev/null || missing+=(tar)
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]} from Debian"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || say "apt-get update reported errors; trying the install anyway"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed: check the Debian mirror in /etc/apt/sources.list"
fi

# The wrapper is always built and placed, so node images (which copy it) and dockerd
# agree; it passes the spec through unchanged where nothing is missing.
mkdir -p "$(dirname "$wrapper")"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$wrapper.new" ./images/runc-clamp) ||
	die "building the runtime wrapper failed (is Go installed at /usr/local/go?)"
if ! cmp -s "$wrapper.new" "$wrapper"; then mv "$wrapper.new" "$wrapper"; else rm -f "$wrapper.new"; fi

# Several kind clusters need more inotify instances and watches than Debian's defaults,
# and more PIDs than a small VM's 32768 (each node may use up to 4096, see
# cluster.NodePidsLimit).
for kv in fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512 kernel.pid_max=4194304; do
	key=${kv%=*} want=${kv#*=}
	have=$(sysctl -n "$key" 2>/dev/null || echo 0)
	if [ "$have" -lt "$want" ]; then
		sysctl -qw "$kv" >/dev/null 2>&1 || say "could not raise $key to $want (kindlab doctor will say more)"
	fi
done

capbnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
capfull=$(printf '%016x' $(( (1 << ($(cat /proc/sys/kernel/cap_last_cap) + 1)) - 1 )))
want_daemon_json=""
if [ "$capbnd" != "$capfull" ]; then
	say "capability bounding set $capbnd lacks capabilities ($capfull is full): using $wrapper as the default runtime"
	want_daemon_json=$(printf '{\n  "runtimes": {"kindlab-runc": {"path": "%s"}},\n  "default-runtime": "kindlab-runc"\n}\n' "$wrapper")
fi

mkdir -p /etc/docker
config_changed=""
if [ -n "$want_daemon_json" ]; then
	if [ -f /etc/docker/daemon.json ] && ! grep -q kindlab-runc /etc/docker/daemon.json; then
		die "/etc/docker/daemon.json exists and does not register $wrapper; add {\"runtimes\":{\"kindlab-runc\":{\"path\":\"$wrapper\"}},\"default-runtime\":\"kindlab-runc\"} to it"
	fi
	if [ "$(cat /etc/docker/daemon.json 2>/dev/null)" != "$want_daemon_json" ]; then
		printf '%s' "$want_daemon_json" >/etc/docker/daemon.json
		config_changed=1
	fi
fi

if docker info >/dev/null 2>&1; then
	[ -z "$config_changed" ] && exit 0
	if pid=$(cat /var/run/docker.pid 2>/dev/null) && [ -n "$pid" ]; then
		say "reloading dockerd ($pid) for the new runtime config"
		kill -HUP "$pid"; sleep 1; exit 0
	fi
	die "a Docker engine answers but /etc/docker/daemon.json changed: restart it to pick up the runtime wrapper"
fi

if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	systemctl start docker || die "systemctl start docker failed: see journalctl -u docker"
else
	say "starting dockerd (log: $log)"
	# A stale pid file from a dockerd that died with the last session blocks a new start.
	if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then rm -f /var/run/docker.pid; fi
	setsid nohup dockerd >>"$log" 2>&1 </dev/null &
	# The fault suite restarts only an engine this script started (see
	# restartDockerEngine in server/fault_e2e_test.go), never one it found.
	echo $! >"$own_pid"
fi
for _ in $(seq 1 60); do
	docker info >/dev/null 2>&1 && { say "Docker engine is up"; exit 0; }
	sleep 1
done
tail -n 20 "$log" >&2 || true
die "dockerd did not answer within 60s: see $log"
