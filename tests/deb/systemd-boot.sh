#!/usr/bin/env bash
# The package on a fresh Debian 12 machine where systemd is PID 1 (issue 16):
#
#   tests/deb/systemd-boot.sh [--upgrade-from OLD_DEB] [DEB]
#
# A minimal bookworm tree (debootstrap from the Debian mirror apt uses here,
# kept in /var/cache/uvmd/systemd-boot/bookworm) is copied to a throw-away
# directory and booted with `systemd-nspawn -b` on a private network (only
# "lo": nothing it starts reaches the host's network). Inside, as an
# operator would: `apt-get install ./uvmd_*.deb`, `systemctl enable --now
# uvmd`, readiness (Type=notify) checked, `crictl version` (tests/deb/cri.py:
# crictl is not in Debian 12), `systemd-analyze verify` of the installed
# unit, an ns pod started, `systemctl stop` (drain; the pod keeps running),
# a restart that reattaches, `apt-get remove` (says how many pods run),
# `apt-get purge` (the pod and uvmd's data gone). Prints each step's time.
# --upgrade-from: OLD_DEB (tests/deb/old-deb.sh) is installed first and
# starts the pod; then `apt-get install ./DEB` upgrades under systemd: the
# postinst restarts uvmd, the new uvmd reattaches to the old agent, and the
# rest runs on that pod.
#
# The package's Depends and Recommends come from the mirror, downloaded
# before the boot by apt in the tree (host network) into
# /var/cache/uvmd/systemd-boot/archives, which is seeded with hard links to
# the host's own /var/cache/apt/archives; the booted node installs from
# there offline. DEB defaults to a package built by deploy/debian/build-deb.sh
# (--no-build when UVMD_NO_BUILD=1). UVMD_KEEP=1 keeps the tree.
#
# Why nspawn and not a QEMU VM: nspawn boots Debian's systemd on this
# cgroup v1+v2 hybrid host (the node gets the same hybrid layout, in a cgroup
# namespace rooted at cgroups made for it), in about a second, with the
# host's kernel; a TCG VM would need the project's guest kernel to carry
# everything systemd wants and would take minutes per boot and install.
# The limit: nspawn mounts the v1 controllers read-only (no user namespace
# here), so uvmd cannot make pod cgroups in the node: a pod without limits
# or containers needs none (placing its agent fails and is ignored, at debug
# level), runc containers do, so the pod here has no containers (VM pods
# would also want /dev/net/tun). Needs: debootstrap, systemd-container.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=/var/cache/uvmd/systemd-boot
base=$cache/bookworm
archives=$cache/archives
machine=uvmd-node
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

for tool in debootstrap systemd-nspawn nsenter; do
	if ! command -v $tool >/dev/null; then
		echo "systemd-boot: $tool is missing (apt-get install debootstrap systemd-container util-linux)" >&2
		exit 2
	fi
done

t_start=$(date +%s.%N)
timings=()
t_step=$t_start
step() { # NAME: records the time since the last step
	local now
	now=$(date +%s.%N)
	timings+=("$(printf '%-34s %7.2f s' "$1" "$(echo "$now - $t_step" | bc)")")
	echo "== $1 ($(echo "$now - $t_step" | bc | xargs printf '%.2f') s)"
	t_step=$now
}
fail() {
	echo "systemd-boot: FAIL: $*" >&2
	exit 1
}

# The Debian mirrors apt uses on this host (deb822 or one-line sources).
mirror() { # SUITE-SUFFIX: "" or "-security"
	local u
	u=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk -v s="debian$1" '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ "/" s "/?$") { print $i; exit } }')
	if [ -z "$u" ]; then
		u=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk -v s="debian$1" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ "^https?://.*/" s "/?$") { print $i; exit } }')
	fi
	echo "${u:-http://deb.debian.org/debian$1}"
}

# 1. The base tree, once.
if [ ! -e "$base/.uvmd-base-ok" ]; then
	mkdir -p "$cache"
	rm -rf "$base.tmp"
	debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,ca-certificates \
		bookworm "$base.tmp" "$(mirror "")" >"$cache/debootstrap.log" 2>&1 ||
		fail "debootstrap, see $cache/debootstrap.log"
	cat >"$base.tmp/etc/apt/sources.list" <<EOF
