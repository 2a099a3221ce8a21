#!/bin/sh
# mingw-w64's gcc names a linked program "X.exe" when asked for "X"; Bazel
# expects exactly the name it asked for. Everything else passes through.
out=
prev=
scan() {
        [ "$prev" = "-o" ] && out=$1
        prev=$1
}
for a in "$@"; do
        case $a in
        @*) while IFS= read -r l; do scan "$l"; done <"${a#@}" ;;
        *) scan "$a" ;;
        esac
done
/usr/bin/x86_64-w64-mingw32-gcc-posix "$@" || exit
if [ -n "$out" ] && [ ! -e "$out" ] && [ -e "$out.exe" ]; then
        mv "$out.exe" "$out"
fi
