/* NICs added to a running pod: checks, the per-pod list, and the moves and
 * configuration through `ip` (network/nic_ip.c). */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/macros.h"
#include "network/netns.h"
#include "network/nic.h"
#include "network/nic_ip.h"

#define NIC_LIST_FILE "nics.json"
#define NIC_LIST_MAX_BYTES (256 * 1024)

/* --- checks --- */

int nic_check_id(const char *what, const char *id, struct uvm_error **err)
{
        size_t n = id ? strlen(id) : 0;

        if (n == 0)
                return uvm_error_set(err, EINVAL, "%s is required", what);
        if (n > NIC_ID_MAX)
                return uvm_error_set(err, EINVAL, "%s is longer than %d characters", what,
                                     NIC_ID_MAX);
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) id[i]) && !strchr("_.-", id[i]))
                        return uvm_error_set(err, EINVAL,
                                             "%s '%s': only letters, digits, '_', '.' and '-'",
                                             what, id);
        return 0;
}

int nic_check_ifname(const char *what, const char *name, struct uvm_error **err)
{
        size_t n = name ? strlen(name) : 0;

        if (n == 0 || n > NIC_IFNAME_MAX)
                return uvm_error_set(err, EINVAL, "%s must be 1 to %d characters", what,
                                     NIC_IFNAME_MAX);
        if (STR_EQ(name, ".") || STR_EQ(name, ".."))
                return uvm_error_set(err, EINVAL, "%s '%s' is not a valid interface name", what,
                                     name);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) name[i] <= ' ' || name[i] == 0x7f || name[i] == '/' ||
                    name[i] == ':' || name[i] == '%')
                        return uvm_error_set(err, EINVAL, "%s '%s' is not a valid interface name",
                                             what, name);
        return 0;
}

int nic_check_mac(const char *mac, struct uvm_error **err)
{
        unsigned b[6];
        char tail;
        bool zero = true;

        if (!mac || strlen(mac) != 17 ||
            sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                   &tail) != 6)
                return uvm_error_set(err, EINVAL, "mac '%s' is not of the form xx:xx:xx:xx:xx:xx",
                                     mac ? mac : "");
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? mac[i] != ':' : !isxdigit((unsigned char) mac[i]))
                        return uvm_error_set(err, EINVAL,
                                             "mac '%s' is not of the form xx:xx:xx:xx:xx:xx", mac);
        for (size_t i = 0; i < 6; i++)
                zero = zero && b[i] == 0;
        if (zero || (b[0] & 1))
                return uvm_error_set(err, EINVAL, "mac '%s' is not a unicast address", mac);
        return 0;
}

static int parse_addr(const char *s, int *ret_family)
{
        unsigned char buf[sizeof(struct in6_addr)];

        if (inet_pton(AF_INET, s, buf) == 1)
                *ret_family = AF_INET;
        else if (inet_pton(AF_INET6, s, buf) == 1)
                *ret_family = AF_INET6;
        else
                return -EINVAL;
        return 0;
}

int nic_check_cidr(const char *what, const char *cidr, int *ret_family, struct uvm_error **err)
{
        char addr[INET6_ADDRSTRLEN];
        const char *slash = cidr ? strchr(cidr, '/') : NULL;
        size_t alen = slash ? (size_t) (slash - cidr) : 0;
        char *end;
        long prefix;
        int family;

        if (!slash || alen == 0 || alen >= sizeof(addr) || !isdigit((unsigned char) slash[1]))
                return uvm_error_set(err, EINVAL, "%s '%s' is not an address/prefix", what,
                                     cidr ? cidr : "");
        memcpy(addr, cidr, alen);
        addr[alen] = '\0';
        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (*end || errno || parse_addr(addr, &family) < 0)
                return uvm_error_set(err, EINVAL, "%s '%s' is not an address/prefix", what, cidr);
        if (prefix < 0 || prefix > (family == AF_INET ? 32 : 128))
                return uvm_error_set(err, EINVAL, "%s '%s': prefix length out of range", what,
                                     cidr);
        if (ret_family)
                *ret_family = family;
        return 0;
}

