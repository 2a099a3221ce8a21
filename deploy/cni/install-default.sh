#!/bin/sh
# Install uvmd's default pod network when the node has none.
#
# Writes /etc/cni/net.d/10-uvmd.conflist (CNI 1.0.0, network "uvmd"):
#   bridge   - bridge "uvmd0", the node is the pods' gateway and masquerades
#              their traffic; addresses from host-local in 10.88.0.0/16 with
#              a default route (host-local's default dataDir)
#   portmap  - hostPort mappings, handed over by uvmd as runtimeConfig
# No loopback plugin: uvmd brings "lo" up itself in every pod namespace.
#
# Runs from bazel/setup.sh; safe to run again. An existing config of any kind
# (*.conflist, *.conf, *.json) is never touched, and neither is an existing
# 10-uvmd.conflist. CNI_CONF_DIR overrides the directory (for tests).
set -eu

dir=${CNI_CONF_DIR:-/etc/cni/net.d}
target=$dir/10-uvmd.conflist

for f in "$dir"/*.conflist "$dir"/*.conf "$dir"/*.json; do
        if [ -e "$f" ]; then
                echo "cni: $dir already has a network config ($(basename "$f")), leaving it"
                exit 0
        fi
done

mkdir -p "$dir"
tmp=$(mktemp "$dir/.10-uvmd.conflist.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat >"$tmp" <<'JSON'
{
  "cniVersion": "1.0.0",
  "name": "uvmd",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "uvmd0",
      "isGateway": true,
      "ipMasq": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "10.88.0.0/16" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    {
      "type": "portmap",
      "capabilities": { "portMappings": true }
    }
  ]
}
JSON
chmod 0644 "$tmp"
# link, not rename: never replaces a file that appeared meanwhile
if ln "$tmp" "$target" 2>/dev/null; then
        echo "cni: wrote $target"
else
        echo "cni: $target already exists, leaving it"
fi
