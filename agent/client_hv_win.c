/*
 * Dialling the agent on Windows (hcs pods): the bridge is an HvSocket
 * service of the utility VM (the agent listens on vsock in the guest; the
 * host reaches vsock port P as service "<P as 8 hex digits>-facb-11e6-bd58-
 * 64006a7986d3"). Address: SOCKADDR_HV {AF_HYPERV, VmId = the compute
 * system's RuntimeId, ServiceId}.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <winsock2.h>
#include <windows.h>
#include <hvsocket.h>

#include "agent/client.h"
#include "common/macros.h"
#include "common/platform.h"
#include "common/sock.h"

/* ws2def.h of mingw-w64 stops before it. */
#ifndef AF_HYPERV
#define AF_HYPERV 34
#endif

#define DIAL_RETRY_MS 100
#define GUID_TEXT_LEN 36 /* xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx */

/* n hex digits at s as a number; -1 if one is not a digit. */
static int64_t hex_field(const char *s, int n)
{
        int64_t v = 0;

        for (int i = 0; i < n; i++) {
                int d = hex_digit_value(s[i]);

                if (d < 0)
                        return -1;
                v = v * 16 + d;
        }
        return v;
}

/* A GUID in its text form, with or without braces. */
static int guid_parse(const char *what, const char *text, GUID *ret, struct uvm_error **err)
{
        static const int dashes[] = {8, 13, 18, 23};
        char s[GUID_TEXT_LEN + 1];
        size_t len = text ? strlen(text) : 0;
        int64_t v[5];
        GUID g;

        if (len == GUID_TEXT_LEN + 2 && text[0] == '{' && text[len - 1] == '}') {
                text++;
                len -= 2;
        }
        if (len != GUID_TEXT_LEN)
                return uvm_error_set(err, EINVAL, "%s \"%s\" is not a GUID", what,
                                     text ? text : "");
        memcpy(s, text, GUID_TEXT_LEN);
        s[GUID_TEXT_LEN] = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(dashes); i++)
                if (s[dashes[i]] != '-')
                        return uvm_error_set(err, EINVAL, "%s \"%s\" is not a GUID", what, s);
        v[0] = hex_field(s, 8);
        v[1] = hex_field(s + 9, 4);
        v[2] = hex_field(s + 14, 4);
        v[3] = hex_field(s + 19, 4);
        v[4] = 0;
        for (int i = 0; i < 6; i++) {
                int64_t b = hex_field(s + 24 + 2 * i, 2);

                if (b < 0)
                        return uvm_error_set(err, EINVAL, "%s \"%s\" is not a GUID", what, s);
                g.Data4[2 + i] = (unsigned char) b;
        }
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
                return uvm_error_set(err, EINVAL, "%s \"%s\" is not a GUID", what, s);
        g.Data1 = (unsigned long) v[0];
        g.Data2 = (unsigned short) v[1];
        g.Data3 = (unsigned short) v[2];
        g.Data4[0] = (unsigned char) (v[3] >> 8);
        g.Data4[1] = (unsigned char) (v[3] & 0xff);
        *ret = g;
        return 0;
}

/* A non-inherited AF_HYPERV stream socket. */
static int hv_socket(int *ret_fd, struct uvm_error **err)
{
        SOCKET s;
        int e, fd;

        s = WSASocketW(AF_HYPERV, SOCK_STREAM, HV_PROTOCOL_RAW, NULL, 0,
                       WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
        if (s == INVALID_SOCKET) {
                e = sock_errno_from_wsa(WSAGetLastError());
                if (e == EAFNOSUPPORT)
                        return uvm_error_set(err, e,
                                             "HvSocket (AF_HYPERV) is not available on this "
                                             "host: it needs Windows 10 1709 or Windows Server "
                                             "2019 with Hyper-V");
                return uvm_error_set(err, e, "HvSocket socket: %s", sock_strerror(e));
        }
        fd = sock_fd_from_handle(s);
        if (fd < 0)
                return uvm_error_set(err, -fd, "HvSocket socket: handle out of range");
        *ret_fd = fd;
        return 0;
}

static bool dial_retryable(int e)
{
        /* No listener yet (refused), or the guest did not answer in the
         * connect timeout; unreachable while the VM's HvSocket is down. */
        return e == ECONNREFUSED || e == ETIMEDOUT || e == EHOSTUNREACH || e == ENETUNREACH;
}

/* One connect attempt, bounded by HvSocket's own connect timeout. 0 or a
 * positive errno. */
static int hv_connect_once(int fd, const SOCKADDR_HV *sa, uint64_t left_ms)
{
        DWORD ms = left_ms > HVSOCKET_CONNECT_TIMEOUT_MAX ? HVSOCKET_CONNECT_TIMEOUT_MAX
                                                          : (DWORD) (left_ms ? left_ms : 1);
        SOCKET s = (SOCKET) (intptr_t) fd;

        /* Best effort: without it the provider's default (about 90 s) holds. */
        (void) setsockopt(s, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, (const char *) &ms,
                          sizeof(ms));
        if (connect(s, (const struct sockaddr *) sa, sizeof(*sa)) == 0)
                return 0;
        return sock_errno_from_wsa(WSAGetLastError());
}

int agent_client_dial_hv(const char *vm_id, const char *service_id, unsigned timeout_ms,
                         int *ret_fd, struct uvm_error **err)
{
        uint64_t deadline = plat_now_ns() + (uint64_t) timeout_ms * 1000000u;
        SOCKADDR_HV sa = {.Family = AF_HYPERV};
        int r;

        if (!ret_fd)
                return uvm_error_set(err, EINVAL, "HvSocket dial: no place for the socket");
        r = guid_parse("VM id", vm_id, &sa.VmId, err);
        if (r >= 0)
                r = guid_parse("HvSocket service id", service_id, &sa.ServiceId, err);
        if (r >= 0 && (r = sock_init()) < 0)
                r = uvm_error_set(err, -r, "starting Winsock: %s", sock_strerror(-r));
        for (; r >= 0;) {
                _cleanup_sock_ int fd = -1;
                uint64_t now;
                int e;

                r = hv_socket(&fd, err);
                if (r < 0)
                        break;
                now = plat_now_ns();
                e = hv_connect_once(fd, &sa, now < deadline ? (deadline - now) / 1000000u : 0);
                if (e == 0) {
                        *ret_fd = TAKE_FD(fd);
                        return 0;
                }
                if (!dial_retryable(e) || plat_now_ns() >= deadline)
                        return uvm_error_set(err, e, "connect to the agent at HvSocket %s:%s: %s",
                                             vm_id, service_id, sock_strerror(e));
                Sleep(DIAL_RETRY_MS);
        }
        return r;
}

int agent_client_connect_hv(const char *vm_id, const char *service_id, unsigned timeout_ms,
                            const struct agent_client_events *ev, struct agent_client **ret,
                            struct uvm_error **err)
{
        char peer[2 * (GUID_TEXT_LEN + 2) + 16];
        int fd = -1, r;

        r = agent_client_dial_hv(vm_id, service_id, timeout_ms, &fd, err);
        if (r < 0)
                return r;
        snprintf(peer, sizeof(peer), "HvSocket %s:%s", vm_id, service_id);
        return agent_client_connect_fd(fd, peer, timeout_ms, ev, ret, err);
}
