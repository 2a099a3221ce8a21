/*
 * The hcs driver's documents: UVM, hosted container and modify requests
 * compared field by field with golden files (embedded: the executable runs
 * alone under Wine), and each validation rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/json.h"
#include "sandbox/drivers/hcs/documents.h"
#include "tests/unit/hcs_docs/json_diff.h"

#define GOLDEN(name)                                                                               \
        extern const unsigned char golden_##name[];                                                \
        extern const size_t golden_##name##_len;
GOLDEN(uvm_default)
GOLDEN(uvm_custom)
GOLDEN(hosted)
GOLDEN(modify)

#define KERNEL "C:\\ProgramData\\uvmd\\vmlinux"
#define INITRD "C:\\ProgramData\\uvmd\\initrd.img"
#define EP1 "6a1b6f2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define EP2 "7B2C7F3F-4D5E-4F60-9BAC-1D2E3F4A5B6C"

/* Compare document text with a golden value; fail naming the JSON path. */
static void assert_matches(const char *json, json_object *want)
{
        _cleanup_json_ json_object *got = NULL;
        char where[2048];

        assert_non_null(json);
        got = json_parse_exact(json, strlen(json));
        assert_non_null(got);
        if (json_diff(want, got, where, sizeof(where))) {
                print_error("document differs from golden at %s\n", where);
                fail();
        }
}

static json_object *golden(const unsigned char *text, size_t len)
{
        json_object *o = json_parse_exact((const char *) text, len);

        assert_non_null(o);
        return o;
}

static void base_config(struct hcs_uvm_config *c, unsigned host_cpus)
{
        hcs_uvm_config_init_defaults(c, host_cpus);
        c->id = "pod1@vm";
        c->kernel_path = KERNEL;
        c->initrd_path = INITRD;
}

/* validate must refuse c with -EINVAL and a message holding needle. */
static void assert_refused(struct hcs_uvm_config *c, unsigned host_cpus, const char *needle)
{
        _cleanup_error_ struct uvm_error *err = NULL;

        assert_int_equal(hcs_uvm_config_validate(c, host_cpus, &err), -EINVAL);
        assert_non_null(err);
        if (!strstr(err->msg, needle)) {
                print_error("message \"%s\" lacks \"%s\"\n", err->msg, needle);
                fail();
        }
}

static void assert_accepted(struct hcs_uvm_config *c, unsigned host_cpus)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        int r = hcs_uvm_config_validate(c, host_cpus, &err);

        if (r < 0)
                print_error("refused: %s\n", err->msg);
        assert_int_equal(r, 0);
}

static void test_json_diff_finds_differences(void **state)
{
        static const char *want = "{\"a\":{\"b\":[1,{\"c\":true}],\"d\":\"x\"}}";
        static const struct {
                const char *got, *where;
        } cases[] = {
                {"{\"a\":{\"d\":\"x\",\"b\":[1,{\"c\":true}]}}", ""}, /* key order */
                {"{\"a\":{\"b\":[1,{\"c\":false}],\"d\":\"x\"}}", "$.a.b[1].c: false, want true"},
                {"{\"a\":{\"b\":[1],\"d\":\"x\"}}", "$.a.b: 1 elements, want 2"},
                {"{\"a\":{\"b\":[1,{\"c\":true}]}}", "$.a: key \"d\" missing"},
                {"{\"a\":{\"b\":[1,{\"c\":true}],\"d\":\"x\",\"e\":0}}",
                 "$.a: unexpected key \"e\""},
                {"{\"a\":{\"b\":[\"1\",{\"c\":true}],\"d\":\"x\"}}",
                 "$.a.b[0]: a string, want a int"},
        };
        _cleanup_json_ json_object *w = json_parse_exact(want, strlen(want));

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                _cleanup_json_ json_object *g =
                        json_parse_exact(cases[i].got, strlen(cases[i].got));
                char where[256];

                assert_non_null(g);
                assert_int_equal(json_diff(w, g, where, sizeof(where)), cases[i].where[0] != 0);
                assert_string_equal(where, cases[i].where);
        }
        assert_null(json_parse_exact("{} x", 4));
}

