#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "sandbox/drivers/hcs/documents-internal.h"
#include "sandbox/drivers/hcs/documents.h"

/* Plan9Share Flags, private in HCS's schema (hcsshim's Plan9ShareFlags). */
#define PLAN9_FLAG_READ_ONLY 0x1u
#define PLAN9_FLAG_LINUX_METADATA 0x4u        /* uid/gid/mode kept for a Linux guest */
#define PLAN9_FLAG_RESTRICT_FILE_ACCESS 0x80u /* only AllowedFiles are seen */

const char *const hcs_scsi_controller_guids[HCS_SCSI_MAX_CONTROLLERS] = {
        "df6d0690-79e5-55b6-a5ec-c1e2f77f580a",
        "0110f83b-de10-5172-a266-78bca56bf50a",
        "b5d2d8d4-3a75-51bf-945b-3444dc6b8579",
        "305891a9-b251-5dfe-91a2-c25d9212275b",
};

static const char *cmdline_of(const struct hcs_uvm_config *cfg)
{
        return cfg->kernel_cmdline ? cfg->kernel_cmdline : HCS_UVM_DEFAULT_CMDLINE;
}

void hcs_uvm_config_init_defaults(struct hcs_uvm_config *cfg, unsigned host_cpus)
{
        *cfg = (struct hcs_uvm_config){
                .owner = "uvmd",
                .memory_mb = HCS_UVM_DEFAULT_MEMORY_MB,
                .processors = host_cpus == 1 ? 1 : HCS_UVM_DEFAULT_PROCESSORS,
                .allow_overcommit = true,
                .deferred_commit = false,
                .kernel_cmdline = HCS_UVM_DEFAULT_CMDLINE,
                .scsi_controllers = 1,
                .vpmem_count = HCS_VPMEM_DEFAULT_COUNT,
                .vpmem_size_bytes = HCS_VPMEM_DEFAULT_SIZE_BYTES,
        };
}

/* ---- UVM config validation ---- */

static int validate_topology(const struct hcs_uvm_config *cfg, struct uvm_error **err)
{
        if (cfg->memory_mb < HCS_UVM_MIN_MEMORY_MB || cfg->memory_mb > HCS_UVM_MAX_MEMORY_MB)
                return uvm_error_set(err, EINVAL, "memory %" PRIu32 " MB is outside %u..%u MB",
                                     cfg->memory_mb, HCS_UVM_MIN_MEMORY_MB, HCS_UVM_MAX_MEMORY_MB);
        if (cfg->memory_mb % 2)
                return uvm_error_set(err, EINVAL,
                                     "memory %" PRIu32 " MB is odd (validate the config first)",
                                     cfg->memory_mb);
        if (cfg->processors == 0)
                return uvm_error_set(err, EINVAL, "processor count is 0");
        if (cfg->deferred_commit && !cfg->allow_overcommit)
                return uvm_error_set(err, EINVAL,
                                     "deferred commit needs overcommit (allow_overcommit)");
        return 0;
}

static int validate_identity_boot(const struct hcs_uvm_config *cfg, struct uvm_error **err)
{
        int r;

        if ((r = hcs_check_text("compute system id", cfg->id, HCS_ID_MAX, false, err)) < 0 ||
            (r = hcs_check_text("owner", cfg->owner, HCS_ID_MAX, false, err)) < 0)
                return r;
        if (STR_EMPTY(cfg->kernel_path) || STR_EMPTY(cfg->initrd_path))
                return uvm_error_set(err, EINVAL,
                                     "kernel-direct boot needs a kernel and an initrd path");
        if ((r = hcs_check_host_path("kernel path", cfg->kernel_path, err)) < 0 ||
            (r = hcs_check_host_path("initrd path", cfg->initrd_path, err)) < 0)
                return r;
        return hcs_check_text("kernel command line", cmdline_of(cfg), HCS_CMDLINE_MAX, true, err);
}

static int validate_scsi_attachment(const struct hcs_uvm_config *cfg, size_t i,
                                    struct uvm_error **err)
{
        const struct hcs_scsi_attachment *a = &cfg->scsi[i];
        int r;

