#!/usr/bin/env python3
"""Write uvmd(8) in roff from the sources, so it cannot drift from them:

  - the flags and sub-commands from usage() in service/main.c;
  - every config key, its type and bounds from the fields[] table of
    service/config.c, and its default from config_init_defaults() (the
    Linux branch of the #ifdef'd defaults).

Only the one-line meaning of each key is written here (MEANINGS). A key in
config.c without a meaning is an error, so a new key breaks the package
build until it is documented; a meaning for a key config.c does not have is
reported and left out.

usage: gen-man.py REPO_ROOT VERSION DATE > uvmd.8
"""
import re
import sys

MEANINGS = {
    "socket": "The CRI socket (mode 0660): the kubelet's "
              "\\fB\\-\\-container\\-runtime\\-endpoint=unix://\\fP\\fIPATH\\fP.",
    "state_root": "Runtime state: pod records, agent sockets, network namespaces. "
                  "Belongs on a tmpfs (pods do not survive a reboot).",
    "data_root": "Images and persistent data (the image store is \\fIDATA_ROOT\\fP/images).",
    "log_level": "\\fBdebug\\fP, \\fBinfo\\fP, \\fBwarn\\fP or \\fBerror\\fP.",
    "log_format": "\\fBtext\\fP or \\fBjson\\fP (one JSON object a line).",
    "cni_conf_dir": "Where the pod network's CNI config is read from (the first "
                    "*.conflist, *.conf or *.json by name).",
    "cni_bin_dirs": "Where CNI plugins are looked for, in order (1 to 32 paths).",
    "cni_plugin_timeout_ms": "How long each CNI plugin may run (100 to 600000 ms); one past it is "
                             "killed with its process group, the pod fails with DEADLINE_EXCEEDED "
                             "and what was added is deleted.",
    "cgroup_driver": "\\fBcgroupfs\\fP or \\fBsystemd\\fP; empty: \\fBsystemd\\fP when PID 1 "
                     "is systemd, else \\fBcgroupfs\\fP. Must match the kubelet's "
                     "\\fB\\-\\-cgroup\\-driver\\fP.",
    "oci_runtime": "The OCI runtime the agent runs containers with: \\fBrunc\\fP or "
                   "\\fBcrun\\fP, on PATH or a path (crun 1.8 refuses hybrid cgroup "
                   "hierarchies).",
    "default_driver": "The driver of the empty runtime handler: \\fBns\\fP, \\fBqemu\\fP, "
                      "or \\fBauto\\fP: \\fBqemu\\fP only where its probe saw KVM run a "
                      "guest (never from the device node alone), else \\fBns\\fP.",
    "runtime_handlers": "RuntimeClass handler name to driver (\\fBns\\fP, \\fBqemu\\fP, "
                        "\\fBhcs\\fP). Only handlers whose driver can run pods on this "
                        "node are offered in Status.",
    "kvm_device": "The device the qemu driver's KVM proof opens.",
    "qemu_binary": "QEMU, on PATH or a path.",
    "guest_dir": "The VM pods' guest image (\\fBvmlinux\\fP, \\fBinitrd.img\\fP); the "
                 "package installs it here.",
    "qemu_accel": "\\fBauto\\fP (KVM once a guest was seen booting under it, else TCG), "
                  "\\fBkvm\\fP or \\fBtcg\\fP.",
    "vm_boot_timeout_ms": "How long a VM may take to answer at RunPodSandbox.",
    "vm_size_annotations": "\\fBallow\\fP: hcsshim's "
                           "io.microsoft.virtualmachine.computetopology.* pod annotations "
                           "size the VM, never beyond the pod's limits plus overhead; "
                           "\\fBignore\\fP: they do not.",
    "vm_templates": "\\fBtrue\\fP: VM pods start from a booted, saved template of their "
                    "shape, made in the background; \\fBfalse\\fP: every VM pod cold-boots.",
    "insecure_registries": "Registry hosts (host[:port]) pulled from over plain HTTP.",
    "registry_mirrors": "An object mapping a registry host to 1 to 8 mirror URLs, tried "
                        "in order before the registry.",
    "image_pull_timeout_ms": "Time allowed for each registry request.",
    "io_threads": "Threads polling gRPC's completion queue.",
    "queue_spin_us": "With one queue thread: how long (µs) it keeps polling after each event, "
                     "yielding the CPU, before it sleeps (0: at once).",
    "workers": "Threads of the unary worker pool.",
    "queue_limit": "Unary calls waiting for a worker; beyond it calls fail UNAVAILABLE.",
    "max_streams": "Streaming calls served at once (a thread each).",
    "max_message_bytes": "The bound on a request and on a response (the kubelet's own).",
    "shutdown_grace_ms": "On SIGTERM, the time in-flight calls get before they are "
                         "cancelled.",
    "stream_address": "HOST:PORT of the streaming server of Exec, Attach and PortForward "
                      "(port 0: ephemeral). The kubelet on this node proxies to it.",
    "stream_tls_cert": "PEM certificate: the streaming server speaks TLS and hands out "
                       "https:// URLs (with \\fBstream_tls_key\\fP).",
    "stream_tls_key": "PEM private key of \\fBstream_tls_cert\\fP; both or neither.",
    "stream_token_ttl_ms": "How long an Exec, Attach or PortForward URL stays usable (once).",
    "metrics_address": "HOST:PORT of the Prometheus metrics endpoint; off when unset.",
    "hcs_bridge_address": "Windows only: \\fB127.0.0.1:\\fP\\fIPORT\\fP where every hcs pod's "
                          "agent is reached over TCP instead of HvSocket (a test rig's "
                          "forwarded bridges); unset by default.",
    "scratch_size_gb": "Windows only: size in GiB of each hcs pod container's writable "
                       "scratch disk (a sparse file); 0 keeps its writes in the VM's memory.",
}