static void test_defaults(void **state)
{
        struct hcs_uvm_config c;

        hcs_uvm_config_init_defaults(&c, 1);
        assert_int_equal(c.processors, 1);
        hcs_uvm_config_init_defaults(&c, 8);
        assert_int_equal(c.processors, 2);
        assert_int_equal(c.memory_mb, 1024);
        assert_true(c.allow_overcommit);
        assert_false(c.deferred_commit);
        assert_int_equal(c.scsi_controllers, 1);
        assert_int_equal(c.vpmem_count, 64);
        assert_true(c.vpmem_size_bytes == 4ull << 30);
}

static void test_uvm_default_document(void **state)
{
        _cleanup_json_ json_object *want = golden(golden_uvm_default, golden_uvm_default_len);
        _cleanup_error_ struct uvm_error *err = NULL;
        _cleanup_free_ char *json = NULL;
        struct hcs_uvm_config c;

        base_config(&c, 8);
        assert_int_equal(hcs_uvm_config_validate(&c, 8, &err), 0);
        assert_int_equal(hcs_uvm_document(&c, &json, &err), 0);
        assert_null(err);
        assert_matches(json, want);
}

static const struct hcs_scsi_attachment custom_disks[] = {
        {0, 0, "C:\\uvmd\\pods\\p1\\scratch.vhdx", false, NULL},
        {0, 1, "C:\\uvmd\\layers\\Jos\xc3\xa9\\layer.vhd", true, NULL},
        {2, 63, "C:\\uvmd\\layers\\base.vhd", true, "VirtualDisk"},
        {1, 3, "\\\\.\\PhysicalDrive2", false, "PassThru"},
};
static const struct hcs_hvsocket_service custom_services[] = {
        {"0000006d-facb-11e6-bd58-64006a7986d3", "D:P(A;;FA;;;SY)", NULL, true},
        {"ABCDEF01-2345-6789-ABCD-EF0123456789", NULL, "D:P(A;;FA;;;BA)", false},
};
static const struct hcs_plan9_share custom_shares[] = {
        {"ctr-logs", "C:\\uvmd\\logs\\p1", 0, false},
        {"cfg.ro", "C:\\uvmd\\cfg", 5640, true},
};
static const struct hcs_net_adapter custom_nics[] = {
        {EP1, "00:15:5d:0a:0b:0c"},
        {EP2, NULL},
};

static void custom_config(struct hcs_uvm_config *c, char bridge[HCS_GUID_LEN + 1])
{
        hcs_uvm_config_init_defaults(c, 4);
        hcs_vsock_service_id(0x40000000, bridge);
        c->id = "0123abcd@vm";
        c->owner = "uvmd-test";
        c->memory_mb = 2047;
        c->processors = 16;
        c->allow_overcommit = false;
        c->kernel_path = "C:\\uvmd\\boot\\vmlinux";
        c->initrd_path = "\\\\?\\C:\\uvmd\\boot\\initrd.img";
        c->kernel_cmdline = "console=hvc0 quiet";
        c->scsi_controllers = 3;
        c->scsi = custom_disks;
        c->n_scsi = 4;
        c->vpmem_count = 8;
        c->vpmem_size_bytes = 1ull << 30;
        c->bridge_service_id = bridge;
        c->hvsock = custom_services;
        c->n_hvsock = 2;
        c->shares = custom_shares;
        c->n_shares = 2;
        c->nics = custom_nics;
        c->n_nics = 2;
}

static void test_uvm_custom_document(void **state)
{
        _cleanup_json_ json_object *want = golden(golden_uvm_custom, golden_uvm_custom_len);
        _cleanup_error_ struct uvm_error *err = NULL;
        _cleanup_free_ char *json = NULL;
        char bridge[HCS_GUID_LEN + 1];
        struct hcs_uvm_config c;

        custom_config(&c, bridge);
        assert_int_equal(hcs_uvm_config_validate(&c, 4, &err), 0);
        assert_int_equal(c.memory_mb, 2048);
        assert_int_equal(c.processors, 4);
        assert_int_equal(hcs_uvm_document(&c, &json, &err), 0);
        assert_matches(json, want);
}

static void test_memory_rounding(void **state)
{
        static const struct {
                uint32_t in, out;
        } cases[] = {{1023, 1024}, {1025, 1026}, {1024, 1024}, {65, 66}, {1048575, 1048576}};
        struct hcs_uvm_config c;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                base_config(&c, 2);
                c.memory_mb = cases[i].in;
                assert_accepted(&c, 2);
                assert_int_equal(c.memory_mb, cases[i].out);
        }
        base_config(&c, 2);
        c.memory_mb = 63;
        assert_refused(&c, 2, "memory 63 MB is outside");
        c.memory_mb = 1048577;
        assert_refused(&c, 2, "memory 1048577 MB");
        c.memory_mb = 0;
        assert_refused(&c, 2, "memory 0 MB");
}