        if (a->controller >= cfg->scsi_controllers)
                return uvm_error_set(err, EINVAL,
                                     "SCSI disk %zu: controller %u, the VM has %" PRIu32, i,
                                     a->controller, cfg->scsi_controllers);
        if (a->lun >= HCS_SCSI_MAX_LUNS)
                return uvm_error_set(err, EINVAL, "SCSI disk %zu: LUN %u is not below %u", i,
                                     a->lun, HCS_SCSI_MAX_LUNS);
        if ((r = hcs_check_host_path("SCSI disk path", a->path, err)) < 0)
                return r;
        if (a->type && !STR_EQ(a->type, "VirtualDisk") && !STR_EQ(a->type, "PassThru"))
                return uvm_error_set(err, EINVAL, "SCSI disk %zu: type \"%.32s\" is unknown", i,
                                     a->type);
        for (size_t j = 0; j < i; j++)
                if (cfg->scsi[j].controller == a->controller && cfg->scsi[j].lun == a->lun)
                        return uvm_error_set(err, EINVAL,
                                             "SCSI disks %zu and %zu both use controller %u LUN %u",
                                             j, i, a->controller, a->lun);
        return 0;
}

static int validate_scsi(const struct hcs_uvm_config *cfg, struct uvm_error **err)
{
        size_t per_controller[HCS_SCSI_MAX_CONTROLLERS] = {0};
        int r;

        if (cfg->scsi_controllers > HCS_SCSI_MAX_CONTROLLERS)
                return uvm_error_set(err, EINVAL, "%" PRIu32 " SCSI controllers: at most %u",
                                     cfg->scsi_controllers, HCS_SCSI_MAX_CONTROLLERS);
        if (cfg->n_scsi && !cfg->scsi)
                return uvm_error_set(err, EINVAL, "SCSI disks missing");
        for (size_t i = 0; i < cfg->n_scsi; i++) {
                unsigned c = cfg->scsi[i].controller;

                if (c < HCS_SCSI_MAX_CONTROLLERS && ++per_controller[c] > HCS_SCSI_MAX_LUNS)
                        return uvm_error_set(err, EINVAL,
                                             "more than %u disks on SCSI controller %u",
                                             HCS_SCSI_MAX_LUNS, c);
        }
        for (size_t i = 0; i < cfg->n_scsi; i++)
                if ((r = validate_scsi_attachment(cfg, i, err)) < 0)
                        return r;
        return 0;
}

static int validate_vpmem(const struct hcs_uvm_config *cfg, struct uvm_error **err)
{
        if (cfg->vpmem_count > HCS_VPMEM_MAX_COUNT)
                return uvm_error_set(err, EINVAL, "%" PRIu32 " VPMem devices: at most %u",
                                     cfg->vpmem_count, HCS_VPMEM_MAX_COUNT);
        if (cfg->vpmem_count &&
            (cfg->vpmem_size_bytes == 0 || cfg->vpmem_size_bytes % HCS_VPMEM_ALIGN))
                return uvm_error_set(err, EINVAL,
                                     "VPMem device size %" PRIu64
                                     " is not a non-zero multiple of %u bytes",
                                     cfg->vpmem_size_bytes, HCS_VPMEM_ALIGN);
        return 0;
}

static int validate_hvsocket(const struct hcs_uvm_config *cfg, struct uvm_error **err)
{
        int r;

        if (cfg->default_bind_sddl &&
            (r = hcs_check_text("default bind descriptor", cfg->default_bind_sddl, HCS_SDDL_MAX,
                                false, err)) < 0)
                return r;
        if (cfg->bridge_service_id &&
            (r = hcs_check_guid("bridge service id", cfg->bridge_service_id, err)) < 0)
                return r;
        if (cfg->n_hvsock && !cfg->hvsock)
                return uvm_error_set(err, EINVAL, "HvSocket services missing");
        for (size_t i = 0; i < cfg->n_hvsock; i++) {
                const struct hcs_hvsocket_service *s = &cfg->hvsock[i];

                if ((r = hcs_check_guid("HvSocket service id", s->service_id, err)) < 0 ||
                    (s->bind_sddl && (r = hcs_check_text("bind descriptor", s->bind_sddl,
                                                         HCS_SDDL_MAX, false, err)) < 0) ||
                    (s->connect_sddl && (r = hcs_check_text("connect descriptor", s->connect_sddl,
                                                            HCS_SDDL_MAX, false, err)) < 0))
                        return r;
                if (cfg->bridge_service_id && hcs_guid_equal(s->service_id, cfg->bridge_service_id))
                        return uvm_error_set(err, EINVAL,
                                             "HvSocket service %s is the bridge's service",
                                             s->service_id);
                for (size_t j = 0; j < i; j++)
                        if (hcs_guid_equal(cfg->hvsock[j].service_id, s->service_id))
                                return uvm_error_set(err, EINVAL,
                                                     "HvSocket service %s is listed twice",
                                                     s->service_id);
        }
        return 0;
}

