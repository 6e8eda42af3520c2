#!/bin/sh
# Writes a C file holding the given files as NUL-terminated byte arrays:
#   const struct fl__embedded fl__kmd_files[]; const unsigned fl__kmd_nfiles;
set -e
echo '#include <stddef.h>'
echo 'struct fl__embedded { const char *name; const unsigned char *data; size_t len; };'
i=0
for f in "$@"; do
    echo "static const unsigned char file_$i[] = {"
    od -An -v -tx1 "$f" | awk '{ for (i = 1; i <= NF; i++) printf "0x%s,", $i; printf "\n" }'
    echo "0x00 };"
    i=$((i + 1))
done
echo 'extern const struct fl__embedded fl__kmd_files[];'
echo 'extern const unsigned fl__kmd_nfiles;'
echo 'const struct fl__embedded fl__kmd_files[] = {'
i=0
for f in "$@"; do
    echo "    { \"$(basename "$f")\", file_$i, sizeof(file_$i) - 1 },"
    i=$((i + 1))
done
echo '};'
echo "const unsigned fl__kmd_nfiles = $i;"
