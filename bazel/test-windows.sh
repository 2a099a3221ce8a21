#!/usr/bin/env bash
# Build the Windows pieces with mingw-w64 (bazel --config=mingw) and run
# their tests under Wine. Installs what it needs (bazel/windows/deps.sh).
#   - every cc_test tagged "windows": its cmocka cases are counted;
#   - every executable tests/windows/*_test.sh: TAP-like lines "ok NAME" /
#     "not ok NAME" (Wine's service manager, for instance).
# Ends with one line: "windows: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

bazel/windows/deps.sh || {
        echo "windows: 0 passed, 1 failed"
        exit 1
}
export WINEPREFIX=${UVMD_CACHE:-/var/cache/uvmd}/wineprefix WINEDEBUG=-all
passed=0
failed=0
failures=()

# The gRPC C core for uvmd.exe (tests/windows/uvmd_exe_test.sh): built
# once, then its stamps make this a no-op. A failure counts, and uvmd.exe's
# test then fails for want of the binary.
echo "== windows: gRPC C core (bazel/windows/grpc-cross.sh)"
grpc_failed=0
if ! bazel/windows/grpc-cross.sh 2>&1 | tail -n 12; then
        echo "windows: gRPC cross build FAILED (logs: /var/cache/uvmd/win-grpc/logs)"
        grpc_failed=1
fi
extra=()
[ "$grpc_failed" -eq 0 ] && extra=(//service/windows:uvmd-win)

mapfile -t targets < <(bazel query 'attr(tags, "\bwindows\b", tests(//...))' 2>/dev/null)
echo "== windows: build ${#targets[@]} test programs and ${extra[*]:-no uvmd.exe} (mingw-w64)"
if ! bazel build --config=mingw "${targets[@]}" "${extra[@]}" 2>&1 | tail -n 2; then
        echo "windows: $passed passed, $((failed + 1)) failed"
        exit 1
fi
bin=$(bazel info --config=mingw bazel-bin 2>/dev/null)
export UVMD_WINDOWS_BIN=$bin
run_dir=$(mktemp -d)
trap 'rm -rf "$run_dir"' EXIT

for t in "${targets[@]}"; do
        path=${t#//}
        path=${path/://}
        exe=$run_dir/$(basename "$path").exe
        cp "$bin/$path" "$exe"
        echo "== windows: $t"
        # From the repo root: tests read their fixtures by relative path.
        out=$(timeout 300 wine "$exe" 2>&1)
        rc=$?
        echo "$out" | grep -E "^\[  (FAILED|PASSED)|^\[  ERROR" || true
        p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
        f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
                echo "$out" | tail -n 20
                f=1
        fi
        passed=$((passed + p))
        failed=$((failed + f))
        [ "$f" -eq 0 ] || failures+=("$t")
done

for s in tests/windows/*_test.sh; do
        [ -x "$s" ] || continue
        echo "== windows: $s"
        out=$(timeout 600 "$s" 2>&1)
        rc=$?
        echo "$out" | grep -E "^(not )?ok " || true
        p=$(echo "$out" | grep -c "^ok ")
        f=$(echo "$out" | grep -c "^not ok ")
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
                echo "$out" | tail -n 20
                f=1
        fi
        passed=$((passed + p))
        failed=$((failed + f))
        [ "$f" -eq 0 ] || failures+=("$s")
done
wineserver -k 2>/dev/null || true

if [ "$grpc_failed" -ne 0 ]; then
        failed=$((failed + 1))
        failures+=(bazel/windows/grpc-cross.sh)
fi
if [ ${#failures[@]} -gt 0 ]; then
        printf 'windows failed: %s\n' "${failures[@]}"
fi
echo "windows: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
