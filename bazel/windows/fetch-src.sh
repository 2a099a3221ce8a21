#!/usr/bin/env bash
# Download Debian source packages (bookworm) into a directory, through a
# private apt configuration: the node's own sources lists are not touched.
# usage: fetch-src.sh DEST_DIR PACKAGE...
set -euo pipefail
dest=$1
shift
cache=${UVMD_CACHE:-/var/cache/uvmd}/apt-src
mkdir -p "$cache/lists/partial" "$cache/archives/partial" "$dest"
cat >"$cache/sources.list" <<'LIST'
deb-src http://deb.debian.org/debian bookworm main
LIST
apt_opts=(-q -o "Dir::Etc::SourceList=$cache/sources.list" -o Dir::Etc::SourceParts=/nonexistent
        -o "Dir::State::Lists=$cache/lists" -o "Dir::Cache=$cache" -o APT::Sandbox::User=root)
# The index is refreshed once a day at most.
if [ -z "$(find "$cache/lists" -name '*Sources*' -mmin -1440 2>/dev/null | head -1)" ]; then
        apt-get "${apt_opts[@]}" update >/dev/null
fi
cd "$dest"
apt-get "${apt_opts[@]}" source --download-only "$@" >/dev/null
