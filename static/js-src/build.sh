#!/bin/sh
# Rebuilds static/vendor/xterm.bundle.js and static/vendor/xterm.css from the
# pinned npm packages (package-lock.json). The outputs are committed so that
# building kindlab needs no Node; run this only after changing the versions.
#
#   cd static/js-src && ./build.sh      (or: npm run build)
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
out=../vendor
mkdir -p "$out"
npx esbuild entry.js --bundle --minify --format=iife --target=es2020 \
	--legal-comments=eof --outfile="$out/xterm.bundle.js"
cp node_modules/@xterm/xterm/css/xterm.css "$out/xterm.css"
echo "wrote $out/xterm.bundle.js ($(wc -c <"$out/xterm.bundle.js") bytes) and $out/xterm.css"