# Integer keys that config_init_defaults() leaves at 0: the module that
# reads them has the default, in a #define named here.
ZERO_DEFAULTS = {
    "image_pull_timeout_ms": ("image/registry.c", "REG_DEFAULT_TIMEOUT_MS"),
}

TYPES = {
    "F_PATH": "absolute path",
    "F_SOCKET": "absolute path",
    "F_PATHS": "array of absolute paths",
    "F_LOG_LEVEL": "string",
    "F_LOG_FORMAT": "string",
    "F_HANDLERS": "object",
    "F_HOSTS": "array of strings",
    "F_MIRRORS": "object",
    "F_ADDR": "HOST:PORT",
    "F_BOOL": "boolean",
}


def esc(s):
    """roff-escape plain text (backslashes and dashes; a leading dot)."""
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + s if s.startswith((".", "'")) else s


def c_number(expr):
    expr = re.sub(r"(\d+)u\b", r"\1", expr.strip())
    if not re.fullmatch(r"[\d\s<>*+()]+", expr):
        raise ValueError("not a constant: %r" % expr)
    return int(eval(expr))  # digits and shifts only, checked above


def linux_defines(text):
    """#define NAME "value" outside the _WIN32 branches."""
    out, skip = {}, []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#ifdef _WIN32"):
            skip.append(True)
        elif s.startswith("#ifndef _WIN32") or s.startswith("#if"):
            skip.append(False)
        elif s.startswith("#else") and skip:
            skip[-1] = not skip[-1]
        elif s.startswith("#endif") and skip:
            skip.pop()
        elif not any(skip):
            m = re.match(r'#define (\w+) "([^"]*)"', s)
            if m:
                out[m.group(1)] = m.group(2)
    return out


def function_body(text, name):
    m = re.search(r"\n[^\n]*\b%s\([^)]*\)\n\{\n(.*?)\n\}\n" % name, text, re.S)
    if not m:
        raise SystemExit("gen-man: %s() not found" % name)
    return m.group(1)


def linux_only(body):
    """Drop the _WIN32 branch of #ifdef _WIN32 ... #else ... #endif."""
    return re.sub(r"#ifdef _WIN32\n.*?#else\n(.*?)#endif\n?", r"\1", body, flags=re.S)


