/*
 * Fixture (never shipped): a plugin that breaks the completion contract on purpose, written
 * from darkspere_plugin.h alone, so the tests can prove the host drops, counts and logs every
 * extra completion instead of crashing.
 *
 *  - ds.agent-transport/1: each agent's config {"mode":"..."} picks the misbehaviour of call():
 *      "twice"            completes the op twice before returning;
 *      "twice-async"      completes it twice from a thread, 20 ms later;
 *      "refuse-after"     completes it and then returns a negative status ("refused");
 *      "after-cancel"     never completes until cancel(); then completes twice;
 *      "after-destroy"    keeps the op and completes it from a thread 150 ms after destroy();
 *      "ok"               completes once (the control).
 *    probe() completes twice in every mode.
 *  - ds.channel/1: registers POST /breaker/twice, whose handler responds twice (200 "first"
 *    then 201 "second"), and POST /breaker/late, which responds only after 300 ms (after the
 *    host's own 503 when server.request_timeout is shorter), and then once more.
 */
#include "darkspere_plugin.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const ds_host *g_host;

typedef struct { char mode[32]; } agent;
typedef struct { ds_host_handle *host; ds_op *held; int held_until_cancel; pthread_mutex_t lock; } transport;

static void sleep_ms(long ms) {
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

static void finish(ds_op *op, const char *text) {
    ds_outcome o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.text = ds_str_from_cstr(text);
    g_host->complete(op, DS_OK, &o);
}

static ds_status t_create(const ds_plugin_descriptor *p, ds_host_handle *h, ds_str cfg, void **out, ds_error *err) {
    (void)p; (void)cfg; (void)err;
    transport *t = calloc(1, sizeof *t);
    t->host = h;
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return DS_OK;
}

static void *complete_later(void *arg) {
    ds_op *op = arg;
    sleep_ms(150);
    finish(op, "after destroy");
    return NULL;
}

static void t_destroy(void *inst) {
    transport *t = inst;
    pthread_mutex_lock(&t->lock);
    ds_op *held = t->held;
    t->held = NULL;
    pthread_mutex_unlock(&t->lock);
    if (held != NULL) {
        pthread_t th;
        pthread_create(&th, NULL, complete_later, held);
        pthread_detach(th);
    }
    /* The instance memory is leaked on purpose: the detached thread needs nothing from it. */
}

static ds_status t_open(void *inst, ds_str name, ds_str cfg, void **out, ds_error *err) {
    (void)inst; (void)name; (void)err;
    agent *a = calloc(1, sizeof *a);
    strcpy(a->mode, "ok");
    const char *key = "\"mode\":\"";
    if (cfg.ptr != NULL) {
        char *copy = strndup(cfg.ptr, cfg.len);
        char *m = strstr(copy, key);
        if (m != NULL) {
            m += strlen(key);
            size_t n = 0;
            while (m[n] != '"' && m[n] != '\0' && n + 1 < sizeof a->mode) { a->mode[n] = m[n]; n++; }
            a->mode[n] = '\0';
        }
        free(copy);
    }
    *out = a;
    return DS_OK;
}

static void *twice_later(void *arg) {
    ds_op *op = arg;
    sleep_ms(20);
    finish(op, "first");
    finish(op, "second");
    return NULL;
}

static ds_status t_call(void *inst, void *ag, const ds_agent_request *req, ds_op *op) {
    transport *t = inst;
    agent *a = ag;
    (void)req;
    if (strcmp(a->mode, "twice") == 0) {
        finish(op, "first");
        finish(op, "second");
        return DS_OK;
    }
    if (strcmp(a->mode, "twice-async") == 0) {
        pthread_t th;
        pthread_create(&th, NULL, twice_later, op);
        pthread_detach(th);
        return DS_PENDING;
    }
    if (strcmp(a->mode, "refuse-after") == 0) {
        finish(op, "completed, then refused");
        return DS_ERR_FAILED;
    }
    if (strcmp(a->mode, "after-cancel") == 0 || strcmp(a->mode, "after-destroy") == 0) {
        pthread_mutex_lock(&t->lock);
        t->held = op;
        t->held_until_cancel = strcmp(a->mode, "after-cancel") == 0;
        pthread_mutex_unlock(&t->lock);
        return DS_PENDING;
    }
    finish(op, "ok");
    return DS_OK;
}

static ds_status t_probe(void *inst, void *ag, ds_op *op) {
    (void)inst; (void)ag;
    g_host->complete(op, DS_OK, NULL);
    g_host->complete(op, DS_ERR_FAILED, NULL);
    return DS_OK;
}

static void t_close(void *inst, void *ag) { (void)inst; free(ag); }

static void t_cancel(void *inst, ds_op *op) {
    transport *t = inst;
    pthread_mutex_lock(&t->lock);
    int mine = t->held == op && t->held_until_cancel;
    if (mine) t->held = NULL;
    pthread_mutex_unlock(&t->lock);
    if (mine) {
        g_host->complete(op, DS_ERR_CANCELLED, NULL);   /* the one completion the contract asks for */
        g_host->complete(op, DS_ERR_CANCELLED, NULL);   /* and one too many */
    }
}

static const ds_agent_transport_v1 transport_table = {
    sizeof(ds_agent_transport_v1), t_create, t_destroy, t_open, t_call, t_probe, t_close, t_cancel,
};

/* ---- channel: a route that responds twice, and one that responds late ---------------- */

static void respond_text(ds_op *op, int32_t status, const char *text) {
    ds_http_response r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.status = status;
    r.body = ds_str_from_cstr(text);
    g_host->respond(op, &r);
}

static ds_status route_twice(void *user, const ds_route_request *req, ds_op *op) {
    (void)user; (void)req;
    respond_text(op, 200, "first");
    respond_text(op, 201, "second");
    return DS_OK;
}

static void *respond_late(void *arg) {
    ds_op *op = arg;
    sleep_ms(300);
    respond_text(op, 200, "late");
    respond_text(op, 200, "later still");
    return NULL;
}

static ds_status route_late(void *user, const ds_route_request *req, ds_op *op) {
    (void)user; (void)req;
    pthread_t th;
    pthread_create(&th, NULL, respond_late, op);
    pthread_detach(th);
    return DS_OK;
}

static ds_status c_create(const ds_plugin_descriptor *p, ds_host_handle *h, ds_str cfg, void **out, ds_error *err) {
    (void)p; (void)cfg;
    ds_status s = g_host->route_register(h, ds_str_from_cstr("POST"), ds_str_from_cstr("/breaker/twice"), route_twice, NULL, err);
    if (s != DS_OK) return s;
    s = g_host->route_register(h, ds_str_from_cstr("POST"), ds_str_from_cstr("/breaker/late"), route_late, NULL, err);
    if (s != DS_OK) return s;
    *out = NULL;
    return DS_OK;
}
static void c_destroy(void *inst) { (void)inst; }
static ds_status c_send(void *inst, const ds_outbound_message *m, ds_op *op) {
    (void)inst; (void)m;
    finish(op, "SM1");
    finish(op, "SM2");
    return DS_OK;
}

static const ds_channel_v1 channel_table = { sizeof(ds_channel_v1), c_create, c_destroy, c_send, NULL };

/* ---- descriptor --------------------------------------------------------------------------- */

static const char *const interfaces[] = { DS_AGENT_TRANSPORT_V1, DS_CHANNEL_V1, NULL };

static const void *get_interface(const ds_plugin_descriptor *p, const char *id) {
    (void)p;
    if (strcmp(id, DS_AGENT_TRANSPORT_V1) == 0) return &transport_table;
    if (strcmp(id, DS_CHANNEL_V1) == 0) return &channel_table;
    return NULL;
}

static const ds_plugin_descriptor descriptor = {
    sizeof(ds_plugin_descriptor), DS_ABI_MAJOR, DS_ABI_MINOR, "contract-breaker", "Contract breaker", "0.1.0",
    "completes operations twice, late and after destroy (a test fixture)", NULL, interfaces, get_interface, NULL,
};

DS_EXPORT const ds_plugin_descriptor *darkspere_plugin_entry(const ds_host *host, uint32_t major, uint32_t minor) {
    (void)minor;
    if (major != DS_ABI_MAJOR) return NULL;
    g_host = host;
    return &descriptor;
}