static void test_processor_clamp(void **state)
{
        struct hcs_uvm_config c;

        base_config(&c, 4);
        c.processors = 16;
        assert_accepted(&c, 4);
        assert_int_equal(c.processors, 4);
        c.processors = 3;
        assert_accepted(&c, 4);
        assert_int_equal(c.processors, 3);
        c.processors = 2;
        assert_accepted(&c, 0); /* unknown host: 1 CPU */
        assert_int_equal(c.processors, 1);
        c.processors = 0;
        assert_refused(&c, 4, "processor count is 0");
}

static void test_deferred_needs_overcommit(void **state)
{
        struct hcs_uvm_config c;

        base_config(&c, 2);
        c.allow_overcommit = false;
        c.deferred_commit = true;
        assert_refused(&c, 2, "deferred commit needs overcommit");
        c.allow_overcommit = true;
        assert_accepted(&c, 2);
}

static void test_scsi_limits(void **state)
{
        struct hcs_scsi_attachment many[65],
                two[2] = {{0, 5, "C:\\a.vhdx", true, NULL}, {0, 5, "C:\\b.vhdx", true, NULL}};
        struct hcs_uvm_config c;

        base_config(&c, 2);
        c.scsi_controllers = 5;
        assert_refused(&c, 2, "5 SCSI controllers: at most 4");
        c.scsi_controllers = 4;
        assert_accepted(&c, 2);
        for (unsigned i = 0; i < 65; i++)
                many[i] = (struct hcs_scsi_attachment){1, i % 64, "C:\\d.vhdx", true, NULL};
        c.scsi = many;
        c.n_scsi = 65;
        assert_refused(&c, 2, "more than 64 disks on SCSI controller 1");
        c.n_scsi = 64;
        assert_accepted(&c, 2);
        many[0].lun = 64;
        assert_refused(&c, 2, "LUN 64 is not below 64");
        c.scsi = two;
        c.n_scsi = 2;
        assert_refused(&c, 2, "both use controller 0 LUN 5");
        two[1].lun = 6;
        two[1].controller = 3;
        c.scsi_controllers = 2;
        assert_refused(&c, 2, "controller 3, the VM has 2");
        two[1].controller = 1;
        two[1].path = "disks\\b.vhdx";
        assert_refused(&c, 2, "is not an absolute Windows path");
        two[1].path = "C:\\b.vhdx";
        two[1].type = "Floppy";
        assert_refused(&c, 2, "type \"Floppy\" is unknown");
}

static void test_vpmem_limits(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        _cleanup_json_ json_object *doc = NULL;
        _cleanup_free_ char *json = NULL;
        struct hcs_uvm_config c;

        base_config(&c, 2);
        c.vpmem_count = 129;
        assert_refused(&c, 2, "129 VPMem devices: at most 128");
        c.vpmem_count = 128;
        assert_accepted(&c, 2);
        c.vpmem_size_bytes = (1ull << 30) + 1;
        assert_refused(&c, 2, "not a non-zero multiple of 4096");
        c.vpmem_size_bytes = 0;
        assert_refused(&c, 2, "VPMem device size 0");
        /* No VPMem at all: the size does not matter, no controller. */
        c.vpmem_count = 0;
        assert_accepted(&c, 2);
        assert_int_equal(hcs_uvm_document(&c, &json, &err), 0);
        doc = json_parse_exact(json, strlen(json));
        assert_false(json_object_object_get_ex(
                json_object_object_get(json_object_object_get(doc, "VirtualMachine"), "Devices"),
                "VirtualPMem", NULL));
}

