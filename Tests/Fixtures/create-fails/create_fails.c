/* Fixture: a plugin whose create() always refuses its config. */
#include "darkspere_plugin.h"

static ds_status create(const ds_plugin_descriptor *plugin, ds_host_handle *host, ds_str config,
                        void **out, ds_error *err) {
    (void)plugin; (void)host; (void)config; (void)out;
    ds_error_set(err, "cannot reach the database at db.invalid");
    return DS_ERR_CONFIG;
}
static void destroy(void *instance) { (void)instance; }
static const ds_log_sink_v1 sink = { sizeof(ds_log_sink_v1), create, destroy, NULL, NULL, NULL };
static const char *const interfaces[] = { DS_LOG_SINK_V1, NULL };
static const void *get_interface(const ds_plugin_descriptor *plugin, const char *id) {
    (void)plugin;
    const char *want = DS_LOG_SINK_V1;
    size_t i = 0;
    for (; want[i] != '\0' && id[i] == want[i]; i++) {}
    return (want[i] == '\0' && id[i] == '\0') ? &sink : NULL;
}
static const ds_plugin_descriptor descriptor = {
    sizeof(ds_plugin_descriptor), DS_ABI_MAJOR, DS_ABI_MINOR, "failing", "Failing sink", "1.0.0",
    "create() always fails", NULL, interfaces, get_interface, NULL
};
DS_EXPORT const ds_plugin_descriptor *darkspere_plugin_entry(const ds_host *host, uint32_t major, uint32_t minor) {
    (void)host; (void)minor;
    return major == DS_ABI_MAJOR ? &descriptor : NULL;
}