static int check_route(size_t i, const struct nic_route *rt, struct uvm_error **err)
{
        char what[48];
        int fd, fg;

        snprintf(what, sizeof(what), "routes[%zu].destination", i);
        if (nic_check_cidr(what, rt->destination, &fd, err) < 0)
                return -EINVAL;
        if (STR_EMPTY(rt->gateway))
                return 0;
        if (parse_addr(rt->gateway, &fg) < 0)
                return uvm_error_set(err, EINVAL, "routes[%zu].gateway '%s' is not an address", i,
                                     rt->gateway);
        if (fg != fd)
                return uvm_error_set(err, EINVAL,
                                     "routes[%zu]: gateway '%s' and destination '%s' differ in "
                                     "address family",
                                     i, rt->gateway, rt->destination);
        return 0;
}

int nic_check_endpoint(const struct nic_endpoint *ep, bool adding, struct uvm_error **err)
{
        char what[48];

        if (adding && nic_check_ifname("endpoint.host_interface", ep->host_interface, err) < 0)
                return -EINVAL;
        if (!adding && !STR_EMPTY(ep->host_interface))
                return uvm_error_set(err, EINVAL, "endpoint.host_interface cannot be modified");
        if (!STR_EMPTY(ep->interface_name) &&
            nic_check_ifname("endpoint.interface_name", ep->interface_name, err) < 0)
                return -EINVAL;
        if (!STR_EMPTY(ep->mac) && nic_check_mac(ep->mac, err) < 0)
                return -EINVAL;
        if (ep->mtu != 0 && (ep->mtu < NIC_MTU_MIN || ep->mtu > NIC_MTU_MAX))
                return uvm_error_set(err, EINVAL, "endpoint.mtu %u is out of range %d..%d", ep->mtu,
                                     NIC_MTU_MIN, NIC_MTU_MAX);
        if (ep->n_addresses > NIC_MAX_ADDRESSES || ep->n_routes > NIC_MAX_ROUTES)
                return uvm_error_set(err, EINVAL, "at most %d addresses and %d routes",
                                     NIC_MAX_ADDRESSES, NIC_MAX_ROUTES);
        for (size_t i = 0; i < ep->n_addresses; i++) {
                snprintf(what, sizeof(what), "addresses[%zu]", i);
                if (nic_check_cidr(what, ep->addresses[i], NULL, err) < 0)
                        return -EINVAL;
        }
        for (size_t i = 0; i < ep->n_routes; i++)
                if (check_route(i, &ep->routes[i], err) < 0)
                        return -EINVAL;
        return 0;
}

/* --- the per-pod list --- */

struct nic_rec {
        char *nic_id, *ifname, *host_if, *mac; /* mac may be NULL */
        unsigned mtu;
        char *addrs[NIC_MAX_ADDRESSES];
        size_t n_addrs;
        char *dst[NIC_MAX_ROUTES], *gw[NIC_MAX_ROUTES]; /* gw may be NULL */
        size_t n_routes;
        bool guest; /* its addresses are a VM guest's (struct nic_guest) */
};

struct nic_list {
        struct nic_rec v[NIC_MAX_PER_POD];
        size_t n;
};

static void rec_clear(struct nic_rec *r)
{
        free(r->nic_id);
        free(r->ifname);
        free(r->host_if);
        free(r->mac);
        for (size_t i = 0; i < r->n_addrs; i++)
                free(r->addrs[i]);
        for (size_t i = 0; i < r->n_routes; i++) {
                free(r->dst[i]);
                free(r->gw[i]);
        }
        memset(r, 0, sizeof(*r));
}

static void list_free(struct nic_list **l)
{
        if (!*l)
                return;
        for (size_t i = 0; i < (*l)->n; i++)
                rec_clear(&(*l)->v[i]);
        free(*l);
        *l = NULL;
}

static char *dup_or_null(const char *s)
{
        return STR_EMPTY(s) ? NULL : strdup(s);
}

