/*
 * Fixture: a plugin built for a future ABI major (3.0) that checks the host's version
 * correctly, returning NULL from its entry, and exports darkspere_plugin_abi (1.2) so the
 * host's refusal can name both versions.
 */
#include "darkspere_plugin.h"

DS_EXPORT extern const uint32_t darkspere_plugin_abi;
const uint32_t darkspere_plugin_abi = DS_ABI_PACK(3, 0);

DS_EXPORT const ds_plugin_descriptor *darkspere_plugin_entry(const ds_host *host, uint32_t major, uint32_t minor) {
    (void)host; (void)minor;
    if (major != 3) return NULL;
    return NULL;   /* never reached on a 1.x host; a real 3.x plugin returns its descriptor */
}