static void test_guids(void **state)
{
        static const char *bad[] = {
                "{6a1b6f2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b}",
                "6a1b6f2e3c4d4e5f8a9b0c1d2e3f4a5b",
                "6a1b6f2e-3c4d-4e5f-8a9b-0c1d2e3f4a5",
                "6a1b6f2e-3c4d-4e5f-8a9b-0c1d2e3f4a5bb",
                "6a1b6f2g-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                "6a1b6f2e_3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                "",
        };
        struct hcs_net_adapter nic = {EP1, NULL};
        struct hcs_hvsocket_service svc = {EP2, NULL, NULL, false};
        struct hcs_uvm_config c;
        char id[HCS_GUID_LEN + 1];

        assert_true(hcs_guid_is_valid(EP1));
        assert_true(hcs_guid_is_valid(EP2));
        assert_false(hcs_guid_is_valid(NULL));
        hcs_vsock_service_id(109, id);
        assert_string_equal(id, "0000006d-facb-11e6-bd58-64006a7986d3");
        assert_true(hcs_guid_is_valid(id));
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_false(hcs_guid_is_valid(bad[i]));
                base_config(&c, 2);
                nic.endpoint_id = bad[i];
                c.nics = &nic;
                c.n_nics = 1;
                assert_refused(&c, 2, "network endpoint id");
                base_config(&c, 2);
                svc.service_id = bad[i];
                c.hvsock = &svc;
                c.n_hvsock = 1;
                assert_refused(&c, 2, "HvSocket service id");
                base_config(&c, 2);
                c.bridge_service_id = bad[i];
                assert_refused(&c, 2, "bridge service id");
        }
}

static void test_duplicates(void **state)
{
        struct hcs_plan9_share shares[2] = {{"s1", "C:\\a", 0, false}, {"s1", "C:\\b", 0, true}};
        struct hcs_net_adapter nics[2] = {{EP1, NULL},
                                          {"6A1B6F2E-3C4D-4E5F-8A9B-0C1D2E3F4A5B", NULL}};
        struct hcs_hvsocket_service svcs[2] = {
                {EP2, NULL, NULL, false},
                {"7b2c7f3f-4d5e-4f60-9bac-1d2e3f4a5b6c", NULL, NULL, false}};
        struct hcs_uvm_config c;

        base_config(&c, 2);
        c.shares = shares;
        c.n_shares = 2;
        assert_refused(&c, 2, "Plan9 share name \"s1\" is used twice");
        shares[1].name = "s2";
        assert_accepted(&c, 2);
        shares[1].name = "s/2";
        assert_refused(&c, 2, "may only hold letters");
        base_config(&c, 2);
        c.nics = nics;
        c.n_nics = 2;
        assert_refused(&c, 2, "is attached twice");
        base_config(&c, 2);
        c.hvsock = svcs;
        c.n_hvsock = 2;
        assert_refused(&c, 2, "is listed twice");
        c.n_hvsock = 1;
        c.bridge_service_id = "7B2C7F3F-4d5e-4f60-9bac-1d2e3f4a5b6c";
        assert_refused(&c, 2, "is the bridge's service");
}

static void test_boot_and_strings(void **state)
{
        struct hcs_net_adapter nic = {EP1, "00-15-5D-0A-0B"};
        struct hcs_uvm_config c;
        char long_id[300];

        base_config(&c, 2);
        c.kernel_path = "";
        assert_refused(&c, 2, "needs a kernel and an initrd");
        base_config(&c, 2);
        c.initrd_path = NULL;
        assert_refused(&c, 2, "needs a kernel and an initrd");
        base_config(&c, 2);
        c.kernel_cmdline = "quiet\nroot=/dev/sda";
        assert_refused(&c, 2, "kernel command line has a control character (0x0a)");
        base_config(&c, 2);
        c.kernel_path = "C:\\boot\\vm\xc3linux"; /* truncated UTF-8 sequence */
        assert_refused(&c, 2, "kernel path is not valid UTF-8");
        base_config(&c, 2);
        c.initrd_path = "C:\\boot\\\xed\xa0\x80"; /* a UTF-16 surrogate, encoded */
        assert_refused(&c, 2, "initrd path is not valid UTF-8");
        base_config(&c, 2);
        memset(long_id, 'p', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        c.id = long_id;
        assert_refused(&c, 2, "compute system id is longer than 255 bytes");
        base_config(&c, 2);
        c.nics = &nic;
        c.n_nics = 1;
        assert_refused(&c, 2, "is not a MAC address");
        nic.mac = "00-15-5D:0A:0B:0C";
        assert_refused(&c, 2, "is not a MAC address");
        nic.mac = "00-15-5d-0a-0b-0c";
        assert_accepted(&c, 2);
}

static void test_document_checks_again(void **state)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        char *json = (char *) "untouched";
        struct hcs_uvm_config c;

        base_config(&c, 2);
        c.memory_mb = 1023; /* not validated: odd */
        assert_int_equal(hcs_uvm_document(&c, &json, &err), -EINVAL);
        assert_string_equal(json, "untouched");
        assert_non_null(strstr(err->msg, "is odd"));
}

