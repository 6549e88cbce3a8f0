/* Fixture: a shared library that exports no darkspere_plugin_entry. */
#include "darkspere_plugin.h"

DS_EXPORT int not_a_plugin(void) { return 42; }