deb $(mirror "") bookworm main
deb $(mirror "") bookworm-updates main
deb $(mirror "-security") bookworm-security main
EOF
	echo "$machine" >"$base.tmp/etc/hostname"
	systemd-nspawn -q -D "$base.tmp" --register=no --keep-unit -E PATH=$path \
		apt-get -q update >>"$cache/debootstrap.log" 2>&1 || fail "apt-get update in the tree"
	touch "$base.tmp/.uvmd-base-ok"
	mv "$base.tmp" "$base"
	step "debootstrap (cached from now on)"
fi

# 2. The package.
old=
if [ "${1:-}" = --upgrade-from ] && [ $# -ge 2 ]; then
	old=$(readlink -f "$2")
	shift 2
fi
if [ $# -ge 1 ]; then
	deb=$(readlink -f "$1")
	debdir=
else
	debdir=$(mktemp -d /tmp/uvmd-boot-deb.XXXXXX)
	flag=
	[ "${UVMD_NO_BUILD:-}" = 1 ] && flag=--no-build
	deb=$("$repo/deploy/debian/build-deb.sh" $flag "$debdir" | tail -n1)
	step "build the .deb"
fi
version=$(dpkg-deb -f "$deb" Version)

# 3. A fresh machine: a copy of the base tree.
work=$(mktemp -d /var/tmp/uvmd-node.XXXXXX)
nspawn_pid=
cg_dirs=()
cleanup() {
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		kill -TERM "$nspawn_pid" # nspawn -b: a clean poweroff of the node
		for _ in $(seq 60); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
		kill -KILL "$nspawn_pid" 2>/dev/null || true
		wait "$nspawn_pid" 2>/dev/null || true
	fi
	for d in "${cg_dirs[@]}"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$d" ] && echo "systemd-boot: cgroup $d left" >&2
	done
	if [ "${UVMD_KEEP:-}" != 1 ]; then
		rm -rf "$work"
	else
		echo "kept: $work"
	fi
	[ -n "$debdir" ] && rm -rf "$debdir"
	return 0
}
trap cleanup EXIT
root=$work/root
mkdir "$root"
cp -a "$base/." "$root/"
install -d "$root/root/deb" "$root/root/cri"
cp "$deb" ${old:+"$old"} "$root/root/deb/"
debname=$(basename "$deb")
first=$debname
[ -n "$old" ] && first=$(basename "$old")
/usr/bin/python3 -m grpc_tools.protoc -I"$repo/proto" --python_out="$root/root/cri" "$repo/proto/api.proto"
install -m 0755 "$here/cri.py" "$root/root/cri/cri.py"
step "copy the tree"

# 4. Depends and Recommends into the archive cache (mirror, host network).
mkdir -p "$archives/partial"
cp -nl /var/cache/apt/archives/*.deb "$archives/" 2>/dev/null ||
	cp -n /var/cache/apt/archives/*.deb "$archives/" 2>/dev/null || true
systemd-nspawn -q -D "$root" --register=no --keep-unit -E PATH=$path \
	-E DEBIAN_FRONTEND=noninteractive --bind="$archives:/var/cache/apt/archives" \
	apt-get -q -y install --download-only "/root/deb/$first" python3-grpcio python3-protobuf man-db \
	>"$work/download.log" 2>&1 || { cat "$work/download.log"; fail "apt-get --download-only"; }
step "fetch Depends (archive cache)"

# 5. Boot, in cgroups of its own: the node's cgroup namespace starts there,
# so its uvmd (and the purge) sees only its own cgroups, never the host's
# (other uvmd instances here keep their pods under /sys/fs/cgroup/*/uvmd).
cg_dirs=()
while IFS=: read -r _ ctrls rel; do
	if [ -z "$ctrls" ]; then
		mnt=$(findmnt -rn -t cgroup2 -o TARGET | head -n1)
	else
		mnt=$(findmnt -rn -t cgroup -o TARGET,OPTIONS |
			awk -v c="${ctrls%%,*}" '{ n = split($2, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $1; exit } }')
	fi
	[ -n "$mnt" ] && cg_dirs+=("$mnt${rel%/}/uvmd-boot-$$")
done </proc/self/cgroup
for d in "${cg_dirs[@]}"; do
	mkdir "$d"
	if [ -e "$d/cpuset.cpus" ]; then # v1 cpuset: empty until set
		cat "$d/../cpuset.cpus" >"$d/cpuset.cpus"
		cat "$d/../cpuset.mems" >"$d/cpuset.mems"
	fi
done
(
	for d in "${cg_dirs[@]}"; do echo "$BASHPID" >"$d/cgroup.procs"; done
	exec systemd-nspawn -q -D "$root" -b -M "$machine" \
		--register=no --keep-unit --private-network --console=read-only \
		--bind="$archives:/var/cache/apt/archives" </dev/null >"$work/console.log" 2>&1
) &
nspawn_pid=$!
leader=
for _ in $(seq 200); do
	for c in $(cat /proc/$nspawn_pid/task/*/children 2>/dev/null); do
		[ "$(cat /proc/$c/comm 2>/dev/null)" = systemd ] && leader=$c
	done
	[ -n "$leader" ] && break
	kill -0 $nspawn_pid 2>/dev/null || { cat "$work/console.log"; fail "nspawn exited"; }
	sleep 0.1
done
[ -n "$leader" ] || fail "no systemd in the container"
node() { # run a command in the booted node (its namespaces and root)
	nsenter -t "$leader" -a -r -w -- /usr/bin/env -i PATH=$path LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive TERM=dumb "$@"
}
state=
for _ in $(seq 240); do # systemctl fails until systemd's private socket is up
	state=$(timeout 120 nsenter -t "$leader" -a -r -w -- /usr/bin/env -i PATH=$path \
		systemctl is-system-running --wait 2>/dev/null || true)
	[ -n "$state" ] && break
	sleep 0.25
done
[ "$state" = running ] || { node systemctl --failed --no-pager || true; fail "boot: $state"; }
[ "$(node cat /proc/1/comm)" = systemd ] || fail "PID 1 of the node is not systemd"
step "boot to multi-user ($state)"

# 6. Install, as the README says (the old package first with --upgrade-from).
out=$(node apt-get -q -y install "/root/deb/$first" 2>&1) || { echo "$out"; fail "apt-get install"; }
grep -E '^[0-9]+ upgraded|^Setting up uvmd|^cni:' <<<"$out"
step "apt-get install ./$first"
node systemctl enable --now uvmd 2>&1
[ "$(node systemctl is-active uvmd)" = active ] || fail "uvmd is $(node systemctl is-active uvmd)"
[ "$(node systemctl is-enabled uvmd)" = enabled ] || fail "uvmd is not enabled"
show=$(node systemctl show -p Type,ActiveState,SubState,StatusText,MainPID,ExecMainStartTimestampMonotonic,ActiveEnterTimestampMonotonic uvmd)
echo "$show" | grep -v Monotonic
grep -qx 'Type=notify' <<<"$show" || fail "unit type"
grep -qx 'ActiveState=active' <<<"$show" || fail "not active"
# STATUS= and READY=1 come in one message (service/main.c): the status line
# is the proof that uvmd's READY reached systemd.
grep -qx 'StatusText=serving on /run/uvmd/uvmd.sock, 0 pods' <<<"$show" || fail "READY status"
t0=$(sed -n 's/^ExecMainStartTimestampMonotonic=//p' <<<"$show")
t1=$(sed -n 's/^ActiveEnterTimestampMonotonic=//p' <<<"$show")
echo "exec -> READY=1: $(( (t1 - t0) / 1000 )) ms"
step "systemctl enable --now, READY"

# 7. crictl version (python3-grpcio from the same archive cache, offline).
node apt-get -q -y install --no-install-recommends python3-grpcio python3-protobuf >/dev/null 2>&1 ||
	fail "installing the CRI client's python3-grpcio"
ep=unix:///run/uvmd/uvmd.sock
out=$(node python3 /root/cri/cri.py --runtime-endpoint $ep version) || fail "version call"
echo "$out"
grep -qx 'RuntimeName:  uvmd' <<<"$out" && grep -qx "RuntimeVersion:  ${version%%~*}" <<<"$out" ||
	fail "version answer"
node python3 /root/cri/cri.py --runtime-endpoint $ep ready || fail "Status: not RuntimeReady"
step "crictl version"

# U. The upgrade with a pod running: the postinst's restart through systemd.
if [ -n "$old" ]; then
	pod=$(node python3 /root/cri/cri.py --runtime-endpoint $ep runp boot-pod) || fail "RunPodSandbox"
	agent=$(node cat "/run/uvmd/pods/$pod/agent.pid")
	pid0=$(node systemctl show -p MainPID --value uvmd)
	exe=/usr/libexec/uvmd/uvmd
	ino0=$(node stat -c %i $exe)
	echo "old: $(node dpkg-query -W uvmd), uvmd pid $pid0, pod $pod, agent pid $agent"
	step "RunPodSandbox on the old uvmd"
	out=$(node apt-get -q -y install "/root/deb/$debname" 2>&1) || { echo "$out"; fail "upgrade"; }
	grep -E '^Preparing to unpack|^Unpacking uvmd|^Setting up uvmd|^uvmd' <<<"$out"
	if grep -q 'pod(s) still running' <<<"$out"; then fail "the upgrade ran remove's count"; fi
	[ "$(node dpkg-query -W -f '${Version}' uvmd)" = "$version" ] || fail "not upgraded"
	pid1=$(node systemctl show -p MainPID --value uvmd)
	[ "$pid1" != "$pid0" ] && [ "$pid1" != 0 ] || fail "uvmd was not restarted ($pid0 -> $pid1)"
	[ "$(node systemctl is-active uvmd)" = active ] || fail "uvmd not active after the upgrade"
	[ "$(node stat -L -c %i /proc/$pid1/exe)" = "$(node stat -c %i $exe)" ] &&
		[ "$(node stat -c %i $exe)" != "$ino0" ] || fail "the running uvmd is not the new binary"
	out=$(node python3 /root/cri/cri.py --runtime-endpoint $ep pods)
	grep -qx "$pod SANDBOX_READY boot-pod" <<<"$out" || { echo "$out"; fail "not reattached"; }
	[ "$(node cat "/run/uvmd/pods/$pod/agent.pid")" = "$agent" ] || fail "the agent was replaced"
	aexe=$(node readlink /proc/$agent/exe)
	[ "$aexe" = "/usr/libexec/uvmd/uvmd-agent (deleted)" ] || fail "the pod's agent runs $aexe, not the old binary"
	echo "new: $version, uvmd pid $pid1 ($(node systemctl show -p StatusText --value uvmd)); agent $agent still runs the old binary: $aexe"
	step "apt-get install ./$debname (upgrade)"
fi

# 8. The installed unit as systemd sees it. verify runs `man` for the
# unit's Documentation=man:uvmd(8): man-db (in a standard Debian install, not
# in debootstrap's minbase) from the archive cache.
node apt-get -q -y install --no-install-recommends man-db >/dev/null 2>&1 || fail "installing man-db"
out=$(node systemd-analyze verify /lib/systemd/system/uvmd.service 2>&1) ||
	{ echo "$out"; fail "systemd-analyze verify"; }
if grep -i uvmd <<<"$out"; then fail "systemd-analyze verify warns about the unit"; fi
echo "systemd-analyze verify: clean${out:+ (other units: $(wc -l <<<"$out") lines)}"
step "systemd-analyze verify"

# 9. A pod (the old uvmd's with --upgrade-from), then stop: the drain, the
# pod left running.
if [ -z "$old" ]; then
	pod=$(node python3 /root/cri/cri.py --runtime-endpoint $ep runp boot-pod) || fail "RunPodSandbox"
	agent=$(node cat "/run/uvmd/pods/$pod/agent.pid")
	step "RunPodSandbox (ns pod)"
fi
node python3 /root/cri/cri.py --runtime-endpoint $ep pods
node systemctl stop uvmd
show=$(node systemctl show -p ActiveState,Result,ExecMainStatus,StatusText uvmd)
grep -qx 'ActiveState=inactive' <<<"$show" && grep -qx 'Result=success' <<<"$show" &&
	grep -qx 'ExecMainStatus=0' <<<"$show" || { echo "$show"; fail "stop"; }
log=$(node journalctl -u uvmd -o cat --no-pager)
grep -q 'Terminated received, shutting down' <<<"$log" && grep -qx '.*stopped$' <<<"$log" &&
	grep -q 'Stopped uvmd.service' <<<"$log" || { echo "$log" | tail -n 20; fail "drain log"; }
node kill -0 "$agent" || fail "the pod's agent died with uvmd"
echo "stopped: $(grep -E 'shutting down|stopped$' <<<"$log" | tail -n2 | tr '\n' ' ')"
step "systemctl stop (drain)"
node systemctl start uvmd
out=$(node python3 /root/cri/cri.py --runtime-endpoint $ep pods)
grep -qx "$pod SANDBOX_READY boot-pod" <<<"$out" || { echo "$out"; fail "not reattached"; }
echo "restarted: $(node systemctl show -p StatusText --value uvmd)"
step "systemctl start (reattach)"

# 10. remove: uvmd stopped, the pod counted and left running.
out=$(node apt-get -q -y remove uvmd 2>&1) || { echo "$out"; fail "apt-get remove"; }
grep '^uvmd:' <<<"$out"
grep -qx 'uvmd: 1 pod(s) still running; .*' <<<"$out" || fail "remove did not count the pod"
[ "$(node systemctl is-active uvmd || true)" != active ] || fail "uvmd still runs after remove"
node kill -0 "$agent" || fail "remove stopped the pod"
step "apt-get remove"

# 11. purge: the pod and every trace of uvmd gone.
out=$(node apt-get -q -y purge uvmd 2>&1) || { echo "$out"; fail "apt-get purge"; }
grep '^uvmd' <<<"$out"
grep -q 'uvmd purge: removing 1 pod(s)' <<<"$out" || fail "purge did not remove the pod"
if grep -q 'could not be removed' <<<"$out"; then fail "purge left something"; fi
for _ in $(seq 50); do node kill -0 "$agent" 2>/dev/null || break; sleep 0.2; done
if node kill -0 "$agent" 2>/dev/null; then fail "the pod's agent survived the purge"; fi
for p in /run/uvmd /var/lib/uvmd /etc/uvmd /usr/libexec/uvmd /lib/systemd/system/uvmd.service \
	/etc/cni/net.d/10-uvmd.conflist /etc/systemd/system/multi-user.target.wants/uvmd.service; do
	if node test -e "$p"; then fail "$p left by the purge"; fi
done
left=$(node awk '$5 ~ "^/(run|var/lib)/uvmd" { print $5 }' /proc/self/mountinfo)
[ -z "$left" ] || fail "mounts left: $left"
if node ip link show uvmd0 >/dev/null 2>&1; then
	echo "note: bridge uvmd0 is left in the node (the CNI bridge plugin does not delete bridges)"
fi
if node dpkg-query -W -f '${Status}' uvmd 2>/dev/null | grep -q installed; then
	fail "dpkg still lists uvmd"
fi
step "apt-get purge"

# 12. Power off.
node systemctl poweroff || true
for _ in $(seq 120); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.25; done
kill -0 "$nspawn_pid" 2>/dev/null && fail "the node did not power off"
wait "$nspawn_pid" || true
nspawn_pid=
step "poweroff"

echo "systemd-boot: PASS (uvmd $version, $(date -u +%FT%TZ))"
printf '%s\n' "${timings[@]}"
printf '%-34s %7.2f s\n' total "$(echo "$(date +%s.%N) - $t_start" | bc)"
