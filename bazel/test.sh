#!/usr/bin/env bash
# Set everything up and run every test:
#   1. format check (clang-format, the committed .clang-format)
#   2. unit tests (cmocka) and the same under ASan+UBSan
#   3. integration tests: the real uvmd, runc, CNI plugins, registry, driven
#      over gRPC by an independent client (python3-grpcio), against the
#      normal build, then the fast suites against the sanitizer build
#   4. the Windows pieces (mingw-w64 build, tests under Wine): test-windows.sh
#   5. short fuzz runs of the decoders of outside input, where present
# Ends with one line: "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bazel/setup.sh || exit 1

passed=0
failed=0
failures=()

count_pytest() { # junit-xml file -> adds to passed/failed
        local p f
        read -r p f < <(/usr/bin/python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    r = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1); sys.exit()
suites = [r] if r.tag == "testsuite" else list(r)
t = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skip = sum(int(s.get("skipped", 0)) for s in suites)
print(t - bad - skip, bad)
PY
)
        passed=$((passed + p))
        failed=$((failed + f))
}

stage() { # name command...: a stage that counts as one test
        local name=$1
        shift
        echo "== $name"
        if "$@"; then
                passed=$((passed + 1))
        else
                failed=$((failed + 1))
                failures+=("$name")
        fi
}

bazel_tests() { # label of a test config -> counts each test target
        local cfg=$1 log
        shift
        log=$(mktemp)
        bazel test "$@" //tests/unit/... 2>&1 | tee "$log" | grep -E "PASSED|FAILED|NO STATUS|TIMEOUT|ERROR:" || true
        local p f
        p=$(grep -cE "^//.* PASSED" "$log")
        f=$(grep -cE "^//.* (FAILED|NO STATUS|TIMEOUT)|FAILED TO BUILD" "$log")
        if grep -q "^ERROR:" "$log" && [ "$f" -eq 0 ]; then f=1; fi
        passed=$((passed + p))
        failed=$((failed + f))
        [ "$f" -eq 0 ] || failures+=("unit tests ($cfg)")
        rm -f "$log"
}

pytest_suite() { # name binary files...
        local name=$1 bin=$2 xml
        shift 2
        xml=$(mktemp --suffix=.xml)
        echo "== integration: $name"
        # The suites share a bridge and a pod subnet (uvmdtp0, 10.88.66/24):
        # another run on this machine (a developer's pytest) takes the same
        # lock, or its cleanup would delete the bridge under ours.
        UVMD_BIN=$bin UVMD_PYGEN=/tmp/uvmd-pygen-$name flock /tmp/uvmd-integ.lock \
                /usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml="$xml" "$@" ||
                failures+=("integration: $name")
        count_pytest "$xml"
        rm -f "$xml"
}

stage "format (clang-format)" clang-format --dry-run -Werror $(git ls-files '*.c' '*.h')

echo "== build"
if ! bazel build //... 2>&1 | tail -n 3; then
        echo "tests: $passed passed, $((failed + 1)) failed"
        exit 1
fi
bazel_tests default
bazel_tests asan --config=asan
if ! bazel build --config=asan //service:uvmd //agent:uvmd-agent //tests/stream:harness 2>&1 |
        tail -n 3; then
        failed=$((failed + 1))
        failures+=("build (asan)")
fi
asan_bin=$(bazel info --config=asan bazel-bin 2>/dev/null)/service/uvmd
normal_bin=$(bazel info bazel-bin 2>/dev/null)/service/uvmd
export REG_FETCH_BIN
REG_FETCH_BIN=$(bazel info bazel-bin 2>/dev/null)/tests/unit/image_registry/reg_fetch

# Every integration suite against the normal build.
mapfile -t suites < <(ls tests/integration/test_*.py)
pytest_suite all "$normal_bin" "${suites[@]}"

# The streaming server's protocols alone (on local processes), with clients
# that are not ours, against the normal and the sanitizer builds.
for cfg in normal asan; do
        if [ $cfg = asan ]; then
                h=$(bazel info --config=asan bazel-bin 2>/dev/null)/tests/stream/harness
        else
                h=$(bazel info bazel-bin 2>/dev/null)/tests/stream/harness
        fi
        export UVMD_STREAM_HARNESS=$h
        pytest_suite "stream-$cfg" "$normal_bin" tests/stream/test_ws.py tests/stream/test_spdy.py
        unset UVMD_STREAM_HARNESS
done

# Fast suites again under ASan+UBSan (leaks fail the run: uvmd exits 1).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
asan_suites=()
for s in tests/integration/test_foundation.py tests/integration/test_images.py; do
        [ -f "$s" ] && asan_suites+=("$s")
done
pytest_suite asan "$asan_bin" "${asan_suites[@]}"
unset ASAN_OPTIONS UBSAN_OPTIONS

# The Windows pieces, cross-built with mingw-w64 and run under Wine; their
# own summary line is folded into ours.
echo "== windows"
win_out=$(bazel/test-windows.sh 2>&1)
# Every failed check by name (the tail alone may not reach them), then the end.
echo "$win_out" | grep -E "^== windows: |^not ok |^\[  FAILED  \] [^0-9]" | grep -B1 -E "^not ok|FAILED" || true
echo "$win_out" | grep -vE "^INFO:" | tail -n 40
read -r wp wf < <(echo "$win_out" | sed -n 's/^windows: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' | tail -1)
if [ -z "${wp:-}" ]; then
        wp=0
        wf=1
fi
passed=$((passed + wp))
failed=$((failed + wf))
[ "$wf" -eq 0 ] || failures+=("windows")

# Short, bounded fuzz runs of outside-input decoders.
for f in tests/fuzz/*/run.sh; do
        [ -x "$f" ] && stage "fuzz: $f" "$f" 30
done

if [ ${#failures[@]} -gt 0 ]; then
        printf 'failed: %s\n' "${failures[@]}"
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
