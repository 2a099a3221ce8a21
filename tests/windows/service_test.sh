#!/usr/bin/env bash
# The Windows service wrapper (service/windows/) under Wine's service
# manager, through its stand-in program uvmd-svc-test (tests/windows/svc/):
# register, query, start, graceful stop, a failing start, register twice,
# unregister (running and absent), the event log option. Prints "ok NAME" /
# "not ok NAME" per check and exits non-zero if any failed.
#
#   UVMD_WINDOWS_BIN=$(bazel info --config=mingw bazel-bin) \
#   WINEPREFIX=/var/cache/uvmd/wineprefix WINEDEBUG=-all tests/windows/service_test.sh
#
# What Wine 8 does differently from Windows, and how this copes (the
# persistent wineserver and the boot-time automatic starts: winesvc_lib.sh):
#   - "sc query" of a missing service prints nothing with WINEDEBUG=-all:
#     the 1060 (ERROR_SERVICE_DOES_NOT_EXIST) is on the err channel, so
#     that query runs with WINEDEBUG=-all,err+sc.
#   - Wine's dispatcher finds services.exe through the last service started,
#     not through who started the process: a console "--service" run may be
#     served as a service, so the refusal (-ENOTCONN) is checked by
#     winsvc_test only where Wine refuses.
#   - Wine never sends SHUTDOWN/PRESHUTDOWN (wineboot --shutdown ends
#     services.exe without a control), so only STOP is tested.
set -uo pipefail
# shellcheck source=winesvc_lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/winesvc_lib.sh" || exit 1

name=uvmd-svc-test
if [ -z "${UVMD_WINDOWS_BIN:-}" ] || [ ! -f "$UVMD_WINDOWS_BIN/tests/windows/svc/uvmd-svc-test" ]; then
        not_ok setup "UVMD_WINDOWS_BIN has no tests/windows/svc/uvmd-svc-test (bazel build --config=mingw //tests/windows/svc:uvmd-svc-test)"
        exit 1
fi

winesvc_setup
exe=$dir/uvmd-svc-test.exe
log=$dir/data/uvmd-svc-test.log
mkdir -p "$dir/data"
cp "$UVMD_WINDOWS_BIN/tests/windows/svc/uvmd-svc-test" "$exe"
trap winesvc_cleanup EXIT
winesvc_start

# write_config FAIL_START DRAIN_MS: read by the service at every start.
write_config() {
        printf '{"data_root": "%s", "fail_start": %d, "drain_ms": %d}\n' \
                "${windir//\\/\\\\}\\\\data" "$1" "$2" >"$dir/config.json"
}

state_is() { # state_is NUMBER: 1 STOPPED, 2 START_PENDING, 3 STOP_PENDING, 4 RUNNING
        [ "$(field STATE)" = "$1" ]
}
image_path() {
        timeout 60 wine reg query "HKLM\\System\\CurrentControlSet\\Services\\$name" /v ImagePath 2>/dev/null |
                tr -d '\r' | sed -n 's/.*ImagePath *REG_SZ *//p'
}
reg_value() { # reg_value KEY VALUE
        timeout 60 wine reg query "$1" /v "$2" 2>/dev/null | tr -d '\r' | awk -v v="$2" '$1 == v {print $3}'
}

write_config 0 2500
out=$(svc --register-service --config "$config_win" --service-name "$name" 2>&1)
check register grep -q "registered service '$name'" <<<"$out"
check query-stopped state_is 1
check query-own-process bash -c '[ "$1" = 10 ]' _ "$(field TYPE)"
want="\"$windir\\uvmd-svc-test.exe\" --service --config \"$config_win\" --service-name $name"
check command-line bash -c '[ "$1" = "$2" ]' _ "$(image_path)" "$want"
check auto-start bash -c '[ "$1" = 0x2 ]' _ "$(reg_value "HKLM\\System\\CurrentControlSet\\Services\\$name" Start)"

# Registering again is refused (-EEXIST), and the first registration stays.
out=$(svc --register-service --config "$config_win" --service-name "$name" 2>&1)
rc=$?
check register-twice-refused bash -c '[ "$1" -ne 0 ] && grep -q "already registered" <<<"$2"' _ "$rc" "$out"
check register-twice-unchanged bash -c '[ "$1" = "$2" ]' _ "$(image_path)" "$want"
out=$(svc --register-service --service-name "$name" 2>&1)
check register-needs-config grep -q "needs --config" <<<"$out"