static int validate_shares(const struct hcs_uvm_config *cfg, struct uvm_error **err)
{
        int r;

        if (cfg->n_shares && !cfg->shares)
                return uvm_error_set(err, EINVAL, "Plan9 shares missing");
        for (size_t i = 0; i < cfg->n_shares; i++) {
                const struct hcs_plan9_share *s = &cfg->shares[i];

                if ((r = hcs_check_share_name("Plan9 share name", s->name, err)) < 0 ||
                    (r = hcs_check_host_path("Plan9 share path", s->host_path, err)) < 0 ||
                    (s->allowed_file &&
                     (r = hcs_check_file_name("Plan9 share file", s->allowed_file, err)) < 0))
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (STR_EQ(cfg->shares[j].name, s->name))
                                return uvm_error_set(err, EINVAL,
                                                     "Plan9 share name \"%s\" is used twice",
                                                     s->name);
        }
        return 0;
}

static int validate_nics(const struct hcs_uvm_config *cfg, struct uvm_error **err)
{
        char mac[18];
        int r;

        if (cfg->n_nics && !cfg->nics)
                return uvm_error_set(err, EINVAL, "network adapters missing");
        for (size_t i = 0; i < cfg->n_nics; i++) {
                const struct hcs_net_adapter *n = &cfg->nics[i];

                if ((r = hcs_check_guid("network endpoint id", n->endpoint_id, err)) < 0 ||
                    (n->mac && (r = hcs_mac_normalize("MAC address", n->mac, mac, err)) < 0))
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (hcs_guid_equal(cfg->nics[j].endpoint_id, n->endpoint_id))
                                return uvm_error_set(err, EINVAL,
                                                     "network endpoint %s is attached twice",
                                                     n->endpoint_id);
        }
        return 0;
}

static int validate_all(const struct hcs_uvm_config *cfg, struct uvm_error **err)
{
        int r;

        if ((r = validate_identity_boot(cfg, err)) < 0 || (r = validate_topology(cfg, err)) < 0 ||
            (r = validate_scsi(cfg, err)) < 0 || (r = validate_vpmem(cfg, err)) < 0 ||
            (r = validate_hvsocket(cfg, err)) < 0 || (r = validate_shares(cfg, err)) < 0 ||
            (r = validate_nics(cfg, err)) < 0)
                return r;
        return 0;
}

int hcs_uvm_config_validate(struct hcs_uvm_config *cfg, unsigned host_cpus, struct uvm_error **err)
{
        if (host_cpus == 0)
                host_cpus = 1;
        /* Range first, so that rounding cannot overflow or leave the range
         * (the maximum is even). */
        if (cfg->memory_mb >= HCS_UVM_MIN_MEMORY_MB && cfg->memory_mb <= HCS_UVM_MAX_MEMORY_MB)
                cfg->memory_mb += cfg->memory_mb % 2; /* HCS backs memory in 2 MB units */
        if (cfg->processors > host_cpus)
                cfg->processors = host_cpus;
        return validate_all(cfg, err);
}

/* ---- JSON building ----
 * Objects are built bottom-up: a child is complete before it is added, so
 * a failed add (out of memory) frees it and nothing points into it. */

static json_object *jstr(const char *s)
{
        return json_object_new_string(s ? s : "");
}

/* o[key] = v, taking v; on any failure v is released and *oom set. */
static void put(bool *oom, json_object *o, const char *key, json_object *v)
{
        if (!o || !v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                *oom = true;
        }
}

static void append(bool *oom, json_object *a, json_object *v)
{
        if (!a || !v || json_object_array_add(a, v) < 0) {
                json_object_put(v);
                *oom = true;
        }
}

