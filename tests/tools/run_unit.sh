#!/bin/sh
# Runs every unit test binary under BUILD_DIR/tests/unit; prints one line per
# binary and exits non-zero if any failed.
B=${1:-build}
# every test: a name filter left in the environment would pick a few
unset FLUO_TEST
fail=0
for t in $(find "$B/tests/unit" -type f -perm -u+x | sort); do
    if "$t" >"$t.log" 2>&1; then
        echo "PASS $t"
    else
        echo "FAIL $t"
        tail -n 30 "$t.log"
        fail=1
    fi
done
exit $fail
