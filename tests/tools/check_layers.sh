#!/bin/sh
# Fails when a folder includes a header from a layer above it (DESIGN.md).
allowed() {
    case $1 in
    base) echo "base" ;;
    sdp) echo "base sdp" ;;
    ice) echo "base ice" ;;
    net) echo "base net" ;;
    codec) echo "base codec" ;;
    container) echo "base codec container" ;;
    engine) echo "base sdp ice net codec container engine" ;;
    rpc) echo "base engine rpc" ;;
    bench) echo "base sdp ice net codec container engine rpc bench" ;;
    esac
}
bad=0
for dir in base sdp ice net codec container engine rpc bench; do
    [ -d "$dir" ] || continue
    ok=$(allowed $dir)
    for inc in $(grep -ho '#include "[a-z_]*/' $dir/*.[ch] 2>/dev/null | sed 's/#include "//; s#/##' | sort -u); do
        case " $ok " in
        *" $inc "*) ;;
        *) echo "$dir/ includes $inc/ (not allowed: $dir may use $ok)"; bad=1 ;;
        esac
    done
    if [ "$dir" != engine ] && [ "$dir" != rpc ] && [ "$dir" != bench ] &&
        grep -l '#include <uv.h>' $dir/*.[ch] 2>/dev/null; then
        echo "$dir/ includes libuv: only engine/, rpc/ and bench/ may"
        bad=1
    fi
done
# rpc/ uses only the engine's public header
if grep -l '#include "engine/[a-z_]*_int.h"' rpc/*.[ch] 2>/dev/null; then
    echo "rpc/ reaches into engine internals"
    bad=1
fi
exit $bad