static const char oci_spec[] =
        "{\"ociVersion\":\"1.1.0\",\"process\":{\"args\":[\"sh\",\"-c\",\"echo h\xc3\xa9llo\"],"
        "\"cwd\":\"/\",\"terminal\":false},\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
        "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"}]}}";

static void test_hosted_document(void **state)
{
        _cleanup_json_ json_object *want = golden(golden_hosted, golden_hosted_len);
        static const char *bad_specs[] = {"", "[1,2]", "{\"a\":1} {}", "{\"a\":", "\"spec\""};
        struct hcs_hosted_config h = {
                .owner = "uvmd",
                .hosting_system_id = "0123abcd@vm",
                .bundle_path = "/run/uvmd/c/ctr1",
                .oci_spec_json = oci_spec,
                .scratch_dir_path = "/run/uvmd/c/ctr1/scratch",
        };
        _cleanup_free_ char *json = NULL;

        assert_int_equal(hcs_hosted_document(&h, &json, NULL), 0);
        assert_matches(json, want);
        for (size_t i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
                _cleanup_error_ struct uvm_error *err = NULL;
                char *out = NULL;

                h.oci_spec_json = bad_specs[i];
                assert_int_equal(hcs_hosted_document(&h, &out, &err), -EINVAL);
                assert_null(out);
                assert_non_null(strstr(err->msg, "OCI spec"));
        }
        h.oci_spec_json = oci_spec;
        h.bundle_path = "run/uvmd/c/ctr1";
        assert_int_equal(hcs_hosted_document(&h, &json, NULL), -EINVAL);
        h.bundle_path = "/run/uvmd/c/ctr1";
        h.hosting_system_id = "";
        assert_int_equal(hcs_hosted_document(&h, &json, NULL), -EINVAL);
}

/* The layers' guest paths, lowest first, as HostedSystem.Layers; left
 * out without layers (the golden has none); a relative one refused. */
static void test_hosted_layers(void **state)
{
        static const char *const layers[] = {"/run/layers/0", "/run/layers/3"};
        static const char *const bad[] = {"/run/layers/0", "run/layers/1"};
        struct hcs_hosted_config h = {
                .owner = "uvmd",
                .hosting_system_id = "0123abcd@vm",
                .bundle_path = "/run/uvmd/c/ctr1",
                .oci_spec_json = oci_spec,
                .scratch_dir_path = "/run/uvmd/c/ctr1/scratch",
                .layers = layers,
                .n_layers = 2,
        };
        _cleanup_error_ struct uvm_error *err = NULL;
        _cleanup_json_ json_object *o = NULL;
        json_object *hosted, *l;
        _cleanup_free_ char *json = NULL;
        char *out = NULL;

        assert_int_equal(hcs_hosted_document(&h, &json, NULL), 0);
        o = json_tokener_parse(json);
        assert_true(json_object_object_get_ex(o, "HostedSystem", &hosted));
        assert_true(json_object_object_get_ex(hosted, "Layers", &l));
        assert_int_equal(json_object_array_length(l), 2);
        assert_string_equal(json_string_of(json_object_array_get_idx(l, 0), "Path"),
                            "/run/layers/0");
        assert_string_equal(json_string_of(json_object_array_get_idx(l, 1), "Path"),
                            "/run/layers/3");
        h.layers = bad;
        assert_int_equal(hcs_hosted_document(&h, &out, &err), -EINVAL);
        assert_null(out);
        assert_non_null(strstr(err->msg, "layer path"));
        h.n_layers = HCS_HOSTED_MAX_LAYERS + 1;
        assert_int_equal(hcs_hosted_document(&h, &out, NULL), -EINVAL);
}

/* One modify request against golden_modify[name]. */
static void assert_modify(json_object *goldens, const char *name, int r, char **json)
{
        json_object *want;

        assert_int_equal(r, 0);
        assert_true(json_object_object_get_ex(goldens, name, &want));
        assert_matches(*json, want);
        free(*json);
        *json = NULL;
}

