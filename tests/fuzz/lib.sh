# Shared by the tests/fuzz/*/run.sh that source it: build a libFuzzer
# harness with clang straight from the sources and run it on a copy of the
# folder's committed seed corpus, in a work dir outside the repo.
#
#   fuzz_init NAME            work dir $OUT (default /tmp/uvmd-fuzz-NAME),
#                             a fresh copy of tests/fuzz/NAME/corpus in it
#   fuzz_cc OUT.o SRC FLAGS.. compile one file with the fuzzer's flags
#   fuzz_srcs TARGET..        the repo's .c files those Bazel targets build
#                             from, for this platform (selects resolved):
#                             a harness follows its code when files split
#   fuzz_link BIN LIBS..      link $out/obj/*.o into the harness
#   fuzz_run BIN SECS ARGS..  run it; non-zero on a crash, leak, UBSan
#                             report or timeout (the input is left in
#                             $out/crashes), with a one-line summary
# Every function expects $root (the repo) and runs from there.

FUZZ_CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wno-unused-parameter \
-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

fuzz_init() {
        fuzz_name=$1
        out=${OUT:-/tmp/uvmd-fuzz-$1}
        fuzz_t0=$(date +%s)
        rm -rf "$out/corpus" "$out/crashes" "$out/obj"
        mkdir -p "$out/corpus" "$out/crashes" "$out/obj"
        cp "$root/tests/fuzz/$1/corpus/"* "$out/corpus/"
}

# Sources are compiled in parallel (two cores); fuzz_wait collects them.
fuzz_cc() {
        o=$1
        shift
        # shellcheck disable=SC2086 # FUZZ_CFLAGS is a list
        clang $FUZZ_CFLAGS -I"$root" -c "$@" -o "$o" &
        fuzz_pids="${fuzz_pids:-} $!"
}

fuzz_srcs() {
        bazel cquery "kind('source file', deps(set($*)))" --output=label 2>/dev/null |
                sed -n 's|^//\([^:]*\):\([^ ]*\.c\) .*|\1/\2|p' | LC_ALL=C sort
}

fuzz_wait() {
        for p in ${fuzz_pids:-}; do
                wait "$p" || {
                        echo "fuzz $fuzz_name: build failed" >&2
                        exit 1
                }
        done
        fuzz_pids=
}

fuzz_link() {
        fuzz_wait
        bin=$1
        shift
        # shellcheck disable=SC2086
        clang $FUZZ_CFLAGS "$out"/obj/*.o "$@" -o "$bin"
        fuzz_t1=$(date +%s)
}

fuzz_run() {
        bin=$1
        secs=$2
        shift 2
        rc=0
        "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
                -artifact_prefix="$out/crashes/" "$@" "$out/corpus" </dev/null >"$out/fuzz.log" 2>&1 ||
                rc=$?
        if [ $rc -ne 0 ]; then
                tail -n 60 "$out/fuzz.log"
        else
                grep -E '^#[0-9]+' "$out/fuzz.log" | tail -n 3
        fi
        done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$out/fuzz.log" | tail -n 1)
        eps=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$out/fuzz.log")
        echo "fuzz $fuzz_name: build $((fuzz_t1 - fuzz_t0)) s, fuzzing ${secs} s," \
                "${eps:-?} execs/s; ${done_line:-no DONE line}"
        if [ $rc -ne 0 ] || [ -n "$(find "$out/crashes" -type f)" ]; then
                echo "fuzz $fuzz_name: FAILED (exit $rc); inputs in $out/crashes:" >&2
                ls "$out/crashes" >&2
                return 1
        fi
}
