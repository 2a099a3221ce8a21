#!/bin/sh
# Rewrite tests/fuzz/cri/corpus from the text-format requests below (protoc
# --encode). Each seed is one byte, the request kind as cri_fuzz.c numbers
# it (enum kind), then the encoded message. Run after changing either.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=$here/corpus
rm -rf "$out"
mkdir -p "$out"

# seed NAME KIND MESSAGE TEXT
seed() {
        printf "\\$(printf '%03o' "$2")" >"$out/$1"
        printf '%s\n' "$4" | protoc -I"$root/proto" --encode="runtime.v1.$3" "$root/proto/api.proto" \
                >>"$out/$1"
}

meta='metadata { name: "web" namespace: "default" uid: "6f1c1d2e-aaaa" attempt: 1 }'
pod="$meta hostname: \"web-0\" log_directory: \"/var/log/pods/default_web_6f1c\"
  dns_config { servers: \"10.96.0.10\" searches: \"default.svc.cluster.local\" options: \"ndots:5\" }
  port_mappings { protocol: TCP container_port: 80 host_port: 8080 host_ip: \"127.0.0.1\" }
  labels { key: \"app\" value: \"web\" } labels { key: \"tier\" value: \"\" }
  annotations { key: \"kubernetes.io/config.source\" value: \"api\" }
  linux { cgroup_parent: \"/kubepods/burstable/pod6f1c\"
    security_context { namespace_options { network: POD pid: CONTAINER ipc: POD } }
    sysctls { key: \"net.ipv4.ip_unprivileged_port_start\" value: \"0\" }
    sysctls { key: \"kernel.shm_rmid_forced\" value: \"1\" }
    resources { cpu_period: 100000 cpu_quota: 50000 cpu_shares: 512 memory_limit_in_bytes: 268435456 }
    overhead { cpu_period: 100000 cpu_quota: 10000 memory_limit_in_bytes: 67108864 } }"
seed run-pod 0 RunPodSandboxRequest "config { $pod } runtime_handler: \"runc\""
seed run-pod-userns 0 RunPodSandboxRequest "config { $meta linux { security_context {
  namespace_options { network: POD pid: CONTAINER ipc: POD userns_options { mode: POD
    uids { host_id: 65536 container_id: 0 length: 65536 } gids { host_id: 65536 container_id: 0 length: 65536 } } } } } }"
seed run-pod-host 0 RunPodSandboxRequest "config { $meta linux { cgroup_parent: \"kubepods-pod1.slice\"
  security_context { namespace_options { network: NODE pid: NODE ipc: NODE } }
  sysctls { key: \"net/ipv4/ip_forward\" value: \"1\" } sysctls { key: \"kernel.msgmax\" value: \"a\\nb\" } } }"
seed run-pod-vm 0 RunPodSandboxRequest "config { $meta
  annotations { key: \"io.microsoft.virtualmachine.computetopology.memory.sizeinmb\" value: \"2048\" }
  annotations { key: \"io.microsoft.virtualmachine.computetopology.processor.count\" value: \"2\" }
  annotations { key: \"io.microsoft.virtualmachine.computetopology.memory.allowovercommit\" value: \"true\" }
  linux { resources { memory_limit_in_bytes: 4294967296 cpu_quota: 200000 cpu_period: 100000 } } }
  runtime_handler: \"uvm\""
seed run-pod-bad 0 RunPodSandboxRequest "config { metadata { name: \"a\x01\" } hostname: \"-x\" log_directory: \"var/log/../x\"
  linux { cgroup_parent: \"/\" sysctls { key: \"../x\" value: \"\" } } }"

sc='security_context { capabilities { add_capabilities: "NET_ADMIN" add_capabilities: "CAP_SYS_TIME"
    drop_capabilities: "ALL" add_ambient_capabilities: "NET_BIND_SERVICE" }
    run_as_user { value: 1000 } run_as_group { value: 1000 } supplemental_groups: 50 supplemental_groups: 4294967295
    readonly_rootfs: true no_new_privs: true masked_paths: "/proc/kcore" readonly_paths: "/proc/sys"
    seccomp { profile_type: RuntimeDefault } apparmor { profile_type: RuntimeDefault }
    namespace_options { network: POD pid: CONTAINER ipc: POD } }'
res='resources { cpu_period: 100000 cpu_quota: 20000 cpu_shares: 256 memory_limit_in_bytes: 134217728
    oom_score_adj: 999 cpuset_cpus: "0-1,3" cpuset_mems: "0" hugepage_limits { page_size: "2MB" limit: 0 }
    unified { key: "memory.high" value: "100000000" } memory_swap_limit_in_bytes: 134217728 }'
ctr="metadata { name: \"app\" attempt: 0 } image { image: \"docker.io/library/busybox:1.36\" user_specified_image: \"app:staff\" }
  command: \"/bin/sh\" command: \"-c\" args: \"sleep 1000\" working_dir: \"/work\"
  envs { key: \"A\" value: \"1\" } envs { key: \"B=C\" value: \"\" }
  mounts { container_path: \"/data\" host_path: \"/tmp\" readonly: true propagation: PROPAGATION_PRIVATE }
  mounts { container_path: \"/vol\" image { image: \"registry.local/data:1\" } image_sub_path: \"sub/dir\" }
  mounts { container_path: \"/etc/hosts\" host_path: \"/etc/hosts\" recursive_read_only: true readonly: true }
  devices { container_path: \"/dev/fuse\" host_path: \"/dev/null\" permissions: \"rwm\" }
  labels { key: \"io.kubernetes.container.name\" value: \"app\" }
  annotations { key: \"io.kubernetes.container.restartCount\" value: \"0\" }
  log_path: \"app/0.log\" stdin: true stdin_once: true tty: true
  linux { $res $sc } stop_signal: SIGINT"
seed create 1 CreateContainerRequest "pod_sandbox_id: \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"
  config { $ctr } sandbox_config { $pod }"
seed create-systemd 2 CreateContainerRequest "pod_sandbox_id: \"0123\" config { $ctr }"
seed create-priv 1 CreateContainerRequest "pod_sandbox_id: \"p\" config { metadata { name: \"x\" } image { image: \"busybox\" }
  linux { security_context { privileged: true run_as_username: \"nobody\" seccomp { profile_type: Unconfined }
  apparmor { profile_type: Localhost localhost_ref: \"k8s-custom\" } } } }"
seed create-userns 1 CreateContainerRequest "pod_sandbox_id: \"p\" config { metadata { name: \"x\" } image { image: \"busybox\" user_specified_image: \"1000:1000\" }
  mounts { container_path: \"/m\" host_path: \"/tmp\" uidMappings { host_id: 65536 container_id: 0 length: 65536 }
    gidMappings { host_id: 65536 container_id: 0 length: 65536 } }
  linux { security_context { namespace_options { userns_options { mode: POD
    uids { host_id: 65536 container_id: 0 length: 65536 } gids { host_id: 65536 container_id: 0 length: 65536 } } } } } }
  sandbox_config { $meta linux { security_context { namespace_options { userns_options { mode: POD
    uids { host_id: 65536 container_id: 0 length: 65536 } gids { host_id: 65536 container_id: 0 length: 65536 } } } } } }"
seed create-bad 1 CreateContainerRequest "pod_sandbox_id: \"p\" config { metadata { name: \"x\" } image { image: \"busybox\" user_specified_image: \"nosuch\" }
  mounts { container_path: \"rel\" host_path: \"/x/../y\" propagation: PROPAGATION_BIDIRECTIONAL }
  linux { security_context { capabilities { add_capabilities: \"CAP_NOPE\" }
    seccomp { profile_type: Localhost localhost_ref: \"/nonexistent/profile.json\" }
    seccomp_profile_path: \"localhost/../etc/x\" apparmor_profile: \"unconfined\" } } }"
seed exec-sync 3 ExecSyncRequest 'container_id: "c0ffee" cmd: "ls" cmd: "-l" timeout: 10'
seed exec 4 ExecRequest 'container_id: "c0ffee" cmd: "sh" tty: true stdin: true stdout: true'
seed attach 5 AttachRequest 'container_id: "c0ffee" stdin: true stdout: true stderr: true'
seed port-forward 6 PortForwardRequest 'pod_sandbox_id: "0123" port: 80 port: 65536'
seed update-ctr 7 UpdateContainerResourcesRequest "container_id: \"c0ffee\" linux { cpu_period: 1000000 cpu_quota: 1000 cpu_shares: 2
  memory_limit_in_bytes: 4194304 cpuset_cpus: \"0,1-3,7\" hugepage_limits { page_size: \"1GB\" limit: 1073741824 }
  unified { key: \"pids.max\" value: \"100\" } unified { key: \"../x\" value: \"1\" } }"
seed update-pod 8 UpdatePodSandboxResourcesRequest 'pod_sandbox_id: "0123" overhead { cpu_quota: 5000 cpu_period: 50000 memory_limit_in_bytes: 1048576 }
  resources { cpu_quota: 100000 cpu_period: 100000 cpu_shares: 1024 memory_limit_in_bytes: 9223372036854775807 }'
seed list-ctrs 9 ListContainersRequest 'filter { id: "c0" pod_sandbox_id: "01" state { state: CONTAINER_RUNNING }
  label_selector { key: "app" value: "web" } }'
seed list-pods 10 ListPodSandboxRequest 'filter { id: "01" state { state: SANDBOX_NOTREADY } label_selector { key: "tier" value: "" } }'
seed list-ctr-stats 11 ListContainerStatsRequest 'filter { id: "c0" label_selector { key: "a" value: "b" } }'
seed list-pod-stats 12 ListPodSandboxStatsRequest 'filter { id: "01" label_selector { key: "app" value: "web" } }'
seed pull 13 PullImageRequest 'image { image: "quay.io/a/b:1@sha256:4fbec69b941195fd56f8212a5000e304129451d82efca94ff0e0fb2d5355472e" }
  auth { username: "u" password: "p" auth: "dTpw" server_address: "quay.io" }'
seed pull-bad 13 PullImageRequest 'image { image: "UPPER/Case::tag" }'
seed runtime-config 14 UpdateRuntimeConfigRequest 'runtime_config { network_config { pod_cidr: "10.88.0.0/16,fd00::/64" } }'
seed runtime-config-bad 14 UpdateRuntimeConfigRequest 'runtime_config { network_config { pod_cidr: "10.88.0.0/33,x,y" } }'
printf '\017%s' '{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"},{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}' \
        >"$out/seccomp-profile"
printf '\017%s' '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO"}],"flags":["SECCOMP_FILTER_FLAG_LOG"]}' \
        >"$out/seccomp-docker"
printf '\017%s' '{"syscalls":[]}' >"$out/seccomp-no-default"
# image_user: etc/passwd NUL etc/group NUL USER
user() {
        printf '\020%s\000%s\000%s' "$2" "$3" "$4" >"$out/$1"
}
passwd='root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:App:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin'
group='root:x:0:
staff:x:50:app,root
app:x:1000:
nogroup:x:65534:'
user user-name "$passwd" "$group" app
user user-name-group "$passwd" "$group" app:staff
user user-ids "$passwd" "$group" 1000:50
user user-missing "$passwd" "$group" ghost:nogroup
user user-broken 'x::
:x:1:1
y:x:4294967296:0::/:
z:x:-1:2' 'g:x:
:x:3:
h:x:abc:z,,y' y:h
ls "$out" | wc -l
