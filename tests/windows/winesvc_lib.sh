# shellcheck shell=bash
# shellcheck disable=SC2154 # name and exe: set by the test that sources this
# What the Wine service tests share (service_test.sh, uvmd_exe_test.sh):
# the "ok NAME" / "not ok NAME" lines, the prefix lock, a persistent
# wineserver, the service program and Wine's service manager, and the
# cleanup that leaves no service registered in the prefix. Sourced, not
# run: it is not executable and its name does not end in _test.sh, so
# bazel/test-windows.sh does not take it for a test.
#
# The test sets name (the service's name), then:
#   winesvc_setup                       WINEPREFIX and WINEDEBUG, the lock, $dir
#   exe=$dir/X.exe; cp PROGRAM "$exe"   the program that svc runs
#   trap winesvc_cleanup EXIT           (or a function of its own that calls it)
#   winesvc_start                       the wineserver, the prefix booted; $windir
# and ends with [ "$failed" -eq 0 ].
#
# Wine 8's services differ from Windows', and this copes:
#   - Services live only as long as the wineserver: when the last ordinary
#     process exits, Wine ends services.exe and the services with it. So a
#     persistent wineserver (-p) is kept for the run and killed at the end.
#   - services.exe starts automatic services when the prefix boots: the
#     prefix is booted before registering, and a leftover registration from
#     a killed run is removed first (its auto-started process is stopped).

failed=0
ok() {
        echo "ok $1"
}
not_ok() {
        echo "not ok $1${2:+ # $2}"
        failed=$((failed + 1))
}
check() { # check NAME COMMAND...
        local n=$1
        shift
        if "$@"; then ok "$n"; else not_ok "$n"; fi
}

# One run at a time per prefix: a run owns the prefix's wineserver (and
# kills it) and its service name. Then the run's own directory, $dir.
winesvc_setup() {
        export WINEPREFIX=${WINEPREFIX:-/var/cache/uvmd/wineprefix} WINEDEBUG=${WINEDEBUG:--all}
        exec 9>"${WINEPREFIX%/}.service_test.lock"
        flock -w 300 9 || {
                not_ok setup "another Wine service test kept $WINEPREFIX for 300 s"
                exit 1
        }
        dir=$(mktemp -d)
}

svc() {
        timeout 60 wine "$exe" "$@"
}

# No service may outlive the run in the shared prefix: an automatic one
# would start at every later boot of it. If the service will not stop,
# its process is killed with the wineserver and its keys deleted.
winesvc_cleanup() {
        if ! svc --unregister-service --service-name "$name" >/dev/null 2>&1 &&
                timeout 60 wine sc query "$name" >/dev/null 2>&1; then
                echo "# $name would not unregister: removing it by force" >&2
                wineserver -k 2>/dev/null
                timeout 60 wine reg delete "HKLM\\System\\CurrentControlSet\\Services\\$name" /f >/dev/null 2>&1
                timeout 60 wine reg delete "HKLM\\System\\CurrentControlSet\\Services\\EventLog\\Application\\$name" /f >/dev/null 2>&1
        fi
        wineserver -k 2>/dev/null
        rm -rf "$dir"
}

# A persistent wineserver for the run, the prefix booted (services.exe's
# automatic starts are over before ours), no leftover $name; then $windir,
# $dir as Windows sees it, and $config_win, its config.json.
winesvc_start() {
        wineserver -k 2>/dev/null
        wineserver -w 2>/dev/null
        wineserver -p || {
                not_ok setup "wineserver -p failed"
                exit 1
        }
        timeout 120 wine sc query RpcSs >/dev/null 2>&1
        svc --unregister-service --service-name "$name" >/dev/null 2>&1
        # winepath starts a Wine process; now and then Wine fails to (its
        # start.exe prints "ShellExecuteEx failed" where the path should be,
        # seen in a run): tried again, and never taken for a path.
        for _ in 1 2 3 4 5; do
                windir=$(winepath -w "$dir" 2>/dev/null | tr -d '\r')
                [[ $windir =~ ^[A-Za-z]:\\ ]] && break
                sleep 1
        done
        [[ $windir =~ ^[A-Za-z]:\\ ]] || {
                not_ok setup "winepath -w $dir gave: $windir"
                exit 1
        }
        # shellcheck disable=SC2034 # for the tests' use
        config_win="$windir\\config.json"
}

query() {
        timeout 60 wine sc query "$name" 2>/dev/null | tr -d '\r'
}
field() { # field NAME: the number after "NAME :" in sc query's output
        query | awk -v f="$1" '$1 == f {print $3}'
}
wait_state() { # wait_state STATE SECONDS
        local deadline=$((SECONDS + $2)) s
        while [ $SECONDS -lt $deadline ]; do
                s=$(field STATE)
                [ "$s" = "$1" ] && return 0
                sleep 0.2
        done
        echo "# state is '$s', waited for $1 for $2 s" >&2
        return 1
}
log_order() { # log_order FILE PATTERN...: each fixed string is in FILE, in this order
        local f=$1 last=0 n
        shift
        for p in "$@"; do
                n=$(grep -nF -- "$p" "$f" | awk -F: -v l="$last" '$1 > l {print $1; exit}')
                [ -n "$n" ] || {
                        echo "# $f lacks '$p' after line $last" >&2
                        return 1
                }
                last=$n
        done
}