static json_object *schema_version(void)
{
        json_object *v = json_object_new_object();
        bool oom = false;

        put(&oom, v, "Major", json_object_new_int(2));
        put(&oom, v, "Minor", json_object_new_int(1));
        if (oom) {
                json_object_put(v);
                return NULL;
        }
        return v;
}

/* Serialize root (always released) into *ret_json. */
static int finish(json_object *root, bool oom, const char *what, char **ret_json,
                  struct uvm_error **err)
{
        _cleanup_json_ json_object *o = root;
        const char *s;
        char *copy;

        if (oom || !o)
                return uvm_error_set(err, ENOMEM, "out of memory building the %s document", what);
        s = json_object_to_json_string_ext(o,
                                           JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        copy = s ? strdup(s) : NULL;
        if (!copy)
                return uvm_error_set(err, ENOMEM, "out of memory writing the %s document", what);
        *ret_json = copy;
        return 0;
}

/* ---- the UVM document ---- */

static json_object *uvm_chipset(const struct hcs_uvm_config *cfg, bool *oom)
{
        json_object *chipset = json_object_new_object(), *direct = json_object_new_object();

        put(oom, direct, "KernelFilePath", jstr(cfg->kernel_path));
        put(oom, direct, "InitRdPath", jstr(cfg->initrd_path));
        put(oom, direct, "KernelCmdLine", jstr(cmdline_of(cfg)));
        put(oom, chipset, "LinuxKernelDirect", direct);
        return chipset;
}

static json_object *uvm_topology(const struct hcs_uvm_config *cfg, bool *oom)
{
        json_object *topo = json_object_new_object(), *mem = json_object_new_object(),
                    *cpu = json_object_new_object();

        put(oom, mem, "SizeInMB", json_object_new_int64(cfg->memory_mb));
        put(oom, mem, "AllowOvercommit", json_object_new_boolean(cfg->allow_overcommit));
        put(oom, mem, "EnableDeferredCommit", json_object_new_boolean(cfg->deferred_commit));
        put(oom, cpu, "Count", json_object_new_int64(cfg->processors));
        put(oom, topo, "Memory", mem);
        put(oom, topo, "Processor", cpu);
        return topo;
}

static json_object *scsi_attachment(const struct hcs_scsi_attachment *a, bool *oom)
{
        json_object *o = json_object_new_object();

        put(oom, o, "Type", jstr(a->type ? a->type : "VirtualDisk"));
        put(oom, o, "Path", jstr(a->path));
        put(oom, o, "ReadOnly", json_object_new_boolean(a->read_only));
        return o;
}

/* {"<controller guid>": {"Attachments": {"<lun>": {...}}}}: every
 * controller, empty ones too, so that disks can be hot-added to them. */
static json_object *uvm_scsi(const struct hcs_uvm_config *cfg, bool *oom)
{
        json_object *scsi = json_object_new_object();

        for (unsigned c = 0; c < cfg->scsi_controllers; c++) {
                json_object *ctrl = json_object_new_object(), *atts = json_object_new_object();

                for (size_t i = 0; i < cfg->n_scsi; i++) {
                        char lun[16];

                        if (cfg->scsi[i].controller != c)
                                continue;
                        snprintf(lun, sizeof(lun), "%u", cfg->scsi[i].lun);
                        put(oom, atts, lun, scsi_attachment(&cfg->scsi[i], oom));
                }
                put(oom, ctrl, "Attachments", atts);
                put(oom, scsi, hcs_scsi_controller_guids[c], ctrl);
        }
        return scsi;
}

static json_object *hvsocket_service(const char *bind, const char *connect, bool wildcard,
                                     bool *oom)
{
        json_object *o = json_object_new_object();

        if (bind)
                put(oom, o, "BindSecurityDescriptor", jstr(bind));
        if (connect)
                put(oom, o, "ConnectSecurityDescriptor", jstr(connect));
        put(oom, o, "AllowWildcardBinds", json_object_new_boolean(wildcard));
        return o;
}

static json_object *uvm_hvsocket(const struct hcs_uvm_config *cfg, bool *oom)
{
        const char *sddl = cfg->default_bind_sddl ? cfg->default_bind_sddl : HCS_DEFAULT_BIND_SDDL;
        json_object *hv = json_object_new_object(), *conf = json_object_new_object(), *table;

        put(oom, conf, "DefaultBindSecurityDescriptor", jstr(sddl));
        if (cfg->bridge_service_id || cfg->n_hvsock) {
                table = json_object_new_object();
                /* uvmd may bind (listen for the agent) or connect to it. */
                if (cfg->bridge_service_id)
                        put(oom, table, cfg->bridge_service_id,
                            hvsocket_service(sddl, sddl, true, oom));
                for (size_t i = 0; i < cfg->n_hvsock; i++) {
                        const struct hcs_hvsocket_service *s = &cfg->hvsock[i];

                        put(oom, table, s->service_id,
                            hvsocket_service(s->bind_sddl, s->connect_sddl, s->allow_wildcard_binds,
                                             oom));
                }
                put(oom, conf, "ServiceTable", table);
        }
        put(oom, hv, "HvSocketConfig", conf);
        return hv;
}

/* A Plan9Share; with_path false for a removal (HCS finds it by name). A
 * file's share is its directory restricted to it, as hcsshim's. */
static json_object *plan9_share(const struct hcs_plan9_share *s, bool with_path, bool *oom)
{
        json_object *o = json_object_new_object(), *files;
        uint32_t flags = PLAN9_FLAG_LINUX_METADATA | (s->read_only ? PLAN9_FLAG_READ_ONLY : 0) |
                         (s->allowed_file ? PLAN9_FLAG_RESTRICT_FILE_ACCESS : 0);

        put(oom, o, "Name", jstr(s->name));
        put(oom, o, "AccessName", jstr(s->name));
        if (with_path) {
                put(oom, o, "Path", jstr(s->host_path));
                put(oom, o, "Flags", json_object_new_int64(flags));
                if (s->allowed_file) {
                        files = json_object_new_array();
                        append(oom, files, jstr(s->allowed_file));
                        put(oom, o, "AllowedFiles", files);
                }
        }
        put(oom, o, "Port", json_object_new_int64(s->port ? s->port : HCS_PLAN9_DEFAULT_PORT));
        return o;
}

/* Always present, even without shares: HCS hot-adds shares only to a VM
 * created with a Plan9 device. */
static json_object *uvm_plan9(const struct hcs_uvm_config *cfg, bool *oom)
{
        json_object *plan9 = json_object_new_object(), *shares;

        if (cfg->n_shares) {
                shares = json_object_new_array();
                for (size_t i = 0; i < cfg->n_shares; i++)
                        append(oom, shares, plan9_share(&cfg->shares[i], true, oom));
                put(oom, plan9, "Shares", shares);
        }
        return plan9;
}

static json_object *net_adapter(const struct hcs_net_adapter *n, bool *oom)
{
        json_object *o = json_object_new_object();
        char mac[18];

        put(oom, o, "EndpointId", jstr(n->endpoint_id));
        if (n->mac && hcs_mac_normalize("MAC address", n->mac, mac, NULL) == 0)
                put(oom, o, "MacAddress", jstr(mac));
        return o;
}

static json_object *uvm_devices(const struct hcs_uvm_config *cfg, bool *oom)
{
        json_object *dev = json_object_new_object();

        if (cfg->scsi_controllers)
                put(oom, dev, "Scsi", uvm_scsi(cfg, oom));
        if (cfg->vpmem_count) {
                json_object *pmem = json_object_new_object();

                put(oom, pmem, "MaximumCount", json_object_new_int64(cfg->vpmem_count));
                put(oom, pmem, "MaximumSizeBytes",
                    json_object_new_int64((int64_t) cfg->vpmem_size_bytes));
                put(oom, dev, "VirtualPMem", pmem);
        }
        put(oom, dev, "HvSocket", uvm_hvsocket(cfg, oom));
        put(oom, dev, "Plan9", uvm_plan9(cfg, oom));
        if (cfg->n_nics) {
                json_object *nics = json_object_new_object();

                for (size_t i = 0; i < cfg->n_nics; i++)
                        put(oom, nics, cfg->nics[i].endpoint_id, net_adapter(&cfg->nics[i], oom));
                put(oom, dev, "NetworkAdapters", nics);
        }
        return dev;
}

int hcs_uvm_document(const struct hcs_uvm_config *cfg, char **ret_json, struct uvm_error **err)
{
        json_object *root, *vm;
        bool oom = false;
        int r;

        if ((r = validate_all(cfg, err)) < 0)
                return r;
        root = json_object_new_object();
        vm = json_object_new_object();
        put(&oom, root, "Owner", jstr(cfg->owner));
        put(&oom, root, "SchemaVersion", schema_version());
        /* A restarted uvmd reopens the VM (HcsOpenComputeSystem) and its pods
         * keep running: the VM must outlive uvmd's handle. It is stopped
         * only by an explicit terminate (pod stop, or the undo of a failed
         * create). */
        put(&oom, root, "ShouldTerminateOnLastHandleClosed", json_object_new_boolean(false));
        put(&oom, vm, "StopOnReset", json_object_new_boolean(true));
        put(&oom, vm, "Chipset", uvm_chipset(cfg, &oom));
        put(&oom, vm, "ComputeTopology", uvm_topology(cfg, &oom));
        put(&oom, vm, "Devices", uvm_devices(cfg, &oom));
        put(&oom, root, "VirtualMachine", vm);
        return finish(root, oom, "UVM", ret_json, err);
}

/* ---- a container hosted in the UVM ---- */

/* text as exactly one JSON object (json_tokener_parse would accept
 * trailing garbage). */
static int parse_object(const char *what, const char *text, size_t max, json_object **ret,
                        struct uvm_error **err)
{
        json_tokener *tok;
        json_object *o;
        size_t len;
        int r;