static void test_modify_documents(void **state)
{
        _cleanup_json_ json_object *g = golden(golden_modify, golden_modify_len);
        struct hcs_net_adapter nic = {EP1, "00:15:5D:0a:0b:0c"};
        struct hcs_scsi_attachment add = {1, 2, "C:\\uvmd\\layers\\l2.vhdx", true, NULL};
        struct hcs_scsi_attachment del = {3, 63, NULL, false, NULL};
        struct hcs_plan9_share share = {"vol1", "C:\\uvmd\\vols\\vol1", 0, true};
        struct hcs_plan9_share unshare = {"vol1", NULL, 0, false};
        /* The kubelet's termination-log file: its directory restricted to it. */
        struct hcs_plan9_share file = {"m3", "C:\\var\\lib\\kubelet\\pods\\uid\\containers\\app", 0,
                                       true, "termination-log"};
        char *json = NULL;

        assert_modify(g, "nic_add", hcs_modify_nic_document(HCS_REQUEST_ADD, &nic, &json, NULL),
                      &json);
        assert_modify(g, "nic_remove",
                      hcs_modify_nic_document(HCS_REQUEST_REMOVE, &nic, &json, NULL), &json);
        assert_modify(g, "scsi_add", hcs_modify_scsi_document(HCS_REQUEST_ADD, &add, &json, NULL),
                      &json);
        assert_modify(g, "scsi_remove",
                      hcs_modify_scsi_document(HCS_REQUEST_REMOVE, &del, &json, NULL), &json);
        assert_modify(g, "plan9_add",
                      hcs_modify_plan9_document(HCS_REQUEST_ADD, &share, &json, NULL), &json);
        assert_modify(g, "plan9_add_file",
                      hcs_modify_plan9_document(HCS_REQUEST_ADD, &file, &json, NULL), &json);
        assert_modify(g, "plan9_remove",
                      hcs_modify_plan9_document(HCS_REQUEST_REMOVE, &unshare, &json, NULL), &json);
}

static void test_modify_refusals(void **state)
{
        struct hcs_net_adapter nic = {"{" EP1 "}", NULL};
        struct hcs_scsi_attachment att = {4, 0, "C:\\a.vhdx", false, NULL};
        struct hcs_plan9_share share = {"vol1", NULL, 0, false};
        char *json = NULL;

        assert_int_equal(hcs_modify_nic_document(HCS_REQUEST_ADD, &nic, &json, NULL), -EINVAL);
        nic.endpoint_id = EP1;
        assert_int_equal(hcs_modify_nic_document((enum hcs_request_type) 7, &nic, &json, NULL),
                         -EINVAL);
        assert_int_equal(hcs_modify_scsi_document(HCS_REQUEST_ADD, &att, &json, NULL), -EINVAL);
        assert_int_equal(hcs_modify_scsi_document(HCS_REQUEST_REMOVE, &att, &json, NULL), -EINVAL);
        att.controller = 0;
        att.lun = 64;
        assert_int_equal(hcs_modify_scsi_document(HCS_REQUEST_REMOVE, &att, &json, NULL), -EINVAL);
        att.lun = 0;
        att.path = "relative.vhdx";
        assert_int_equal(hcs_modify_scsi_document(HCS_REQUEST_ADD, &att, &json, NULL), -EINVAL);
        /* Adding a share needs its host path; removing it does not. */
        assert_int_equal(hcs_modify_plan9_document(HCS_REQUEST_ADD, &share, &json, NULL), -EINVAL);
        share.name = "../etc";
        assert_int_equal(hcs_modify_plan9_document(HCS_REQUEST_REMOVE, &share, &json, NULL),
                         -EINVAL);
        assert_null(json);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_diff_finds_differences),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_uvm_default_document),
                cmocka_unit_test(test_uvm_custom_document),
                cmocka_unit_test(test_memory_rounding),
                cmocka_unit_test(test_processor_clamp),
                cmocka_unit_test(test_deferred_needs_overcommit),
                cmocka_unit_test(test_scsi_limits),
                cmocka_unit_test(test_vpmem_limits),
                cmocka_unit_test(test_guids),
                cmocka_unit_test(test_duplicates),
                cmocka_unit_test(test_boot_and_strings),
                cmocka_unit_test(test_document_checks_again),
                cmocka_unit_test(test_hosted_document),
                cmocka_unit_test(test_hosted_layers),
                cmocka_unit_test(test_modify_documents),
                cmocka_unit_test(test_modify_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