static int rec_set_addrs(struct nic_rec *r, const char *const *a, size_t n)
{
        for (size_t i = 0; i < r->n_addrs; i++)
                free(r->addrs[i]);
        r->n_addrs = 0;
        for (; r->n_addrs < n; r->n_addrs++)
                if (!(r->addrs[r->n_addrs] = strdup(a[r->n_addrs])))
                        return -ENOMEM;
        return 0;
}

static int rec_set_routes(struct nic_rec *r, const struct nic_route *rt, size_t n)
{
        for (size_t i = 0; i < r->n_routes; i++) {
                free(r->dst[i]);
                free(r->gw[i]);
        }
        r->n_routes = 0;
        for (size_t i = 0; i < n; i++) {
                r->dst[i] = strdup(rt[i].destination);
                r->gw[i] = dup_or_null(rt[i].gateway);
                r->n_routes++;
                if (!r->dst[i] || (!STR_EMPTY(rt[i].gateway) && !r->gw[i]))
                        return -ENOMEM;
        }
        return 0;
}

static const char *jstr(json_object *o, const char *key)
{
        json_object *v;

        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v)
                       : NULL;
}

static size_t jarr(json_object *o, const char *key, json_object **ret)
{
        if (!json_object_object_get_ex(o, key, ret) || !json_object_is_type(*ret, json_type_array))
                return 0;
        return json_object_array_length(*ret);
}

/* One entry of the file: checked like a request, it is our own file but a
 * bad one must not become a bad `ip` command line. */