        if (!text || !*text)
                return uvm_error_set(err, EINVAL, "%s is empty", what);
        len = strnlen(text, max + 1);
        if (len > max)
                return uvm_error_set(err, EINVAL, "%s is larger than %zu bytes", what, max);
        tok = json_tokener_new();
        if (!tok)
                return uvm_error_set(err, ENOMEM, "out of memory parsing %s", what);
        o = json_tokener_parse_ex(tok, text, (int) len);
        r = json_tokener_get_error(tok) == json_tokener_success && (size_t) tok->char_offset == len;
        json_tokener_free(tok);
        if (!r || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return uvm_error_set(err, EINVAL, "%s is not one JSON object", what);
        }
        *ret = o;
        return 0;
}

static int check_layers(const struct hcs_hosted_config *cfg, struct uvm_error **err)
{
        int r;

        if (cfg->n_layers > HCS_HOSTED_MAX_LAYERS || (cfg->n_layers && !cfg->layers))
                return uvm_error_set(err, EINVAL, "%zu layers: at most %u", cfg->n_layers,
                                     HCS_HOSTED_MAX_LAYERS);
        for (size_t i = 0; i < cfg->n_layers; i++)
                if ((r = hcs_check_guest_path("layer path", cfg->layers[i], err)) < 0)
                        return r;
        return 0;
}

static json_object *hosted_layers(const struct hcs_hosted_config *cfg, bool *oom)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < cfg->n_layers; i++) {
                json_object *l = json_object_new_object();

                put(oom, l, "Path", jstr(cfg->layers[i]));
                append(oom, a, l);
        }
        return a;
}

