/* SPDY/3.1 flow-control arithmetic: per-stream and session windows. int64_t
 * holds every reachable value (windows stay within [-2^31, 2^31-1]), so the
 * checks are plain comparisons. */

#include "common/error.h"
#include "stream/spdy-internal.h"

void spdy_window_init(struct spdy_window *w, uint32_t send_initial, uint32_t recv_initial)
{
        *w = (struct spdy_window){
                .send = send_initial > SPDY_MAX_WINDOW ? SPDY_MAX_WINDOW : send_initial,
                .recv = recv_initial > SPDY_MAX_WINDOW ? SPDY_MAX_WINDOW : recv_initial,
                .recv_initial = recv_initial > SPDY_MAX_WINDOW ? SPDY_MAX_WINDOW : recv_initial,
        };
}

int spdy_window_update(struct spdy_window *w, uint32_t delta, struct uvm_error **err)
{
        if (w->send + (int64_t) delta > SPDY_MAX_WINDOW)
                return uvm_error_set(err, EOVERFLOW,
                                     "spdy: WINDOW_UPDATE of %u takes the window past 2^31-1",
                                     delta);
        w->send += delta;
        return 0;
}

int spdy_window_resize(struct spdy_window *w, uint32_t old_initial, uint32_t new_initial,
                       struct uvm_error **err)
{
        int64_t send = w->send + (int64_t) new_initial - (int64_t) old_initial;

        if (send > SPDY_MAX_WINDOW)
                return uvm_error_set(err, EOVERFLOW,
                                     "spdy: initial window %u takes a stream window past 2^31-1",
                                     new_initial);
        w->send = send;
        return 0;
}

size_t spdy_window_sendable(const struct spdy_window *session, const struct spdy_window *stream,
                            size_t want)
{
        int64_t room = session->send < stream->send ? session->send : stream->send;

        if (room <= 0)
                return 0;
        return (uint64_t) room < want ? (size_t) room : want;
}

void spdy_window_sent(struct spdy_window *session, struct spdy_window *stream, size_t n)
{
        session->send -= (int64_t) n;
        stream->send -= (int64_t) n;
}

int spdy_window_received(struct spdy_window *w, size_t n, struct uvm_error **err)
{
        if ((uint64_t) n > (uint64_t) (w->recv < 0 ? 0 : w->recv))
                return uvm_error_set(err, EOVERFLOW,
                                     "spdy: %zu bytes received with %lld left in the window", n,
                                     (long long) w->recv);
        w->recv -= (int64_t) n;
        return 0;
}

uint32_t spdy_window_consumed(struct spdy_window *w, size_t n)
{
        /* Never return more than was received and not yet returned. */
        int64_t outstanding = (int64_t) w->recv_initial - w->recv - w->consumed;
        uint32_t delta;

        if (outstanding <= 0)
                return 0;
        if ((uint64_t) n > (uint64_t) outstanding)
                n = (size_t) outstanding;
        w->consumed += (uint32_t) n;
        if (w->consumed < w->recv_initial / 2 || w->consumed == 0)
                return 0;
        delta = w->consumed;
        w->recv += delta;
        w->consumed = 0;
        return delta;
}
