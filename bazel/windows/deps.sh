#!/usr/bin/env bash
# What the Windows build and its tests need, installed idempotently:
# Debian's mingw-w64 cross compiler and Wine, and json-c and cmocka
# cross-built from Debian's own source packages into $UVMD_CACHE/mingw
# (include/, lib/). A stamp per package makes a rerun do nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${UVMD_CACHE:-/var/cache/uvmd}
prefix=$cache/mingw
triple=x86_64-w64-mingw32

packages=(gcc-mingw-w64-x86-64 mingw-w64-x86-64-dev wine64 wine cmake dpkg-dev)
missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        echo "windows: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$prefix" "$cache/mingw-src"
toolchain=$prefix/toolchain.cmake
cat >"$toolchain" <<TC
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER $triple-gcc)
set(CMAKE_RC_COMPILER $triple-windres)
set(CMAKE_FIND_ROOT_PATH /usr/$triple $prefix)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
TC

# build NAME CMAKE_ARGS...: a static library from Debian's source package.
build() {
        local name=$1
        shift
        local stamp=$prefix/.$name.stamp
        [ -f "$stamp" ] && return 0
        local src=$cache/mingw-src
        rm -rf "${src:?}/$name"-*/ "$src/build-$name"
        "$here/fetch-src.sh" "$src" "$name"
        (cd "$src" && dpkg-source -x --no-check "$(ls -t "$name"_*.dsc | head -1)" >/dev/null)
        local dir
        dir=$(find "$src" -maxdepth 1 -type d -name "$name-*" | head -1)
        cmake -S "$dir" -B "$src/build-$name" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
                -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
        cmake --build "$src/build-$name" >/dev/null
        cmake --install "$src/build-$name" >/dev/null
        touch "$stamp"
        echo "windows: built $name for $triple"
}

build json-c -DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON -DBUILD_TESTING=OFF -DDISABLE_WERROR=ON
build cmocka -DBUILD_SHARED_LIBS=OFF -DWITH_STATIC_LIB=ON -DUNIT_TESTING=OFF -DWITH_EXAMPLES=OFF

# One Wine prefix for every test run (its first start takes seconds).
wp=$cache/wineprefix
if [ ! -f "$wp/system.reg" ]; then
        WINEPREFIX=$wp WINEDEBUG=-all wineboot -i >/dev/null 2>&1 || true
        WINEPREFIX=$wp wineserver -w || true
fi
