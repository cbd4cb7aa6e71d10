#!/usr/bin/env bash
# ensure-postgres.sh starts a PostgreSQL server for kindlab's tests (Debian's
# package, installed when missing) on 127.0.0.1 and prints its URL. The server
# belongs to the tests alone: its own data folder, its own port, trust
# authentication on loopback, no fsync. Running it again while it answers only
# prints the URL.
#
#   hack/ensure-postgres.sh [DATA_DIR [PORT]]
set -euo pipefail
dir=${1:-${TMPDIR:-/tmp}/kindlab-postgres}
port=${2:-55432}
url="postgres://kindlab@127.0.0.1:$port/kindlab?sslmode=disable"
log() { echo "ensure-postgres: $*" >&2; }

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
	[ "$(id -u)" = 0 ] || { log "PostgreSQL is missing; install it: apt-get install postgresql"; exit 1; }
	log "installing Debian's postgresql"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || log "apt-get update reported errors; trying the install anyway"
	apt-get install -y -qq --no-install-recommends postgresql >/dev/null
	bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

# PostgreSQL refuses to run as root: root runs it as the postgres user.
as_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
	echo "$url"
	exit 0
fi
if [ ! -s "$dir/PG_VERSION" ]; then
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	chmod 700 "$dir"
	as_owner "$bin/initdb" -D "$dir" -U kindlab -A trust -E UTF8 --no-sync >/dev/null
fi
as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
	-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=300" start >/dev/null ||
	{ log "the server did not start; its log:"; tail -20 "$dir/server.log" >&2; exit 1; }
"$bin/psql" -q -h 127.0.0.1 -p "$port" -U kindlab -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'kindlab'" | grep -q 1 ||
	"$bin/createdb" -h 127.0.0.1 -p "$port" -U kindlab kindlab
log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)"
echo "$url"
