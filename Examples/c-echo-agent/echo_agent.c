/*
 * c-echo-agent: an agent transport written in plain C against darkspere_plugin.h alone.
 *
 * Each agent it opens answers every message with
 *     "<prefix>: <message> (history: <N>)"
 * where N is the number of earlier messages the host sent along. With
 * "delay_ms" > 0 the reply is completed later from a host timer, which shows
 * the asynchronous half of the ABI (return DS_PENDING, complete from another thread).
 *
 * Build by hand (from this folder):
 *     cc -std=c99 -shared -fPIC -O2 -I../../Sources/PluginAPI/include echo_agent.c -o libds-c-echo-agent.so
 *
 * Config of an agent (plugins.yaml, agents[].config):
 *     prefix:   string, default "echo"
 *     delay_ms: integer >= 0, default 0
 *     fail:     boolean, default false (every call fails with DS_ERR_UNAVAILABLE: for tests)
 */
#include "darkspere_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ds_host *g_host; /* set once in the entry function, valid for the process */

typedef struct echo_instance {
    ds_host_handle *host;
} echo_instance;

typedef struct echo_agent {
    char prefix[64];
    unsigned delay_ms;
    int fail;
} echo_agent;

/* A delayed reply, owned by the timer callback that frees it. */
typedef struct delayed_reply {
    ds_op *op;
    char *text;
    size_t len;
} delayed_reply;

/* --- a tiny JSON reader, enough for flat config objects ------------------------------- */

/* Finds "key" at the top level of a flat JSON object and returns a pointer just past the ':'. */
static const char *json_find(ds_str json, const char *key) {
    size_t klen = strlen(key);
    size_t i;
    for (i = 0; i + klen + 2 < json.len; i++) {
        if (json.ptr[i] == '"' && strncmp(json.ptr + i + 1, key, klen) == 0 && json.ptr[i + 1 + klen] == '"') {
            size_t j = i + klen + 2;
            while (j < json.len && (json.ptr[j] == ' ' || json.ptr[j] == ':')) j++;
            return json.ptr + j;
        }
    }
    return NULL;
}

/* --- ds.agent-transport/1 ------------------------------------------------------------------ */

static ds_status echo_create(const ds_plugin_descriptor *plugin, ds_host_handle *host, ds_str config,
                             void **out_instance, ds_error *err) {
    echo_instance *inst;
    (void)plugin; (void)config;
    inst = (echo_instance *)calloc(1, sizeof *inst);
    if (inst == NULL) { ds_error_set(err, "out of memory"); return DS_ERR_FAILED; }
    inst->host = host;
    *out_instance = inst;
    g_host->log(host, DS_LOG_DEBUG, ds_str_from_cstr("c-echo-agent instance created"));
    return DS_OK;
}

static void echo_destroy(void *instance) { free(instance); }

static ds_status echo_open(void *instance, ds_str name, ds_str config, void **out_agent, ds_error *err) {
    echo_agent *agent;
    const char *v;
    (void)instance; (void)name;
    agent = (echo_agent *)calloc(1, sizeof *agent);
    if (agent == NULL) { ds_error_set(err, "out of memory"); return DS_ERR_FAILED; }
    strcpy(agent->prefix, "echo");
    if ((v = json_find(config, "prefix")) != NULL && *v == '"') {
        size_t n = 0;
        v++;
        while (v[n] != '"' && n + 1 < sizeof agent->prefix && v + n < config.ptr + config.len) n++;
        memcpy(agent->prefix, v, n);
        agent->prefix[n] = '\0';
    }
    if ((v = json_find(config, "delay_ms")) != NULL) {
        long d = strtol(v, NULL, 10);
        if (d < 0) { free(agent); ds_error_set(err, "delay_ms: must be >= 0"); return DS_ERR_CONFIG; }
        agent->delay_ms = (unsigned)d;
    }
    if ((v = json_find(config, "fail")) != NULL && strncmp(v, "true", 4) == 0) agent->fail = 1;
    *out_agent = agent;
    return DS_OK;
}

static void echo_complete_text(ds_op *op, const char *text, size_t len) {
    ds_outcome outcome;
    memset(&outcome, 0, sizeof outcome);
    outcome.struct_size = sizeof outcome;
    outcome.text.ptr = text;
    outcome.text.len = len;
    g_host->complete(op, DS_OK, &outcome);
}

