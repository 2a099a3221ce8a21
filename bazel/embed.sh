#!/bin/sh
# embed.sh IN OUT SYMBOL: write IN as a C byte array named SYMBOL.
set -eu
in=$1
out=$2
sym=$3
{
    echo "/* generated from $(basename "$in"); do not edit */"
    echo "#include <stddef.h>"
    echo "const unsigned char ${sym}[] = {"
    od -An -v -tx1 "$in" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'
    echo "};"
    echo "const size_t ${sym}_len = sizeof(${sym});"
} >"$out"
