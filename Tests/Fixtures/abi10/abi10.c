/*
 * Fixture: a log sink built against ABI 1.0 exactly, with the 1.0 struct sizes
 * frozen here by hand, so it keeps proving that the host serves 1.0 plugins
 * after later minors grow the header's structs.
 */
#include "darkspere_plugin.h"

static const ds_host *g_host;
static int g_writes;

static ds_status create(const ds_plugin_descriptor *plugin, ds_host_handle *host, ds_str config,
                        void **out, ds_error *err) {
    (void)plugin; (void)host; (void)config; (void)err;
    *out = &g_writes;
    return DS_OK;
}
static void destroy(void *instance) { (void)instance; }
static ds_status write_events(void *instance, const ds_str *events, size_t count, ds_op *op) {
    ds_outcome outcome = { 0 };
    (void)instance; (void)events;
    g_writes += (int)count;
    /* ds_outcome as of 1.0: struct_size through detail_code. */
    outcome.struct_size = (uint32_t)(offsetof(ds_outcome, detail_code) + sizeof(int32_t));
    g_host->complete(op, DS_OK, &outcome);
    return DS_PENDING;
}
static ds_status flush(void *instance, ds_op *op) { (void)instance; g_host->complete(op, DS_OK, NULL); return DS_PENDING; }
/* ds_log_sink_v1 and ds_plugin_descriptor as of 1.0: through cancel, through plugin_data. */
static const ds_log_sink_v1 sink = { (uint32_t)(offsetof(ds_log_sink_v1, cancel) + sizeof(void *)), create, destroy, write_events, flush, NULL, NULL };
static const char *const interfaces[] = { DS_LOG_SINK_V1, NULL };
static const void *get_interface(const ds_plugin_descriptor *plugin, const char *id) {
    (void)plugin;
    const char *want = DS_LOG_SINK_V1;
    size_t i = 0;
    for (; want[i] != '\0' && id[i] == want[i]; i++) {}
    return (want[i] == '\0' && id[i] == '\0') ? &sink : NULL;
}
static const ds_plugin_descriptor descriptor = {
    (uint32_t)(offsetof(ds_plugin_descriptor, plugin_data) + sizeof(void *)), 1, 0, "abi10-sink", "ABI 1.0 sink", "1.0.0",
    "a sink frozen at ABI 1.0", NULL, interfaces, get_interface, NULL, NULL
};
DS_EXPORT const ds_plugin_descriptor *darkspere_plugin_entry(const ds_host *host, uint32_t major, uint32_t minor) {
    (void)minor;
    if (major != 1) return NULL;
    g_host = host;
    return &descriptor;
}
