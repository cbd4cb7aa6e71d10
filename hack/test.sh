#!/usr/bin/env bash
# test.sh is `make test`: everything CI checks, as timed phases.
#
#   host       Debian packages and the Docker engine (hack/ensure-host.sh)
#   build      kindlab itself, which also warms the Go cache vet and the tests use
#   images     every image from source (and kindlab's own, which the manifests
#              test installs); in the background while the next
#              phases run, since much of it waits on Debian's mirror and Docker
#   generated, vet, unit, e2e-build (the end-to-end test binaries, compiled)
#   e2e-PKG    each package's end-to-end tests, once the images are there, one
#              after another; the server's engine restart alone, then its others
#
# Each phase's output is shown (a background phase's once it ends) and kept in
# $TIMES/PHASE.log; go test's own stream in $TIMES/PHASE.json; the host's CPU
# times every two seconds in $TIMES/cpu.tsv. At the end, passed or not, it
# prints the time of every phase and the slowest tests, with the share of the
# host's CPU busy during each (`make test-times` prints them all). A phase that fails is named, with the
# tail of its log; the end-to-end packages all run even when one fails.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
TIMES=${TIMES:-$PWD/.test-times}
export TIMES
rm -rf "$TIMES"
mkdir -p "$TIMES"

failed=()
cpu_pid=
go build -o bin/testtimes ./hack/testtimes && {
	bin/testtimes cpu -o "$TIMES/cpu.tsv" &
	cpu_pid=$!
}

report() {
	[ -n "$cpu_pid" ] && kill "$cpu_pid" 2>/dev/null
	echo
	go run ./hack/testtimes report -top 30 -budgets hack/test-budgets "$TIMES" || true
	for name in "${failed[@]}"; do
		echo
		echo "== phase $name FAILED; the last 40 lines of its log ($TIMES/$name.log):"
		tail -n 40 "$TIMES/$name.log"
	done
}
trap report EXIT

# record NAME START STATUS appends a phase to phases.tsv.
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(date +%s)" "$3" >>"$TIMES/phases.tsv"; }

# phase NAME COMMAND... runs a phase in the foreground; its output is shown and kept.
phase() {
	local name=$1 start rc
	shift
	start=$(date +%s)
	echo "== $name: $*"
	"$@" 2>&1 | tee "$TIMES/$name.log"
	rc=${PIPESTATUS[0]}
	if [ "$rc" = 0 ]; then record "$name" "$start" ok; else record "$name" "$start" "failed($rc)"; failed+=("$name"); fi
	return "$rc"
}

# background NAME COMMAND... starts a phase in the background; await NAME
# waits for it and shows its output.
declare -A bg_pid bg_start
background() {
	local name=$1
	shift
	echo "== $name: $* (in the background; its log: $TIMES/$name.log)"
	bg_start[$name]=$(date +%s)
	setsid "$@" >"$TIMES/$name.log" 2>&1 &
	bg_pid[$name]=$!
}
await() {
	local name=$1 rc
	wait "${bg_pid[$name]}"
	rc=$?
	echo "== $name (ran in the background):"
	cat "$TIMES/$name.log"
	if [ "$rc" = 0 ]; then record "$name" "${bg_start[$name]}" ok; else record "$name" "${bg_start[$name]}" "failed($rc)"; failed+=("$name"); fi
	return "$rc"
}

stop_background() {
	for name in "${!bg_pid[@]}"; do kill -- "-${bg_pid[$name]}" 2>/dev/null; done
	exit 1
}

phase host make --no-print-directory host || exit 1
phase build make --no-print-directory build || exit 1
background images make --no-print-directory images platform-image
phase generated make --no-print-directory check-generated || stop_background
phase vet make --no-print-directory vet || stop_background
phase unit make --no-print-directory unit || stop_background
phase e2e-build make --no-print-directory e2e-build || stop_background
await images || exit 1

# End to end, one package after another: running them side by side on two
# cores made each test about twice as slow (measured: no run was faster). The
# server's TestE2EClusterLost restarts the Docker engine, and every cluster on
# the host goes down with it: it runs alone, in a process of its own, before
# the server's other tests (whose shared pool it would take down too).
e2e() { make --no-print-directory e2e-only E2E_PKGS="$1" E2E_JSON="$2" ${3:+E2E_RUN="$3"} ${4:+E2E_SKIP="$4"}; }
engine_test='^TestE2EClusterLost$'
status=0
for pkg in $(make --no-print-directory -s e2e-packages); do
	[ "$pkg" = ./server ] && continue
	name=${pkg#./}
	[ "$name" = . ] && name=kindlab
	name=e2e-${name//\//-}
	phase "$name" e2e "$pkg" "$name" || status=1
done
phase e2e-server-engine e2e ./server e2e-server-engine "$engine_test" || status=1
phase e2e-server e2e ./server e2e-server "" "$engine_test" || status=1
exit $status