def defaults(config_c):
    defs = linux_defines(config_c)
    body = linux_only(function_body(config_c, "config_init_defaults"))
    out = {}
    for member, value in re.findall(r"c->(\w+) = (.*?);", body, re.S):
        value = " ".join(value.split())
        m = re.fullmatch(r'strdup\("([^"]*)"\)', value)
        if m:
            out[member] = m.group(1) if m.group(1) else None
        elif re.fullmatch(r"strdup\((\w+)\)", value):
            out[member] = defs[value[7:-1]]
        elif value.startswith("strv_new2("):
            out[member] = ", ".join(re.findall(r'"([^"]*)"', value))
        elif value.startswith("calloc("):
            out[member] = "empty"
        elif value in ("true", "false"):
            out[member] = value
        elif re.fullmatch(r"LOG_(LEVEL|FORMAT)_(\w+)", value):
            out[member] = value.split("_")[-1].lower()
        else:
            out[member] = c_number(value)
    handlers = linux_only(function_body(config_c, "default_handlers"))
    out["runtime_handlers"] = ", ".join(
        "%s \\(-> %s" % h for h in re.findall(r'add_handler\(c, "(\w+)", "(\w+)"\)', handlers))
    return out


def fields(config_c):
    tbl = re.search(r"static const struct field fields\[\] = \{\n(.*?)\n\};", config_c, re.S)
    if not tbl:
        raise SystemExit("gen-man: fields[] not found in service/config.c")
    choices = {name: re.findall(r'"([^"]*)"', vals) for name, vals in re.findall(
        r"static const char \*const (\w+)\[\] = \{(.*?)\};", config_c)}
    out = []
    for m in re.finditer(r'\{"(\w+)", (F_\w+), (?:OFF\((\w+)\)|0), ([^,]+), ([^,]+), (\w+)\}',
                         tbl.group(1)):
        name, ftype, member, lo, hi, ch = m.groups()
        out.append({"name": name, "type": ftype, "member": member or name,
                    "min": c_number(lo), "max": c_number(hi),
                    "choices": [c for c in choices.get(ch, []) if c] if ch != "NULL" else None})
    n_entries = tbl.group(1).count('{"')
    if len(out) != n_entries:
        raise SystemExit("gen-man: parsed %d of %d fields[] entries" % (len(out), n_entries))
    return out


def type_of(f):
    if f["type"] == "F_UINT":
        return "integer, %d to %d" % (f["min"], f["max"])
    if f["type"] == "F_WORD":
        return "one of " + ", ".join(f["choices"]) if f["choices"] else "word or path"
    return TYPES[f["type"]]


def usage_text(main_c):
    body = function_body(main_c, "usage")
    lits = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    text = "".join(lits[:-1] if lits[-1] == "%s" else lits)
    return text.encode().decode("unicode_escape")


def flags(main_c, default_config):
    out = []
    for line in usage_text(main_c).replace("%s", default_config).splitlines():
        m = re.match(r"\s+(-\w, )?(--[\w-]+)( [A-Z]+)?\s{2,}(.*)", line)
        if m:
            out.append(m.groups())
    if len(out) < 5:
        raise SystemExit("gen-man: flags not found in usage() of service/main.c")
    return out


def human(v, name):
    if v is None:
        return "none" if name.startswith("stream_tls") else "empty"
    if isinstance(v, int):
        if name.endswith("_bytes") and v >= 1 << 20:
            return "%d (%d MiB)" % (v, v >> 20)
        if name.endswith("_ms") and v >= 1000:
            return "%d (%g s)" % (v, v / 1000)
        return str(v)
    return v


