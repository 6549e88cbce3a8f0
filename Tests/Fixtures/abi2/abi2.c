/* Fixture: a plugin built against a future ABI major (2). The host must refuse it. */
#include "darkspere_plugin.h"

static const char *const interfaces[] = { DS_AGENT_TRANSPORT_V1, NULL };
static const void *get_interface(const ds_plugin_descriptor *plugin, const char *id) {
    (void)plugin; (void)id; return NULL; }
static const ds_plugin_descriptor descriptor = {
    sizeof(ds_plugin_descriptor), 2, 0, "future", "Future plugin", "9.0.0", "built for ABI 2",
    NULL, interfaces, get_interface, NULL
};

/* A careless plugin that does not check the host's version: the host still refuses it. */
DS_EXPORT const ds_plugin_descriptor *darkspere_plugin_entry(const ds_host *host, uint32_t major, uint32_t minor) {
    (void)host; (void)major; (void)minor;
    return &descriptor;
}