static int rec_decode(json_object *o, struct nic_rec *r, struct uvm_error **err)
{
        const char *addrs[NIC_MAX_ADDRESSES];
        struct nic_route routes[NIC_MAX_ROUTES];
        struct nic_endpoint ep = {0};
        json_object *a = NULL, *rt = NULL, *mtu;
        size_t na = jarr(o, "addresses", &a), nr = jarr(o, "routes", &rt);

        if (!json_object_is_type(o, json_type_object) || na > NIC_MAX_ADDRESSES ||
            nr > NIC_MAX_ROUTES)
                return uvm_error_set(err, EINVAL, "malformed entry");
        for (size_t i = 0; i < na; i++)
                if (!(addrs[i] = json_object_get_string(json_object_array_get_idx(a, i))))
                        return uvm_error_set(err, EINVAL, "malformed address");
        for (size_t i = 0; i < nr; i++) {
                json_object *e = json_object_array_get_idx(rt, i);
                routes[i] = (struct nic_route){jstr(e, "destination"), jstr(e, "gateway")};
        }
        ep = (struct nic_endpoint){jstr(o, "hostInterface"),
                                   jstr(o, "interface"),
                                   jstr(o, "mac"),
                                   addrs,
                                   na,
                                   routes,
                                   nr,
                                   0};
        if (json_object_object_get_ex(o, "mtu", &mtu))
                ep.mtu = (unsigned) json_object_get_int(mtu);
        if (nic_check_id("nicId", jstr(o, "nicId"), err) < 0 ||
            nic_check_ifname("interface", ep.interface_name, err) < 0 ||
            nic_check_endpoint(&ep, true, err) < 0)
                return -EINVAL;
        r->nic_id = strdup(jstr(o, "nicId"));
        r->ifname = strdup(ep.interface_name);
        r->host_if = strdup(ep.host_interface);
        r->mac = dup_or_null(ep.mac);
        r->mtu = ep.mtu;
        r->guest = json_object_get_boolean(json_object_object_get(o, "guest"));
        if (!r->nic_id || !r->ifname || !r->host_if || (ep.mac && !r->mac) ||
            rec_set_addrs(r, addrs, na) < 0 || rec_set_routes(r, routes, nr) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

static char *list_path(const char *pod_dir)
{
        char *p = NULL;

        return asprintf(&p, "%s/" NIC_LIST_FILE, pod_dir) < 0 ? NULL : p;
}

static int list_load(const char *pod_dir, struct nic_list **ret, struct uvm_error **err)
{
        _cleanup_free_ char *path = list_path(pod_dir), *buf = NULL;
        struct nic_list *l = calloc(1, sizeof(*l));
        json_object *root = NULL, *arr;
        size_t len, n;
        int r;

        if (!path || !l) {
                free(l);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        r = fs_read_file(path, NIC_LIST_MAX_BYTES, &buf, &len);
        if (r == -ENOENT) {
                *ret = l;
                return 0;
        }
        if (r < 0) {
                free(l);
                return uvm_error_set(err, -r, "read %s: %s", path, strerror(-r));
        }
        root = json_tokener_parse(buf);
        n = root ? jarr(root, "nics", &arr) : 0;
        r = root && n <= NIC_MAX_PER_POD ? 0 : uvm_error_set(err, EINVAL, "malformed");
        for (size_t i = 0; r == 0 && i < n; i++) {
                r = rec_decode(json_object_array_get_idx(arr, i), &l->v[i], err);
                l->n++;
        }
        json_object_put(root);
        if (r < 0) {
                list_free(&l);
                return uvm_error_wrap(err, "NIC list %s", path);
        }
        *ret = l;
        return 0;
}

static json_object *rec_encode(const struct nic_rec *r)
{
        json_object *o = json_object_new_object(), *a = json_object_new_array(),
                    *rt = json_object_new_array();

        json_object_object_add(o, "nicId", json_object_new_string(r->nic_id));
        json_object_object_add(o, "interface", json_object_new_string(r->ifname));
        json_object_object_add(o, "hostInterface", json_object_new_string(r->host_if));
        if (r->mac)
                json_object_object_add(o, "mac", json_object_new_string(r->mac));
        if (r->mtu)
                json_object_object_add(o, "mtu", json_object_new_int((int) r->mtu));
        if (r->guest)
                json_object_object_add(o, "guest", json_object_new_boolean(true));
        for (size_t i = 0; i < r->n_addrs; i++)
                json_object_array_add(a, json_object_new_string(r->addrs[i]));
        for (size_t i = 0; i < r->n_routes; i++) {
                json_object *e = json_object_new_object();
                json_object_object_add(e, "destination", json_object_new_string(r->dst[i]));
                if (r->gw[i])
                        json_object_object_add(e, "gateway", json_object_new_string(r->gw[i]));
                json_object_array_add(rt, e);
        }
        json_object_object_add(o, "addresses", a);
        json_object_object_add(o, "routes", rt);
        return o;
}

static int list_save(const char *pod_dir, const struct nic_list *l, struct uvm_error **err)
{
        _cleanup_free_ char *path = list_path(pod_dir);
        json_object *root = json_object_new_object(), *arr = json_object_new_array();
        const char *s;
        int r;

        if (!path || !root || !arr) {
                json_object_put(root);
                json_object_put(arr);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < l->n; i++)
                json_object_array_add(arr, rec_encode(&l->v[i]));
        json_object_object_add(root, "nics", arr);
        s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
        r = s ? fs_write_atomic(path, s, strlen(s), 0600) : -ENOMEM;
        json_object_put(root);
        if (r < 0)
                return uvm_error_set(err, -r, "write %s: %s", path, strerror(-r));
        return 0;
}

static struct nic_rec *list_find(struct nic_list *l, const char *nic_id)
{
        for (size_t i = 0; i < l->n; i++)
                if (STR_EQ(l->v[i].nic_id, nic_id))
                        return &l->v[i];
        return NULL;
}

static void list_drop(struct nic_list *l, struct nic_rec *r)
{
        rec_clear(r);
        *r = l->v[--l->n];
        memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
}

static void rec_state(const struct nic_rec *r, struct nic_state *ret)
{
        *ret = (struct nic_state){.nic_id = r->nic_id,
                                  .ifname = r->ifname,
                                  .mac = r->mac,
                                  .mtu = r->mtu,
                                  .addrs = (const char *const *) r->addrs,
                                  .n_addrs = r->n_addrs,
                                  .dst = (const char *const *) r->dst,
                                  .gw = (const char *const *) r->gw,
                                  .n_routes = r->n_routes};
}

/* A guest's NIC takes the host interface's MAC when none is given, as a VM
 * pod's first NIC takes the CNI interface's (uvmd runs in the host's
 * namespace, whose sysfs this is). */
static int host_mac(const char *ifname, char **ret, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r;

        if (asprintf(&path, "/sys/class/net/%s/address", ifname) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_read_file(path, 64, &text, NULL);
        if (r < 0)
                return uvm_error_set(err, -r, "read %s: %s", path, strerror(-r));
        text[strcspn(text, "\n")] = '\0';
        if (nic_check_mac(text, err) < 0)
                return uvm_error_wrap(err, "host interface '%s'", ifname);
        *ret = TAKE_PTR(text);
        return 0;
}

/* --- inside the pod's namespace --- */

struct ns_job {
        const struct nic_rec *rec;
        bool set_mac, set_mtu, set_addrs, set_routes, up;
        const char *ifname;  /* exists / delete / move back */
        const char *back_to; /* move back: the host netns path */
        struct uvm_error *e;
};

static int run_ip(struct ns_job *j, const char *const *args)
{
        return nic_ip_run(args, &j->e);
}

static int ns_configure(void *data)
{
        struct ns_job *j = data;
        const struct nic_rec *r = j->rec;
        char mtu[16];
        int rc = 0;

        snprintf(mtu, sizeof(mtu), "%u", r->mtu);
        if (j->set_mac)
                rc = run_ip(j, (const char *[]){"link", "set", "dev", r->ifname, "address", r->mac,
                                                NULL});
        if (rc == 0 && j->set_mtu)
                rc = run_ip(j, (const char *[]){"link", "set", "dev", r->ifname, "mtu", mtu, NULL});
        if (rc == 0 && j->up)
                rc = run_ip(j, (const char *[]){"link", "set", "dev", r->ifname, "up", NULL});
        if (rc == 0 && j->set_addrs)
                rc = run_ip(j, (const char *[]){"addr", "flush", "dev", r->ifname, "scope",
                                                "global", NULL});
        for (size_t i = 0; rc == 0 && j->set_addrs && i < r->n_addrs; i++)
                rc = run_ip(j,
                            (const char *[]){"addr", "add", r->addrs[i], "dev", r->ifname, NULL});
        /* replaced addresses can take routes with them: put them back too */
        if (rc == 0 && (j->set_routes || j->set_addrs))
                rc = run_ip(j, (const char *[]){"route", "flush", "dev", r->ifname, "proto",
                                                "static", NULL});
        for (size_t i = 0; rc == 0 && (j->set_routes || j->set_addrs) && i < r->n_routes; i++)
                rc = r->gw[i] ? run_ip(j,
                                       (const char *[]){"route", "add", r->dst[i], "via", r->gw[i],
                                                        "dev", r->ifname, "proto", "static", NULL})
                              : run_ip(j, (const char *[]){"route", "add", r->dst[i], "dev",
                                                           r->ifname, "proto", "static", NULL});
        return rc;
}

static int ns_name_free(void *data)
{
        struct ns_job *j = data;

        if (if_nametoindex(j->ifname) != 0)
                return uvm_error_set(&j->e, EEXIST, "interface '%s' already exists in the pod",
                                     j->ifname);
        return 0;
}

static int ns_delete(void *data)
{
        struct ns_job *j = data;

        return run_ip(j, (const char *[]){"link", "del", "dev", j->ifname, NULL});
}

static int ns_move_back(void *data)
{
        struct ns_job *j = data;

        (void) run_ip(j, (const char *[]){"link", "set", "dev", j->ifname, "down", NULL});
        uvm_error_free(j->e);
        j->e = NULL;
        return run_ip(j, (const char *[]){"link", "set", "dev", j->ifname, "netns", j->back_to,
                                          "name", j->rec->host_if, NULL});
}

static int in_netns(const char *netns_path, netns_fn fn, struct ns_job *j, struct uvm_error **err)
{
        return netns_run_job(netns_path, fn, j, &j->e, err);
}

/* --- operations --- */

static int rec_from(struct nic_rec *r, const char *nic_id, const char *ifname,
                    const struct nic_endpoint *ep)
{
        r->nic_id = strdup(nic_id);
        r->ifname = strdup(ifname);
        r->host_if = strdup(ep->host_interface);
        r->mac = dup_or_null(ep->mac);
        r->mtu = ep->mtu;
        if (!r->nic_id || !r->ifname || !r->host_if || (!STR_EMPTY(ep->mac) && !r->mac) ||
            rec_set_addrs(r, ep->addresses, ep->n_addresses) < 0 ||
            rec_set_routes(r, ep->routes, ep->n_routes) < 0)
                return -ENOMEM;
        return 0;
}

static int add_checks(struct nic_list *l, const char *netns_path, const char *nic_id,
                      const char *ifname, const struct nic_endpoint *ep, struct uvm_error **err)
{
        struct ns_job j = {.ifname = ifname};

        if (list_find(l, nic_id))
                return uvm_error_set(err, EEXIST, "NIC '%s' already exists", nic_id);
        for (size_t i = 0; i < l->n; i++)
                if (STR_EQ(l->v[i].ifname, ifname))
                        return uvm_error_set(err, EEXIST, "interface '%s' is used by NIC '%s'",
                                             ifname, l->v[i].nic_id);
        if (l->n >= NIC_MAX_PER_POD)
                return uvm_error_set(err, ENOSPC, "a pod has at most %d added NICs",
                                     NIC_MAX_PER_POD);
        if (STR_EQ(ep->host_interface, "lo"))
                return uvm_error_set(err, EINVAL, "the host loopback cannot be moved");
        /* uvmd runs in the host's network namespace */
        if (if_nametoindex(ep->host_interface) == 0)
                return uvm_error_set(err, ENOENT, "host interface '%s' not found",
                                     ep->host_interface);
        return in_netns(netns_path, ns_name_free, &j, err);
}

/* Moved in but not configured: give it back to the host as it was. */
static void move_back(const char *netns_path, const struct nic_rec *rec)
{
        char host_ns[64];
        struct ns_job j = {.rec = rec, .ifname = rec->ifname, .back_to = host_ns};
        struct uvm_error *e = NULL;

        snprintf(host_ns, sizeof(host_ns), "/proc/%d/ns/net", (int) getpid());
        if (in_netns(netns_path, ns_move_back, &j, &e) < 0)
                log_warn("NIC '%s': moving '%s' back to the host failed: %s, ignoring", rec->nic_id,
                         rec->ifname, e ? e->msg : "unknown error");
        uvm_error_free(e);
}

static int add_locked(const char *pod_dir, const char *netns_path, struct nic_list *l,
                      struct nic_rec *rec, const struct nic_guest *guest, struct uvm_error **err)
{
        struct ns_job j = {.rec = rec,
                           .set_mac = rec->mac != NULL && !guest,
                           .set_mtu = rec->mtu != 0,
                           .set_addrs = !guest,
                           .set_routes = !guest,
                           .up = true};
        struct uvm_error *e = NULL;
        struct nic_state st;
        int r;

        rec->guest = guest != NULL;
        if (guest && !rec->mac && (r = host_mac(rec->host_if, &rec->mac, err)) < 0)
                return r;

        /* Recorded before the move, so a crash in between still leaves it
         * for teardown. */
        r = list_save(pod_dir, l, err);
        if (r < 0)
                return r;
        r = nic_ip_run((const char *[]){"link", "set", "dev", rec->host_if, "netns", netns_path,
                                        "name", rec->ifname, NULL},
                       err);
        if (r == 0) {
                r = in_netns(netns_path, ns_configure, &j, err);
                rec_state(rec, &st);
                if (r >= 0 && guest)
                        r = guest->add(guest->data, &st, err);
                if (r < 0)
                        move_back(netns_path, rec);
        }
        if (r < 0) {
                list_drop(l, rec);
                if (list_save(pod_dir, l, &e) < 0)
                        log_warn("%s, ignoring", e->msg);
                uvm_error_free(e);
        }
        return r;
}

int nic_add(const char *pod_dir, const char *netns_path, const char *nic_id,
            const struct nic_endpoint *ep, const struct nic_guest *guest, char **ret_ifname,
            struct uvm_error **err)
{
        const char *ifname = STR_EMPTY(ep->interface_name) ? nic_id : ep->interface_name;
        _cleanup_(list_free) struct nic_list *l = NULL;
        char *name;
        int r;

        if (nic_check_id("nic_id", nic_id, err) < 0 || nic_check_endpoint(ep, true, err) < 0)
                return -EINVAL;
        if (nic_check_ifname(STR_EMPTY(ep->interface_name) ? "nic_id (the default interface name)"
                                                           : "endpoint.interface_name",
                             ifname, err) < 0)
                return -EINVAL;
        r = list_load(pod_dir, &l, err);
        if (r >= 0)
                r = add_checks(l, netns_path, nic_id, ifname, ep, err);
        if (r < 0)
                return r;
        if (rec_from(&l->v[l->n++], nic_id, ifname, ep) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        name = strdup(ifname);
        if (!name)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = add_locked(pod_dir, netns_path, l, &l->v[l->n - 1], guest, err);
        if (r < 0) {
                free(name);
                return uvm_error_wrap(err, "add NIC '%s'", nic_id);
        }
        log_info("NIC '%s': '%s' moved into %s as '%s'%s", nic_id, ep->host_interface, netns_path,
                 ifname, guest ? ", its guest adapter added" : "");
        *ret_ifname = name;
        return 0;
}

static int rec_apply(struct nic_rec *r, const struct nic_endpoint *ep)
{
        if (!STR_EMPTY(ep->mac)) {
                free(r->mac);
                if (!(r->mac = strdup(ep->mac)))
                        return -ENOMEM;
        }
        if (ep->mtu)
                r->mtu = ep->mtu;
        if (ep->n_addresses > 0 && rec_set_addrs(r, ep->addresses, ep->n_addresses) < 0)
                return -ENOMEM;
        if (ep->n_routes > 0 && rec_set_routes(r, ep->routes, ep->n_routes) < 0)
                return -ENOMEM;
        return 0;
}

static int check_mode(const struct nic_rec *rec, const struct nic_guest *guest,
                      struct uvm_error **err)
{
        if (rec->guest != (guest != NULL))
                return uvm_error_set(err, EINVAL, "NIC '%s' was added %s a VM guest", rec->nic_id,
                                     rec->guest ? "to" : "without");
        return 0;
}

/* A guest's NIC: the guest takes the change first, then the host end its MTU. */
static int modify_guest(const char *netns_path, struct nic_list *old, struct nic_rec *rec,
                        const struct nic_guest *guest, struct uvm_error **err)
{
        struct ns_job j = {.rec = rec, .set_mtu = rec->mtu != 0};
        struct nic_state a, b;
        int r;

        rec_state(list_find(old, rec->nic_id), &a);
        rec_state(rec, &b);
        r = guest->modify(guest->data, &a, &b, err);
        if (r >= 0 && j.set_mtu)
                r = in_netns(netns_path, ns_configure, &j, err);
        return r;
}

int nic_modify(const char *pod_dir, const char *netns_path, const char *nic_id,
               const struct nic_endpoint *ep, const struct nic_guest *guest, struct uvm_error **err)
{
        _cleanup_(list_free) struct nic_list *l = NULL, *old = NULL;
        struct nic_rec *rec;
        struct ns_job j = {.set_mac = !STR_EMPTY(ep->mac),
                           .set_mtu = ep->mtu != 0,
                           .set_addrs = ep->n_addresses > 0,
                           .set_routes = ep->n_routes > 0};
        int r;

        if (nic_check_id("nic_id", nic_id, err) < 0 || nic_check_endpoint(ep, false, err) < 0)
                return -EINVAL;
        r = list_load(pod_dir, &l, err);
        if (r < 0)
                return r;
        rec = list_find(l, nic_id);
        if (!rec)
                return uvm_error_set(err, ENOENT, "NIC '%s' not found", nic_id);
        if (!STR_EMPTY(ep->interface_name) && !STR_EQ(ep->interface_name, rec->ifname))
                return uvm_error_set(err, EINVAL, "NIC '%s': the interface name cannot change",
                                     nic_id);
        if (check_mode(rec, guest, err) < 0)
                return -EINVAL;
        r = guest ? list_load(pod_dir, &old, err) : 0;
        if (r < 0)
                return r;
        if (rec_apply(rec, ep) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        j.rec = rec;
        r = guest ? modify_guest(netns_path, old, rec, guest, err)
                  : in_netns(netns_path, ns_configure, &j, err);
        if (r < 0)
                return uvm_error_wrap(err, "modify NIC '%s'", nic_id);
        return list_save(pod_dir, l, err);
}

static int delete_iface(const char *netns_path, const char *nic_id, const char *ifname,
                        struct uvm_error **err)
{
        struct ns_job j = {.ifname = ifname};
        struct uvm_error *e = NULL;
        int r;

        if (!netns_is_valid(netns_path))
                return 0; /* the namespace and everything in it are gone */
        r = in_netns(netns_path, ns_delete, &j, &e);
        if (r == -ENOENT) {
                log_info("NIC '%s': interface '%s' was already gone", nic_id, ifname);
                r = 0;
        } else if (r < 0)
                uvm_error_set(err, uvm_error_code(e), "%s", e ? e->msg : "delete failed");
        uvm_error_free(e);
        return r;
}

int nic_delete(const char *pod_dir, const char *netns_path, const char *nic_id,
               const struct nic_guest *guest, struct uvm_error **err)
{
        _cleanup_(list_free) struct nic_list *l = NULL;
        struct nic_rec *rec;
        struct nic_state st;
        int r;

        if (nic_check_id("nic_id", nic_id, err) < 0)
                return -EINVAL;
        r = list_load(pod_dir, &l, err);
        if (r < 0)
                return r;
        rec = list_find(l, nic_id);
        if (!rec)
                return uvm_error_set(err, ENOENT, "NIC '%s' not found", nic_id);
        if (check_mode(rec, guest, err) < 0)
                return -EINVAL;
        rec_state(rec, &st);
        /* The guest lets go of it first: the interface carries its traffic. */
        r = guest ? guest->remove(guest->data, &st, err) : 0;
        if (r >= 0)
                r = delete_iface(netns_path, nic_id, rec->ifname, err);
        if (r < 0)
                return uvm_error_wrap(err, "delete NIC '%s'", nic_id);
        log_info("NIC '%s': interface '%s' deleted", nic_id, rec->ifname);
        list_drop(l, rec);
        return list_save(pod_dir, l, err);
}

void nic_delete_all(const char *pod_dir, const char *netns_path)
{
        _cleanup_(list_free) struct nic_list *l = NULL;
        _cleanup_free_ char *path = list_path(pod_dir);
        struct uvm_error *e = NULL;

        if (list_load(pod_dir, &l, &e) < 0) {
                log_warn("%s, ignoring", e->msg);
                uvm_error_free(e);
                return;
        }
        for (size_t i = 0; i < l->n; i++) {
                if (delete_iface(netns_path, l->v[i].nic_id, l->v[i].ifname, &e) < 0)
                        log_warn("NIC '%s': %s, ignoring", l->v[i].nic_id, e->msg);
                else
                        log_info("NIC '%s': interface '%s' removed with the pod", l->v[i].nic_id,
                                 l->v[i].ifname);
                e = uvm_error_free(e);
        }
        if (path && unlink(path) < 0 && errno != ENOENT)
                log_warn("remove %s: %m, ignoring", path);
}