def main():
    root, version, date = sys.argv[1:4]
    config_c = open(root + "/service/config.c").read()
    main_c = open(root + "/service/main.c").read()
    default_config = linux_defines(open(root + "/service/config.h").read())["UVMD_DEFAULT_CONFIG"]
    dflt = defaults(config_c)
    for key, (src, define) in ZERO_DEFAULTS.items():
        m = re.search(r"#define %s \((.*)\)" % define, open(root + "/" + src).read())
        if not m:
            raise SystemExit("gen-man: %s not found in %s" % (define, src))
        dflt.setdefault(key, c_number(m.group(1)))
    opts = flags(main_c, default_config)
    fl = fields(config_c)
    missing = [f["name"] for f in fl if f["name"] not in MEANINGS]
    if missing:
        raise SystemExit("gen-man: no meaning for config key(s) %s: add them to MEANINGS in %s"
                         % (", ".join(missing), sys.argv[0]))
    extra = set(MEANINGS) - {f["name"] for f in fl}
    if extra:
        sys.stderr.write("gen-man: not in service/config.c, left out: %s\n"
                         % ", ".join(sorted(extra)))
    w = sys.stdout.write
    w('.\\" Generated by deploy/debian/gen-man.py from service/main.c and\n'
      '.\\" service/config.c; edit those (or the meanings in gen-man.py), not this.\n')
    w('.TH UVMD 8 "%s" "uvmd %s" "System Administration"\n' % (date, version))
    w(".SH NAME\nuvmd \\- Kubernetes CRI runtime whose pod sandboxes are utility VMs\n")
    w(".SH SYNOPSIS\n.B uvmd\n.RI [ OPTIONS ]\n.br\n.B uvmd\n.RI [ OPTIONS ]\n"
      ".B image import\n.IR ARCHIVE ...\n")
    w(".SH DESCRIPTION\n"
      "\\fBuvmd\\fP serves the Kubernetes Container Runtime Interface (CRI runtime.v1) "
      "over gRPC on a local socket, for the kubelet, \\fBcrictl\\fP(1) and grpcurl. "
      "Each pod sandbox is a utility VM: with the \\fBns\\fP driver a \\fBuvmd\\-agent\\fP "
      "process in the pod's namespaces, with the \\fBqemu\\fP driver a QEMU microVM whose "
      "PID 1 is that agent. Pods outlive a restart of uvmd, which reattaches to them.\n"
      ".PP\n\\fBimage import\\fP loads OCI or docker\\-save archives into the image store "
      "under the data root, whether or not the daemon runs, and prints the image ids.\n")
    w(".SH OPTIONS\nFlags override the config file.\n")
    for short, long_, arg, text in opts:
        head = "\\fB%s\\fP" % esc(long_)
        if short:
            head = "\\fB%s\\fP, %s" % (esc(short.rstrip(", ")), head)
        if arg:
            head += " \\fI%s\\fP" % arg.strip()
        w(".TP\n%s\n%s\n" % (head, esc(text)))
    w(".SH CONFIGURATION\n"
      "The config file (default \\fI%s\\fP, optional unless \\fB\\-\\-config\\fP is given) "
      "is one strict JSON object: unknown keys and bad values are errors that name the file "
      "and the key. Every key has a default:\n" % esc(default_config))
    for f in fl:
        d = dflt.get(f["member"])
        if f["name"] == "cgroup_driver" and d is None:
            d = "detected"
        w(".TP\n\\fB%s\\fP (%s; default: %s)\n%s\n"
          % (esc(f["name"]), esc(type_of(f)), esc(human(d, f["name"])).replace("\\e(\\->", "\\(->"),
             MEANINGS[f["name"]]))
    w(".SH SIGNALS\n.TP\n\\fBSIGTERM\\fP, \\fBSIGINT\\fP\n"
      "Stop serving: in-flight calls get \\fBshutdown_grace_ms\\fP, then are cancelled. "
      "Pods keep running.\n.TP\n\\fBSIGHUP\\fP\nIgnored (logged).\n")
    w(".SH FILES\n.TP\n\\fI/etc/uvmd/config.json\\fP\nThe config file.\n"
      ".TP\n\\fI/run/uvmd/uvmd.sock\\fP\nThe CRI socket.\n"
      ".TP\n\\fI/run/uvmd\\fP, \\fI/var/lib/uvmd\\fP\nState and data roots.\n"
      ".TP\n\\fI/usr/libexec/uvmd/uvmd\\-agent\\fP\nThe agent, found next to the uvmd binary "
      "(\\fB$UVMD_AGENT\\fP overrides).\n"
      ".TP\n\\fI/usr/lib/uvmd/guest\\fP\nThe VM pods' guest kernel and initramfs.\n"
      ".TP\n\\fI/etc/cni/net.d/10\\-uvmd.conflist\\fP\nThe default pod network "
      "(bridge uvmd0, 10.88.0.0/16), installed only when the node had no CNI config.\n")
    w(".SH ENVIRONMENT\n.TP\n\\fBUVMD_AGENT\\fP\nThe uvmd\\-agent binary to run for ns pods.\n")
    w(".SH EXAMPLES\n.nf\ncrictl \\-\\-runtime\\-endpoint unix:///run/uvmd/uvmd.sock version\n"
      "uvmd image import busybox.tar\n.fi\n")
    w(".SH SEE ALSO\n\\fBcrictl\\fP(1), \\fBrunc\\fP(8), \\fBqemu\\-system\\-x86_64\\fP(1), "
      "\\fBsystemctl\\fP(1); /usr/share/doc/uvmd/README.md\n")


main()