int hcs_hosted_document(const struct hcs_hosted_config *cfg, char **ret_json,
                        struct uvm_error **err)
{
        json_object *root, *hosted, *spec = NULL;
        bool oom = false;
        int r;

        if ((r = hcs_check_text("owner", cfg->owner, HCS_ID_MAX, false, err)) < 0 ||
            (r = hcs_check_text("hosting system id", cfg->hosting_system_id, HCS_ID_MAX, false,
                                err)) < 0 ||
            (r = hcs_check_guest_path("OCI bundle path", cfg->bundle_path, err)) < 0 ||
            (r = hcs_check_guest_path("scratch directory", cfg->scratch_dir_path, err)) < 0 ||
            (r = check_layers(cfg, err)) < 0 ||
            (r = parse_object("OCI spec", cfg->oci_spec_json, HCS_OCI_SPEC_MAX, &spec, err)) < 0)
                return r;
        root = json_object_new_object();
        hosted = json_object_new_object();
        put(&oom, root, "Owner", jstr(cfg->owner));
        put(&oom, root, "SchemaVersion", schema_version());
        /* As the VM's: a container outlives a restart of uvmd. */
        put(&oom, root, "ShouldTerminateOnLastHandleClosed", json_object_new_boolean(false));
        put(&oom, root, "HostingSystemId", jstr(cfg->hosting_system_id));
        put(&oom, hosted, "SchemaVersion", schema_version());
        put(&oom, hosted, "OciBundlePath", jstr(cfg->bundle_path));
        put(&oom, hosted, "OciSpecification", spec);
        put(&oom, hosted, "ScratchDirPath", jstr(cfg->scratch_dir_path));
        if (cfg->n_layers)
                put(&oom, hosted, "Layers", hosted_layers(cfg, &oom));
        put(&oom, root, "HostedSystem", hosted);
        return finish(root, oom, "hosted container", ret_json, err);
}

