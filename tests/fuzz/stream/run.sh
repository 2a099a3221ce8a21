#!/bin/sh
# The streaming server's decoders of outside input, fuzzed for N seconds in
# all (default 30): a third for the SPDY/3.1 frames and header blocks, two
# thirds shared by the WebSocket frames and the HTTP head.
# Usage: tests/fuzz/stream/run.sh [seconds]
set -eu

secs=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
"$here/run_spdy.sh" $(((secs + 2) / 3))
"$here/run_ws_http.sh" $((secs - (secs + 2) / 3))