: >"$log"

timeout 60 wine sc start "$name" >/dev/null 2>&1
check start wait_state 4 20
check start-logged log_order "$log" "service $name: INITIAL -> START_PENDING" "app: started" \
        "service $name: START_PENDING -> RUNNING"
check running-exit-code bash -c '[ "$1" = 0 ]' _ "$(field WIN32_EXIT_CODE)"

# Stop: the control handler reports STOP_PENDING and asks the main loop,
# which drains for 2.5 s (progress checkpoints meanwhile), then STOPPED.
out=$(timeout 60 wine sc stop "$name" 2>/dev/null | tr -d '\r')
check stop-pending grep -qE "STATE +: 3 +STOP_PENDING" <<<"$out"
sleep 1.5
q=$(query)
check stop-pending-progress bash -c 'grep -qE "STATE +: 3" <<<"$1" && grep -qE "WAIT_HINT +: 0x2710" <<<"$1" &&
        ! grep -qE "CHECKPOINT +: 0x0\$" <<<"$1"' _ "$q"
check stopped wait_state 1 20
check stopped-exit-code bash -c '[ "$1" = 0 ] && [ "$2" = 0 ]' _ "$(field WIN32_EXIT_CODE)" "$(field SERVICE_EXIT_CODE)"
check graceful-stop-logged log_order "$log" "service $name: STOP, draining" \
        "service $name: RUNNING -> STOP_PENDING" "app: stop requested" "app: stopping" \
        "app: stopped" "service $name: STOP_PENDING -> STOPPED" "app: exit 0"

# A start that fails: STOPPED with a service-specific exit code.
write_config 13 0
: >"$log"
timeout 60 wine sc start "$name" >/dev/null 2>&1
check start-failure-stopped wait_state 1 20
check start-failure-exit-code bash -c '[ "$1" = 1066 ] && [ "$2" = 13 ]' _ "$(field WIN32_EXIT_CODE)" "$(field SERVICE_EXIT_CODE)"
check start-failure-logged log_order "$log" "start failed" "START_PENDING -> STOPPED (service-specific error)" "app: exit 1"

# Unregistering a running service stops it gracefully first.
write_config 0 0
: >"$log"
timeout 60 wine sc start "$name" >/dev/null 2>&1
check restart wait_state 4 20
out=$(svc --unregister-service --service-name "$name" 2>&1)
check unregister-running grep -q "unregistered service '$name'" <<<"$out"
check unregister-stopped-first log_order "$log" "app: stop requested" "app: stopped" "STOP_PENDING -> STOPPED"
out=$(WINEDEBUG=-all,err+sc timeout 60 wine sc query "$name" 2>&1)
rc=$?
check query-absent-1060 bash -c '[ "$1" -ne 0 ] && grep -q "1060" <<<"$2"' _ "$rc" "$out"
out=$(svc --unregister-service --service-name "$name" 2>&1)
rc=$?
check unregister-absent bash -c '[ "$1" -ne 0 ] && grep -q "is not registered" <<<"$2"' _ "$rc" "$out"

# --event-log: carried into the command line, an event source registered
# (and removed with the service); the file log still gets every record.
evkey="HKLM\\System\\CurrentControlSet\\Services\\EventLog\\Application\\$name"
svc --register-service --config "$config_win" --service-name "$name" --event-log >/dev/null 2>&1
check event-log-command-line bash -c '[ "$1" = "$2 --event-log" ]' _ "$(image_path)" "$want"
check event-source-registered grep -q EventCreate.exe <<<"$(reg_value "$evkey" EventMessageFile)"
: >"$log"
timeout 60 wine sc start "$name" >/dev/null 2>&1
check event-log-start wait_state 4 20
timeout 60 wine sc stop "$name" >/dev/null 2>&1
check event-log-stop wait_state 1 20
check event-log-file log_order "$log" "app: started" "app: stopped"
svc --unregister-service --service-name "$name" >/dev/null 2>&1
check event-source-removed bash -c '! timeout 60 wine reg query "$1" >/dev/null 2>&1' _ "$evkey"

[ "$failed" -eq 0 ]
