#!/bin/sh
# `make install` into a scratch DESTDIR, then what an embedder does with it:
# the layout and the soname, <fluo.h> compiled alone as C11 and as C++ from
# the installed include directory, libfluo.so exporting exactly what fluo.h
# declares, a C++ program linked and run against it, and
# docs/examples/embed_loopback.c built through pkg-config against the shared
# and the static library and run on a Chromium offer (its answer must carry
# the endpoint's candidates).
#
#   sh tests/tools/install_check.sh OUTDIR
#
# leaves OUTDIR/root (the installed tree), OUTDIR/embed_loopback (linked to
# OUTDIR/root's libfluo.so; run it with LD_LIBRARY_PATH=OUTDIR/root/usr/local/lib)
# and OUTDIR/embed_loopback_static.
set -eu
cd "$(dirname "$0")/../.."
out=${1:?usage: install_check.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
prefix=/usr/local
root=$out/root
top=$root$prefix
lib=$top/lib
src=$PWD

fail() {
    echo "install_check: $*" >&2
    exit 1
}

rm -rf "$root"
make -s -j2 install DESTDIR="$root" PREFIX="$prefix"

# the layout, the soname and the links
for f in bin/fluo lib/libfluo.a include/fluo.h lib/pkgconfig/fluo.pc; do
    [ -f "$top/$f" ] || fail "$prefix/$f not installed"
done
[ -x "$top/bin/fluo" ] || fail "bin/fluo is not executable"
real=$(cd "$lib" && readlink libfluo.so.0) || fail "lib/libfluo.so.0 is not a link"
[ "$(cd "$lib" && readlink libfluo.so)" = libfluo.so.0 ] || fail "lib/libfluo.so does not link to libfluo.so.0"
case $real in
libfluo.so.0.*.*) [ -f "$lib/$real" ] && [ ! -L "$lib/$real" ] || fail "$real is not a file" ;;
*) fail "libfluo.so.0 links to $real, not libfluo.so.0.MINOR.PATCH" ;;
esac
soname=$(readelf -d "$lib/$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libfluo.so.0 ] || fail "soname is '$soname', not libfluo.so.0"

# fluo.h alone, from where it was installed, in a directory of its own (so
# nothing of the source tree is found)
cd "$out"
inc=$top/include
grep '^#include' "$inc/fluo.h" | grep -v -e '^#include <stddef.h>$' -e '^#include <stdint.h>$' &&
    fail "the installed fluo.h includes more than <stddef.h> and <stdint.h>"
printf '#include <fluo.h>\n' >only_fluo.c
gcc -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$inc" only_fluo.c
cp only_fluo.c only_fluo.cc
g++ -std=c++17 -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$inc" only_fluo.cc

# libfluo.so exports what fluo.h declares, and nothing else
gcc -E -P -I"$inc" only_fluo.c | grep -oE '\bfl_[a-z0-9_]+ *\(' | tr -d '( ' | sort -u >declared.txt
nm -D --defined-only "$lib/$real" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u >exported.txt
[ -s declared.txt ] || fail "no function found in fluo.h"
if ! cmp -s declared.txt exported.txt; then
    diff declared.txt exported.txt >&2 || true
    fail "libfluo.so's exports differ from fluo.h's functions (< declared only, > exported only)"
fi

export PKG_CONFIG_PATH="$lib/pkgconfig"
pc() {
    pkg-config --define-variable=prefix="$top" "$@" fluo
}
[ "libfluo.so.$(pc --modversion)" = "$real" ] || fail "fluo.pc's version is not the library's ($real)"

# C++ linked against libfluo.so: the extern "C" names resolve and run
cat >version.cc <<'EOF'
#include <cstdio>
#include <cstring>

#include <fluo.h>

int main()
{
    if (fl_version() != FLUO_VERSION_HEX || std::strcmp(fl_version_string(), FLUO_VERSION) != 0)
        return 1;
    std::printf("%s %s\n", fl_version_string(), fl_strerror(FL_EINVAL));
    return 0;
}
EOF
# shellcheck disable=SC2046
g++ -std=c++17 -Wall -Wextra -Werror -o version_cc version.cc $(pc --cflags --libs)
got=$(LD_LIBRARY_PATH=$lib ./version_cc)
[ "$got" = "$(pc --modversion) invalid argument" ] || fail "C++ program printed '$got'"

# the example, shared and static
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror -pthread -o embed_loopback \
    "$src/docs/examples/embed_loopback.c" $(pc --cflags --libs)
readelf -d embed_loopback | grep -q 'NEEDED.*\[libfluo\.so\.0\]' ||
    fail "embed_loopback does not need libfluo.so.0"
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror -pthread -o embed_loopback_static \
    "$src/docs/examples/embed_loopback.c" $(pc --cflags) \
    $(pc --static --libs | sed 's/-lfluo\b/-l:libfluo.a/')
readelf -d embed_loopback_static | grep -q 'NEEDED.*libfluo' &&
    fail "embed_loopback_static needs libfluo.so"

# each answers a Chromium offer (then stdin closes and it stops)
for bin in embed_loopback embed_loopback_static; do
    { cat "$src/tests/data/sdp/chromium_offer.sdp" && printf '\r\n'; } |
        LD_LIBRARY_PATH=$lib timeout 30 "./$bin" networkInterfaces=lo >"$bin.answer" 2>"$bin.log" ||
        { cat "$bin.log" >&2; fail "$bin exited with an error"; }
    grep -q '^m=audio ' "$bin.answer" && grep -q '^m=video ' "$bin.answer" &&
        grep -q '^a=fingerprint:' "$bin.answer" ||
        { cat "$bin.answer" >&2; fail "$bin: no audio and video answer"; }
    grep -q '^a=candidate:.* 127\.0\.0\.1 .* typ host' "$bin.answer" ||
        { cat "$bin.answer" "$bin.log" >&2; fail "$bin: the answer has no loopback candidate"; }
    grep -q '^a=end-of-candidates' "$bin.answer" || fail "$bin: no end-of-candidates"
    [ "$(tail -c 4 "$bin.answer" | od -An -c | tr -d ' ')" = '\r\n\r\n' ] ||
        fail "$bin: the answer does not end with an empty line"
done
echo "installed in $root; $out/embed_loopback and $out/embed_loopback_static answer an offer"