static void echo_timer_fired(void *user) {
    delayed_reply *d = (delayed_reply *)user;
    echo_complete_text(d->op, d->text, d->len);
    free(d->text);
    free(d);
}

static ds_status echo_call(void *instance, void *agent_ptr, const ds_agent_request *req, ds_op *op) {
    echo_instance *inst = (echo_instance *)instance;
    echo_agent *agent = (echo_agent *)agent_ptr;
    size_t cap = req->text.len + sizeof agent->prefix + 64;
    char *text;
    int n;

    if (agent->fail) {
        ds_outcome outcome;
        memset(&outcome, 0, sizeof outcome);
        outcome.struct_size = sizeof outcome;
        outcome.error = ds_str_from_cstr("configured to fail");
        g_host->complete(op, DS_ERR_UNAVAILABLE, &outcome);
        return DS_OK;
    }
    text = (char *)malloc(cap);
    if (text == NULL) return DS_ERR_FAILED; /* refused synchronously: complete() not called */
    n = snprintf(text, cap, "%s: %.*s (history: %lu)", agent->prefix, (int)req->text.len,
                 req->text.ptr != NULL ? req->text.ptr : "", (unsigned long)req->history_count);
    if (n < 0) { free(text); return DS_ERR_FAILED; }

    if (agent->delay_ms == 0) {
        echo_complete_text(op, text, (size_t)n);   /* synchronous completion */
        free(text);
        return DS_OK;
    } else {
        delayed_reply *d = (delayed_reply *)malloc(sizeof *d);
        if (d == NULL) { free(text); return DS_ERR_FAILED; }
        d->op = op;
        d->text = text;
        d->len = (size_t)n;
        if (g_host->timer_start(inst->host, agent->delay_ms, 0, echo_timer_fired, d) == NULL) {
            free(text); free(d);
            return DS_ERR_UNAVAILABLE;
        }
        return DS_PENDING;                          /* completed later, from a host thread */
    }
}

static ds_status echo_probe(void *instance, void *agent_ptr, ds_op *op) {
    echo_agent *agent = (echo_agent *)agent_ptr;
    (void)instance;
    g_host->complete(op, agent->fail ? DS_ERR_UNAVAILABLE : DS_OK, NULL);
    return DS_OK;
}

static void echo_close(void *instance, void *agent) { (void)instance; free(agent); }

/* Designated initializers: members a later header adds at the end stay NULL ("not
 * offered") when this file is rebuilt, without a missing-initializer warning. */
static const ds_agent_transport_v1 echo_transport = {
    .struct_size = sizeof(ds_agent_transport_v1),
    .create = echo_create,
    .destroy = echo_destroy,
    .open = echo_open,
    .call = echo_call,
    .probe = echo_probe,
    .close = echo_close,
    .cancel = NULL,            /* replies are immediate or short timers; the host drops late completions */
    .validate_config = NULL,   /* 1.2: the schema below says all there is to check */
};

/* --- descriptor and entry ------------------------------------------------------------------ */

static const char *const echo_interfaces[] = { DS_AGENT_TRANSPORT_V1, NULL };

static const void *echo_get_interface(const ds_plugin_descriptor *plugin, const char *id) {
    (void)plugin;
    return strcmp(id, DS_AGENT_TRANSPORT_V1) == 0 ? (const void *)&echo_transport : NULL;
}

static const ds_plugin_descriptor echo_descriptor = {
    .struct_size = sizeof(ds_plugin_descriptor),
    .abi_major = DS_ABI_MAJOR,
    .abi_minor = DS_ABI_MINOR,
    .id = "c-echo-agent",
    .name = "C echo agent",
    .version = "1.0.0",
    .description = "Echoes each message with the history length; written in plain C",
    /* config_schema of the instance's config block (agents have their own config). */
    .config_schema = "{\"type\":\"object\",\"properties\":{\"label\":{\"type\":\"string\"}},\"additionalProperties\":false}",
    .interfaces = echo_interfaces,
    .get_interface = echo_get_interface,
    .plugin_data = NULL,
};

/* Lets a host name this plugin's ABI version even if the entry refuses it (1.2). */
DS_DECLARE_PLUGIN_ABI;

DS_EXPORT const ds_plugin_descriptor *darkspere_plugin_entry(const ds_host *host, uint32_t host_abi_major,
                                                             uint32_t host_abi_minor) {
    (void)host_abi_minor;
    if (host_abi_major != DS_ABI_MAJOR) return NULL;
    g_host = host;
    return &echo_descriptor;
}