/* ---- ModifySettingRequests ---- */

static int modify_request(enum hcs_request_type type, const char *resource, json_object *settings,
                          bool oom, const char *what, char **ret_json, struct uvm_error **err)
{
        json_object *root = json_object_new_object();

        put(&oom, root, "ResourcePath", jstr(resource));
        put(&oom, root, "RequestType", jstr(type == HCS_REQUEST_ADD ? "Add" : "Remove"));
        if (settings)
                put(&oom, root, "Settings", settings);
        return finish(root, oom, what, ret_json, err);
}

static int check_request_type(enum hcs_request_type type, struct uvm_error **err)
{
        if (type != HCS_REQUEST_ADD && type != HCS_REQUEST_REMOVE)
                return uvm_error_set(err, EINVAL, "request type %d is neither add nor remove",
                                     (int) type);
        return 0;
}

int hcs_modify_nic_document(enum hcs_request_type type, const struct hcs_net_adapter *nic,
                            char **ret_json, struct uvm_error **err)
{
        char resource[128], mac[18];
        bool oom = false;
        int r;

        if ((r = check_request_type(type, err)) < 0 ||
            (r = hcs_check_guid("network endpoint id", nic->endpoint_id, err)) < 0 ||
            (nic->mac && (r = hcs_mac_normalize("MAC address", nic->mac, mac, err)) < 0))
                return r;
        snprintf(resource, sizeof(resource), "VirtualMachine/Devices/NetworkAdapters/%s",
                 nic->endpoint_id);
        return modify_request(type, resource, net_adapter(nic, &oom), oom, "NIC", ret_json, err);
}

int hcs_modify_scsi_document(enum hcs_request_type type, const struct hcs_scsi_attachment *att,
                             char **ret_json, struct uvm_error **err)
{
        struct hcs_uvm_config one = {.scsi_controllers = HCS_SCSI_MAX_CONTROLLERS};
        json_object *settings = NULL;
        char resource[128];
        bool oom = false;
        int r;

        if ((r = check_request_type(type, err)) < 0)
                return r;
        if (type == HCS_REQUEST_ADD) {
                one.scsi = att;
                one.n_scsi = 1;
                if ((r = validate_scsi(&one, err)) < 0)
                        return r;
                settings = scsi_attachment(att, &oom);
        } else if (att->controller >= HCS_SCSI_MAX_CONTROLLERS || att->lun >= HCS_SCSI_MAX_LUNS) {
                return uvm_error_set(err, EINVAL, "SCSI controller %u LUN %u is out of range",
                                     att->controller, att->lun);
        }
        snprintf(resource, sizeof(resource), "VirtualMachine/Devices/Scsi/%s/Attachments/%u",
                 hcs_scsi_controller_guids[att->controller], att->lun);
        return modify_request(type, resource, settings, oom, "SCSI disk", ret_json, err);
}

int hcs_modify_plan9_document(enum hcs_request_type type, const struct hcs_plan9_share *share,
                              char **ret_json, struct uvm_error **err)
{
        bool add = type == HCS_REQUEST_ADD, oom = false;
        json_object *settings;
        int r;

        if ((r = check_request_type(type, err)) < 0 ||
            (r = hcs_check_share_name("Plan9 share name", share->name, err)) < 0 ||
            (add && (r = hcs_check_host_path("Plan9 share path", share->host_path, err)) < 0) ||
            (add && share->allowed_file &&
             (r = hcs_check_file_name("Plan9 share file", share->allowed_file, err)) < 0))
                return r;
        settings = plan9_share(share, add, &oom);
        return modify_request(type, "VirtualMachine/Devices/Plan9/Shares", settings, oom,
                              "Plan9 share", ret_json, err);
}
