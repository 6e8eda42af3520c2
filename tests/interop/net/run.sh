#!/bin/sh
# Runs test files of tests/interop/net inside a network lab built for the
# run (tests/interop/lib/netlab.js: namespaces fq<pid>-{rt,srv,pub,v1,v2,v3}),
# the node test runner itself in the srv namespace, and tears the lab down
# afterwards (also on SIGINT/SIGTERM). Root only.
#
#     tests/interop/net/run.sh                    # every *.test.js here
#     tests/interop/net/run.sh quality.test.js    # one (a name here, or a path)
#     FLUO_NET_DIRECT=1 tests/interop/net/run.sh quality.test.js
#
# Leftovers of a crashed run: `node tests/interop/lib/netlab.js cleanup`.
set -e
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: needs root (network namespaces)" >&2
    exit 1
fi
files=""
for f in "$@"; do
    if [ -f "$f" ]; then
        files="$files $(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
    elif [ -f "$here/$f" ]; then
        files="$files $here/$f"
    else
        echo "run.sh: no such test file: $f" >&2
        exit 1
    fi
done
[ -n "$files" ] || files=$(ls "$here"/*.test.js)
# shellcheck disable=SC2086
exec node "$here/../lib/netlab.js" exec srv -- node --test --test-reporter=spec --test-concurrency=1 $files
