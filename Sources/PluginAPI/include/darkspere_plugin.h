/*
 * darkspere_plugin.h -- the DarkSpere plugin ABI, version 1.2
 *
 * History (a newer minor only adds; every 1.0 and 1.1 plugin works unchanged on a
 * 1.2 host, and a 1.2 plugin that tests DS_HAS_FIELD works on a 1.1 host):
 *   1.0  the first release.
 *   1.1  ds_host.account_update (billing plugins change an account's tier and
 *        status, e.g. from payment-provider webhooks). Nothing else changed:
 *        every 1.0 struct keeps its layout; ds_host only grew at its end.
 *   1.2  address kinds (ADDRESSES below; the host validates from/to);
 *        ds_host.instance_info (the instance id and server.public_url at create);
 *        route patterns with path parameters ("/hooks/{tenant}",
 *        ds_route_request.params) and routes registered or removed after create
 *        (ds_host.route_unregister); cancellable HTTP requests
 *        (ds_host.http_start / http_cancel); an optional validate_config at the
 *        end of every interface table, which `darkspere check` calls;
 *        ds_plugin_descriptor.agent_config_schema; media on ds_agent_request
 *        and ds_outbound_message; the optional exported symbol
 *        `darkspere_plugin_abi`; a child-process service (ds_host.process_spawn,
 *        process_write, process_close_stdin, process_kill). Every 1.1 struct keeps
 *        its layout; structs and tables only grew at their ends.
 *
 * This is the whole contract between the DarkSpere host (the gateway) and a
 * plugin (a shared library that the host loads with dlopen). A plugin needs
 * this file and nothing else: no host library to link, no Swift, no YAML.
 * Plugins can be written in any language that can export a C function.
 *
 * ---------------------------------------------------------------------------
 * The shape of it, in five sentences
 * ---------------------------------------------------------------------------
 * 1. The library exports ONE function, `darkspere_plugin_entry`, which the
 *    host calls once, right after loading, with its table of services (ds_host)
 *    and its ABI version; the plugin returns a static descriptor, or NULL if it
 *    cannot speak the host's major version.
 * 2. The descriptor names the plugin and lists the interfaces it offers by
 *    versioned string id ("ds.channel/1", "ds.agent-transport/1",
 *    "ds.billing/1", "ds.log-sink/1"); `get_interface(id)` returns the function
 *    table for one of them.
 * 3. Every `plugins:` entry of plugins.yaml becomes one instance: the host
 *    calls the interface's `create` with that entry's `config` block as UTF-8
 *    JSON and a handle that identifies the instance in later service calls.
 * 4. An operation that cannot finish at once (sending an SMS, calling an
 *    agent, writing a batch of events) is given a `ds_op *`; the plugin
 *    finishes it by calling `host->complete(op, ...)` exactly once, from any
 *    thread, either before returning or later.
 * 5. The host owns timeouts, retries, backoff, circuit breaking and
 *    cancellation; the plugin reports what happened with a status code.
 *
 * Check a build against the rules below with `darkspere plugin-check libds-x.so`:
 * it runs the plugin's operations from several threads, cancels some, and names
 * every break (completed_twice, never_completed, blocking_callback, crash, ...).
 *
 * ---------------------------------------------------------------------------
 * Rules that hold for every function in this file
 * ---------------------------------------------------------------------------
 * VERSIONING  The ABI version is MAJOR.MINOR. The host loads a plugin only if
 *             the majors are equal. A newer minor only ever adds: new fields at
 *             the END of structs, new functions at the END of tables, new
 *             status codes, new interface ids. Every struct that crosses the
 *             boundary begins with `uint32_t struct_size` (its sizeof() as the
 *             writer compiled it), so a reader can tell which fields the other
 *             side knows: a field lies beyond the writer's struct_size means
 *             "not provided". Use DS_HAS_FIELD() to test.
 *             A breaking change to an interface is a new id ("ds.channel/2");
 *             the old id keeps being served.
 *             Rebuilding a plugin against a newer header changes nothing it does:
 *             members added at the ends are zero, which means "not offered". Write
 *             tables and the descriptor with designated initializers
 *             (`.send = my_send,`) so that a rebuild also compiles without
 *             missing-initializer warnings.
 *
 * STRINGS     Text is UTF-8, passed as ds_str (pointer + length), NOT
 *             NUL-terminated unless a comment says so. `ptr` may be NULL when
 *             `len` is 0. JSON is always a UTF-8 ds_str.
 *
 * MEMORY      Whoever allocates frees. Data the host passes INTO a plugin
 *             function (strings, arrays, structs) is owned by the host and
 *             valid only until that function returns: copy what you keep.
 *             Data the plugin passes to a host service is owned by the plugin
 *             and only read during that call; the host copies what it keeps.
 *             The descriptor and interface tables returned by the plugin must
 *             stay valid for the life of the process (static storage).
 *
 * THREADS     The host is multi-threaded. Unless a function says otherwise:
 *             - host services may be called from ANY thread, concurrently;
 *             - operation functions of an instance (send, call, probe, write,
 *               authorize, ...) may be called from any thread and
 *               concurrently with each other; a plugin protects its own state;
 *             - create/destroy of an instance (and open/close of an agent) are
 *               never concurrent with any other call on that instance.
 *             Callbacks the host invokes (HTTP completion, timers, submit
 *             results) run on a host thread; do not block in them.
 *
 * ERRORS      Functions return ds_status: 0 is success, positive values are
 *             non-error outcomes (PENDING, RETRY, DEFERRED), negative values are
 *             errors. A human-readable reason goes in a ds_error (synchronous
 *             calls) or in ds_outcome.error (completed operations). Never put
 *             secrets (tokens, keys, full phone numbers) in messages.
 *
 * LOADING     The host dlopens with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE, loads
 *             each library once (by real path), and never unloads it. So a
 *             plugin may keep global state, but must not assume it is the
 *             only instance: one library may serve several plugins: entries.
 *
 * REPLACING   Install a new build of a library by writing it next to the old
 *             one and renaming it over it (`cp new.so dir/.x.so && mv dir/.x.so
 *             dir/libds-x.so`), never by overwriting the file in place: a
 *             running host has the old file mapped, and writing into it crashes
 *             that host. A running host keeps the library it loaded; a restart
 *             (or a reload, on a host that offers one) loads the new file.
 *
 * NULL        Every function member of ds_host that lies within the host's
 *             struct_size is non-NULL: a host fills the whole table it declares
 *             (test newer members with DS_HAS_FIELD, never against NULL). In a
 *             plugin's tables only members marked "(may be NULL)" may be NULL.
 *             A ds_str may have ptr NULL when len is 0 anywhere.
 *
 * COMPLETION  The host tolerates a plugin that breaks the completion rules, but
 *             never acts on the extra call: an op completed twice, completed
 *             after its instance was destroyed, completed and also refused
 *             (negative return), or a route op answered twice -- the extra call
 *             is dropped, counted in the metric
 *             darkspere_plugin_contract_violations_total{plugin,kind}, and the
 *             plugin's first such call is logged with its name. The pointer
 *             values of ds_op and ds_timer are never reused within a process,
 *             so a plugin may use them as keys.
 *
 * TIMEOUTS    The host owns every operation's deadline. When it passes, the
 *             host gives its caller DS_ERR_TIMEOUT at once and then calls the
 *             interface's `cancel` (when the table has one; without one it does
 *             nothing else). Either way the plugin must still complete the op
 *             exactly once; the host drops that late outcome. `cancel(op)` runs on
 *             a host thread and MAY run while the operation's function (send,
 *             call, ...) is still executing on another thread, and may arrive
 *             just after the plugin completed the op (a race no host can close):
 *             look the op up under your own lock and ignore one you no longer
 *             hold.
 *
 * ADDRESSES   (1.2) `from` and `to` of a message are one of two kinds:
 *             - E.164, for phone channels: '+' then 2 to 15 digits, the first
 *               not 0 ("+15551234567");
 *             - scheme:opaque-id, for everything else: a scheme of 1 to 32
 *               bytes [a-z][a-z0-9+.-]*, ':', then 1 to 256 bytes with no
 *               space or control character ("whatsapp:+15551234567",
 *               "telegram:123456", "web:visitor-42").
 *             A 1.2 host refuses a submitted message whose from or to is
 *             neither (the submit callback gets DS_ERR_INVALID and an error
 *             naming the field). In logs the host shows an E.164 number as
 *             "+*******4567", a scheme:id as its scheme plus the id masked (the
 *             last 4 characters kept only for ids longer than 8).
 */
#ifndef DARKSPERE_PLUGIN_H
#define DARKSPERE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================= */
/* Version and entry point                                                   */
/* ========================================================================= */

/** The ABI version this header describes. */
#define DS_ABI_MAJOR 1
#define DS_ABI_MINOR 2

/** The name of the one symbol every plugin library exports. */
#define DS_ENTRY_SYMBOL "darkspere_plugin_entry"

/**
 * (1.2, optional) The name of a second exported symbol: a `const uint32_t`
 * holding the ABI the plugin was built with, DS_ABI_PACK(major, minor). A host
 * reads it only when the entry returned NULL, to name both versions in its
 * refusal. Declare it with DS_DECLARE_PLUGIN_ABI; a library without it is
 * still loaded (the refusal then says "plugin ABI unknown").
 */
#define DS_ABI_SYMBOL "darkspere_plugin_abi"
#define DS_ABI_PACK(major, minor) ((uint32_t)(((uint32_t)(major) << 16) | (uint32_t)(minor)))
#define DS_DECLARE_PLUGIN_ABI \
    DS_EXPORT extern const uint32_t darkspere_plugin_abi; \
    const uint32_t darkspere_plugin_abi = DS_ABI_PACK(DS_ABI_MAJOR, DS_ABI_MINOR)

/** Marks a function as exported from the shared library. */
#if defined(_WIN32)
#define DS_EXPORT __declspec(dllexport)
#else
#define DS_EXPORT __attribute__((visibility("default")))
#endif

/**
 * True if a struct written by the other side, which starts with
 * `uint32_t struct_size`, is large enough to contain `field`.
 * Example: if (DS_HAS_FIELD(ds_outcome, out, retry_after_ms)) ...
 */
#define DS_HAS_FIELD(type, ptr, field) \
    ((ptr) != NULL && (ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ========================================================================= */
/* Status codes                                                              */
/* ========================================================================= */

/** Result of every function and operation. Fixed width on every platform. */
typedef int32_t ds_status;

/* Success and non-errors (>= 0). */
#define DS_OK                  0   /**< Done, successfully. */
#define DS_PENDING             1   /**< Accepted; host->complete() will be (or was) called. */
#define DS_RETRY               2   /**< Not done now, nothing lost: the host should retry later (e.g. sink backend down). */
#define DS_DEFERRED            3   /**< Submit result: the reply is not ready; it will be sent later through the channel's send. */

/* Errors (< 0). The host decides retries from these codes. */
#define DS_ERR_FAILED         -1   /**< Generic permanent failure. */
#define DS_ERR_CONFIG         -2   /**< Configuration invalid (create/open). Permanent. */
#define DS_ERR_AUTH           -3   /**< Credentials refused (bad signature, bad API key). Permanent. */
#define DS_ERR_RATE_LIMITED   -4   /**< Remote asked us to slow down. Retryable; see ds_outcome.retry_after_ms. */
#define DS_ERR_TIMEOUT        -5   /**< Timed out. Retryable. */
#define DS_ERR_UNAVAILABLE    -6   /**< Remote unreachable, 5xx, connection reset. Retryable. */
#define DS_ERR_INVALID        -7   /**< Malformed input (bad request body, missing field). Permanent. */
#define DS_ERR_NOT_FOUND      -8   /**< No such thing (unknown interface, variable, route). */
#define DS_ERR_DENIED         -9   /**< Refused by policy (quota, tier, opt-out on host side). Permanent for this request. */
#define DS_ERR_CANCELLED     -10   /**< The host cancelled the operation (timeout, shutdown). */
#define DS_ERR_UNSUPPORTED   -11   /**< Operation not offered by this plugin. */
#define DS_ERR_TOO_LARGE     -12   /**< Input or output exceeds a limit; or a caller's buffer is too small. */
#define DS_ERR_OPTED_OUT     -13   /**< Channel send: the recipient opted out (e.g. Twilio 21610); the host records it. */

/** True for errors the host may retry (with backoff) or fail over. */
#define DS_STATUS_IS_RETRYABLE(s) \
    ((s) == DS_RETRY || (s) == DS_ERR_RATE_LIMITED || (s) == DS_ERR_TIMEOUT || (s) == DS_ERR_UNAVAILABLE)

/* ========================================================================= */
/* Basic types                                                               */
/* ========================================================================= */

/** A UTF-8 string or byte buffer: pointer + length, not NUL-terminated. */
typedef struct ds_str {
    const char *ptr;   /**< First byte; may be NULL when len == 0. */
    size_t      len;   /**< Length in bytes. */
} ds_str;

/** A name/value pair: HTTP headers, metric labels. */
typedef struct ds_kv {
    ds_str key;
    ds_str value;
} ds_kv;

/** Capacity of ds_error.message, including the terminating NUL. */
#define DS_ERROR_MESSAGE_CAP 1024

/**
 * An error message buffer, allocated by the CALLER (usually the host) and
 * filled by the callee on failure. The callee writes a NUL-terminated UTF-8
 * message, truncated to fit. Owned by the caller; valid during the call only.
 */
typedef struct ds_error {
    uint32_t struct_size;                    /**< sizeof(ds_error), set by the caller. */
    char     message[DS_ERROR_MESSAGE_CAP];  /**< NUL-terminated UTF-8; empty if no error. */
} ds_error;

/** Copies a NUL-terminated message into `err` (truncating). Safe with err == NULL. */
static inline void ds_error_set(ds_error *err, const char *message) {
    size_t i = 0;
    if (err == NULL) return;
    if (message != NULL) {
        for (; i + 1 < DS_ERROR_MESSAGE_CAP && message[i] != '\0'; i++) err->message[i] = message[i];
    }
    err->message[i] = '\0';
}

/** Builds a ds_str from a NUL-terminated C string (NULL gives an empty string). */
static inline ds_str ds_str_from_cstr(const char *s) {
    ds_str r;
    size_t n = 0;
    if (s != NULL) while (s[n] != '\0') n++;
    r.ptr = s;
    r.len = n;
    return r;
}

/* ========================================================================= */
/* Opaque host objects                                                       */
/* ========================================================================= */

/** Identifies one plugin instance to the host. Given to create(); pass it to
 *  host services. Owned by the host; valid until the instance is destroyed. */
typedef struct ds_host_handle ds_host_handle;

/** A pending operation. The plugin must finish it exactly once with
 *  host->complete() (or host->respond() for a route request). After that call
 *  the op is finished: passing it again is a contract violation (see
 *  COMPLETION), harmless but counted. Owned by the host. */
typedef struct ds_op ds_op;

/** A metric registered with host->metric(). Owned by the host; valid for the
 *  life of the process. */
typedef struct ds_metric ds_metric;

/** A timer started with host->timer_start(). Owned by the host. A 1.2 host
 *  accepts timer_cancel() on a one-shot timer that already fired, or a second
 *  timer_cancel(), as a no-op (older hosts did not: there the timer is valid
 *  until timer_cancel() returns or, for a one-shot timer, until it fired). */
typedef struct ds_timer ds_timer;

/** (1.2) An HTTP request started with host->http_start(). Owned by the host;
 *  pass it to host->http_cancel() at most until its callback has returned. */
typedef struct ds_http_call ds_http_call;

/* ========================================================================= */
/* Data that crosses the boundary                                            */
/* ========================================================================= */

/**
 * The result of an operation, passed to host->complete(). Every field is
 * optional; which ones the host reads depends on the operation (see each
 * interface). Owned by the plugin; the host copies what it needs during
 * complete().
 */
typedef struct ds_outcome {
    uint32_t struct_size;      /**< sizeof(ds_outcome). */
    ds_str   text;             /**< agent call: the reply text; channel send: the provider's message id. */
    ds_str   data;             /**< optional JSON object with extra results, e.g. {"session_state":{...}} or {"segments":2}. */
    ds_str   error;            /**< when status < 0: why, for logs and operators (no secrets). */
    int64_t  retry_after_ms;   /**< with a retryable status: earliest retry the remote asked for; 0 = no opinion. */
    int32_t  detail_code;      /**< provider-specific error code (e.g. Twilio 20429, 21610); 0 = none. */
} ds_outcome;

/** An attachment of an inbound message (MMS media). */
typedef struct ds_media {
    ds_str url;            /**< Where the media can be fetched. */
    ds_str content_type;   /**< MIME type, e.g. "image/jpeg"; may be empty. */
} ds_media;

/**
 * A message a channel received, submitted to the host's router with
 * host->submit_inbound(). Owned by the plugin; the host copies it during the
 * call.
 */
typedef struct ds_inbound_message {
    uint32_t        struct_size;         /**< sizeof(ds_inbound_message). */
    ds_str          channel_message_id;  /**< The provider's id (Twilio MessageSid); the dedupe key. Required. */
    ds_str          from;                /**< Sender: an address (E.164 "+15551234567" or scheme:id, see ADDRESSES). Required. */
    ds_str          to;                  /**< Our address that received it (same kinds). Required. */
    ds_str          text;                /**< Message body, UTF-8; may be empty for media-only messages. */
    const ds_media *media;               /**< Attachments; NULL when media_count == 0. */
    size_t          media_count;
    ds_str          metadata;            /**< Optional JSON object of provider extras; stored, not interpreted. */
} ds_inbound_message;

/**
 * A message the host asks a channel to send (a deferred reply, a compliance
 * confirmation). Owned by the host; valid during send() only.
 */
typedef struct ds_outbound_message {
    uint32_t struct_size;      /**< sizeof(ds_outbound_message). */
    ds_str   message_id;       /**< The host's id for this message; identical on every retry (idempotency key). */
    ds_str   correlation_id;   /**< "<channel>:<channel_message_id>" of the inbound message that caused it
                                    (the same value as ds_agent_request.correlation_id and events); for logs. */
    ds_str   to;               /**< Recipient: an address (see ADDRESSES). */
    ds_str   from;             /**< Our address; may be empty (then the channel's configured sender). */
    ds_str   text;             /**< Body, UTF-8. The channel splits it into parts if it must. */
    /* ---- 1.2 ---- */
    const ds_media *media;     /**< Attachments to send (e.g. MMS MediaUrl); NULL when media_count == 0. */
    size_t          media_count;
    /* ---- 1.2: test with DS_HAS_FIELD(ds_outbound_message, msg, metadata) ---- */
    ds_str          metadata;  /**< JSON object of extras for the channel, or empty: "agent" (the agent whose reply
                                    or conversation it is), "template" ({"content_sid", "content_variables"}: an
                                    approved template a channel such as WhatsApp needs outside its service window). */
} ds_outbound_message;

/** (1.2) An attachment of one history entry (see ds_agent_request.history_media). */
typedef struct ds_history_media {
    size_t   entry;        /**< Index into ds_agent_request.history of the entry it belongs to. */
    ds_media media;
} ds_history_media;

/** One earlier message of a conversation, oldest first in arrays. */
typedef struct ds_history_entry {
    ds_str  role;      /**< "user" or "assistant". */
    ds_str  text;      /**< The message text. */
    int64_t time_ms;   /**< When it was received/sent, Unix epoch milliseconds. */
} ds_history_entry;

/**
 * One turn of a conversation, sent to an agent. Owned by the host; valid
 * during call() only: copy what you keep past the return.
 */
typedef struct ds_agent_request {
    uint32_t                struct_size;     /**< sizeof(ds_agent_request). */
    ds_str                  message_id;      /**< The host's id of the inbound message. */
    ds_str                  correlation_id;  /**< "<channel>:<channel_message_id>"; carried through reply, send, usage and events. */
    ds_str                  session_id;      /**< The conversation's id; stable while the session lives. */
    ds_str                  channel;         /**< The channel instance id (e.g. "twilio"). */
    ds_str                  from;            /**< The user's address (see ADDRESSES). */
    ds_str                  to;              /**< Our address. */
    ds_str                  text;            /**< The new message. */
    const ds_history_entry *history;         /**< Earlier messages of the session, oldest first; may be NULL. */
    size_t                  history_count;
    ds_str                  session_state;   /**< JSON object the agent returned last time, or empty. */
    uint32_t                timeout_ms;      /**< The host gives up after this; finish sooner. */
    int64_t                 time_ms;         /**< When the message arrived, Unix epoch milliseconds. */
    /* ---- 1.2: test with DS_HAS_FIELD(ds_agent_request, req, media_count) ---- */
    const ds_media         *media;           /**< Attachments of the new message; NULL when media_count == 0. */
    size_t                  media_count;
    /* ---- 1.2: test with DS_HAS_FIELD(ds_agent_request, req, history_media_count) ---- */
    const ds_history_media *history_media;   /**< Attachments of history entries (ds_history_entry has no room
                                                  for them), ordered by entry; NULL when history_media_count == 0. */
    size_t                  history_media_count;
} ds_agent_request;

/** A unit of billable usage. Owned by the host; valid during the call only. */
typedef struct ds_usage {
    uint32_t struct_size;       /**< sizeof(ds_usage). */
    ds_str   account_id;        /**< The host's account id. */
    ds_str   customer_id;       /**< The billing provider's customer id (e.g. Stripe cus_...); may be empty. */
    ds_str   kind;              /**< "sms_inbound", "sms_outbound_segments", "agent_messages", ... */
    int64_t  quantity;          /**< How many units. */
    ds_str   idempotency_key;   /**< Same key = same usage: never count it twice. */
    ds_str   correlation_id;    /**< The inbound message that caused it. */
    int64_t  time_ms;           /**< When it happened, Unix epoch milliseconds. */
} ds_usage;

/** An outgoing HTTP request made through host->http_request(). Owned by the plugin. */
typedef struct ds_http_request {
    uint32_t     struct_size;    /**< sizeof(ds_http_request). */
    ds_str       method;         /**< "GET", "POST", ... */
    ds_str       url;            /**< Absolute http:// or https:// URL. */
    const ds_kv *headers;        /**< Request headers; NULL when header_count == 0. */
    size_t       header_count;
    ds_str       body;           /**< Request body; may be empty. */
    uint32_t     timeout_ms;     /**< Whole-request timeout; 0 = the host's default (30 s). */
} ds_http_request;

/**
 * An HTTP response: the host's answer to http_request() (owned by the host,
 * valid during the callback), or the plugin's answer to a route request via
 * host->respond() (owned by the plugin, copied during the call).
 */
typedef struct ds_http_response {
    uint32_t     struct_size;    /**< sizeof(ds_http_response). */
    int32_t      status;         /**< HTTP status code, e.g. 200. */
    const ds_kv *headers;        /**< NULL when header_count == 0. */
    size_t       header_count;
    ds_str       body;
} ds_http_response;

/** A request that reached a route registered by the plugin. Owned by the
 *  host; valid during the handler call only. */
typedef struct ds_route_request {
    uint32_t     struct_size;    /**< sizeof(ds_route_request). */
    ds_str       method;         /**< "POST", ... */
    ds_str       path;           /**< Path without query, e.g. "/twilio/sms". */
    ds_str       query;          /**< Raw query string without '?', may be empty. */
    const ds_kv *headers;        /**< As received; names in lower case. */
    size_t       header_count;
    ds_str       body;           /**< Raw body (already limited to the host's body size limit). */
    ds_str       public_url;     /**< The URL the client requested as seen from outside:
                                      server.public_url + path (+ '?' + query). Use it for signatures. */
    ds_str       remote_address; /**< Peer address, "ip:port". */
    /* ---- 1.2: test with DS_HAS_FIELD(ds_route_request, req, param_count) ---- */
    ds_str       route;          /**< The path pattern that matched, as registered ("/hooks/{tenant}"). */
    const ds_kv *params;         /**< Path parameters of the pattern ("tenant" -> "acme"), percent-decoded,
                                      in pattern order; NULL when param_count == 0. */
    size_t       param_count;
} ds_route_request;

/** (1.2) Facts about one instance, from host->instance_info(). Owned by the
 *  host; valid until the instance is destroyed. */
typedef struct ds_instance_info {
    uint32_t struct_size;        /**< sizeof(ds_instance_info) as the host compiled it. */
    ds_str   instance_id;        /**< The `id:` of the plugins.yaml entry (e.g. "twilio"). */
    ds_str   interface_id;       /**< The interface this instance serves (e.g. "ds.channel/1"). */
    ds_str   public_url;         /**< server.public_url, without a trailing '/' (e.g. "https://sms.example.com"):
                                      build webhook URLs and check signatures outside a request with it. */
} ds_instance_info;

/* ========================================================================= */
/* Callbacks the plugin hands to the host                                    */
/* ========================================================================= */

/**
 * Handles a request on a route the plugin registered. Called on a host I/O
 * thread, possibly concurrently for different requests. The plugin answers
 * with host->respond(op, ...) exactly once, now or later from any thread.
 * Return DS_OK (answered or will answer). A negative return means the plugin
 * did not and will not respond: the host answers 500 itself.
 */
typedef ds_status (*ds_route_handler)(void *user, const ds_route_request *request, ds_op *op);

/**
 * Completion of host->http_request(). `status` is DS_OK when an HTTP response
 * arrived (any HTTP status code, see response->status), or a negative code
 * (DS_ERR_TIMEOUT, DS_ERR_UNAVAILABLE, DS_ERR_INVALID) with `response` NULL and
 * `error` saying why. Called exactly once, on a host thread. `response` and
 * `error` are owned by the host and valid during the callback only.
 */
typedef void (*ds_http_callback)(void *user, ds_status status, const ds_http_response *response, ds_str error);
/* Response headers (response->headers): names exactly as the server sent them (compare
 * them case-insensitively: HTTP/2 servers send lower case), in the order received; a
 * header the server repeated (Set-Cookie, Link) appears once per occurrence. After a
 * redirect or a 100 Continue only the final response's headers are given. */

/**
 * Result of host->submit_inbound(). Called exactly once, on a host thread,
 * possibly before submit_inbound() returns. `status`:
 *   DS_OK          the reply is ready: reply->text (empty means "send nothing");
 *                  (1.2) reply->data may be {"media":[{"url","content_type"}]}:
 *                  attachments to send with it (e.g. TwiML <Media>);
 *   DS_DEFERRED    the message is stored; the reply will come later through the
 *                  channel's send();
 *   DS_ERR_INVALID the message was malformed (reply->error says why);
 *   other < 0      the host could not take the message now (DS_ERR_UNAVAILABLE:
 *                  the provider should retry the webhook).
 * `reply` is owned by the host and valid during the callback only.
 */
typedef void (*ds_submit_callback)(void *user, ds_status status, const ds_outcome *reply);

/** A timer callback. Runs on a host thread; never concurrently with itself. */
typedef void (*ds_timer_callback)(void *user);

/* ========================================================================= */
/* Child processes (1.2)                                                     */
/* ========================================================================= */

/** (1.2) A child process started with host->process_spawn(). Owned by the host;
 *  valid from process_spawn() until its DS_PROCESS_EXIT callback has returned.
 *  A handle used after that is harmless: the calls return DS_ERR_NOT_FOUND or do
 *  nothing (handles are never reused within a process). */
typedef struct ds_process ds_process;

/** (1.2) ds_process_spec.flags: start the child with ONLY spec->env, not the
 *  host's environment plus spec->env. */
#define DS_PROCESS_CLEAN_ENV 0x1u

/**
 * (1.2) What to start, for host->process_spawn(). Owned by the plugin; the host
 * copies what it needs during the call.
 */
typedef struct ds_process_spec {
    uint32_t      struct_size;   /**< sizeof(ds_process_spec). */
    const ds_str *argv;          /**< The program and its arguments; argc >= 1. argv[0] is an
                                      absolute or relative path (contains '/'), or a name looked
                                      up in the host's PATH. No shell is involved. */
    size_t        argc;
    const ds_kv  *env;           /**< Variables for the child: added to (or replacing those of)
                                      the host's environment, or the whole environment with
                                      DS_PROCESS_CLEAN_ENV. NULL when env_count == 0. */
    size_t        env_count;
    ds_str        cwd;           /**< Working directory; empty = the host's. */
    uint32_t      flags;         /**< DS_PROCESS_* flags; 0 for none. */
} ds_process_spec;

/** (1.2) Events of a child process, passed to its ds_process_callback. */
#define DS_PROCESS_STDOUT 1   /**< `data`: bytes the child wrote to its stdout (any chunking: split lines yourself). */
#define DS_PROCESS_STDERR 2   /**< `data`: bytes the child wrote to its stderr. */
#define DS_PROCESS_EXIT   3   /**< The child ended and was reaped: `exit_status` is its exit code
                                   (0..255), or -N if signal N killed it. Always the last event. */

/**
 * (1.2) Receives the events of one child process: its output as it arrives, then
 * exactly one DS_PROCESS_EXIT (after the last output the host could read).
 * Called on a host thread that serves only this process, in order, never
 * concurrently with itself; do not block in it for long (the child's output waits
 * meanwhile). `data` is owned by the host and valid during the call only
 * (empty for DS_PROCESS_EXIT; `exit_status` is 0 for output events). Not called
 * after the instance's destroy() has begun.
 */
typedef void (*ds_process_callback)(void *user, int32_t event, ds_str data, int32_t exit_status);

/* ========================================================================= */
/* Host services                                                             */
/* ========================================================================= */

/** Log levels for host->log(). */
#define DS_LOG_TRACE 0
#define DS_LOG_DEBUG 1
#define DS_LOG_INFO  2
#define DS_LOG_WARN  3
#define DS_LOG_ERROR 4

/** Metric kinds for host->metric(). */
#define DS_METRIC_COUNTER   0   /**< metric_record adds the value (must be >= 0). */
#define DS_METRIC_GAUGE     1   /**< metric_record sets the value. */
#define DS_METRIC_HISTOGRAM 2   /**< metric_record observes the value (seconds, by convention). */

/**
 * The host's services, passed to the entry function. Owned by the host, valid
 * for the life of the process. Every function may be called from any thread
 * unless it says otherwise. A function added in a later minor version is
 * present only if DS_HAS_FIELD(ds_host, host, fn) holds.
 */
typedef struct ds_host {
    uint32_t    struct_size;     /**< sizeof(ds_host) as the host compiled it. */
    uint16_t    abi_major;       /**< The host's ABI version. */
    uint16_t    abi_minor;
    const char *host_version;    /**< NUL-terminated, e.g. "0.1.0". */

    /** Writes a log line attributed to the instance. `message` is copied. */
    void (*log)(ds_host_handle *h, int32_t level, ds_str message);

    /**
     * Registers (or finds) a metric exposed on GET /metrics. Names follow
     * Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*); the host adds the label
     * plugin="<instance id>". The same name + labels returns the same metric.
     * Returns NULL on an invalid name. Strings are copied.
     */
    ds_metric *(*metric)(ds_host_handle *h, int32_t kind, ds_str name, ds_str help,
                         const ds_kv *labels, size_t label_count);

    /** Records a value on a metric (see DS_METRIC_*). Lock-free, any thread. */
    void (*metric_record)(ds_metric *metric, double value);

    /**
     * Starts an asynchronous HTTP request through the host's shared client
     * (one connection pool, TLS, metrics). Returns DS_OK and later calls
     * `callback(user, ...)` exactly once, or returns a negative code (request
     * invalid) and never calls it. `request` is copied during the call.
     */
    ds_status (*http_request)(ds_host_handle *h, const ds_http_request *request,
                              ds_http_callback callback, void *user);

    /**
     * Calls `callback(user)` after `delay_ms`, then every `interval_ms` if it
     * is non-zero. Returns NULL if the host is shutting down.
     */
    ds_timer *(*timer_start)(ds_host_handle *h, uint64_t delay_ms, uint64_t interval_ms,
                             ds_timer_callback callback, void *user);

    /** Stops a timer. When it returns the callback is not running and will not run again.
     *  Must not be called from inside that timer's own callback with a one-shot timer that has fired. */
    void (*timer_cancel)(ds_timer *timer);

    /**
     * Registers an HTTP route on the host's server: `path` (e.g. "/twilio/sms")
     * and `method` ("POST"; "*" for any). A path already taken is DS_ERR_CONFIG
     * with `err` filled. Through 1.1: exact paths only, and only inside create().
     * From 1.2: a path may contain parameters, whole segments written
     * "{name}" ("/hooks/{tenant}/sms"; name [a-z_][a-z0-9_]*), which match one
     * non-empty segment and reach the handler in ds_route_request.params; an
     * exact path wins over a pattern, and a pattern that could match a path
     * another pattern matches is refused (DS_ERR_CONFIG); and routes may be
     * registered at any time while the instance lives (not only in create()).
     * Route handlers are not called once the instance's destroy() has begun
     * (the host stops its server first).
     */
    ds_status (*route_register)(ds_host_handle *h, ds_str method, ds_str path,
                                ds_route_handler handler, void *user, ds_error *err);

    /**
     * Answers a route request. Exactly once per route op, from any thread.
     * `response` is copied; the op is finished afterwards. A route op lives
     * until the plugin responds: if the plugin has not answered within the
     * host's server.request_timeout, the host answers 503 itself, and the
     * plugin's later (still required) respond is dropped quietly.
     */
    void (*respond)(ds_op *op, const ds_http_response *response);

    /**
     * Hands a received message to the router (dedupe, compliance, admission,
     * session, agent). Channel instances only. Returns DS_OK and calls
     * `callback` exactly once (possibly before returning), or returns a
     * negative code and never calls it. `message` is copied.
     */
    ds_status (*submit_inbound)(ds_host_handle *h, const ds_inbound_message *message,
                                ds_submit_callback callback, void *user);

    /**
     * Finishes an operation the host started (send, call, probe, authorize,
     * record, write, flush). Exactly once per op, from any thread, before or
     * after the operation function returned. `outcome` may be NULL; it is
     * copied. `op` is invalid afterwards.
     */
    void (*complete)(ds_op *op, ds_status status, const ds_outcome *outcome);

    /**
     * Reads an environment variable or secret by name into `buf` (not
     * NUL-terminated unless room is left). `*out_len` receives the value's full
     * length. Returns DS_OK, DS_ERR_NOT_FOUND, or DS_ERR_TOO_LARGE when
     * `cap` < length (call again with a bigger buffer). Never log the value.
     */
    ds_status (*get_env)(ds_host_handle *h, ds_str name, char *buf, size_t cap, size_t *out_len);

    /**
     * Channel instances: reports a delivery status for a message sent earlier,
     * identified by the provider's message id (the ds_outcome.text of send).
     * `status` is one of "queued", "sent", "delivered", "undelivered",
     * "failed"; `error_code` is the provider's code or 0. Returns DS_OK, or
     * DS_ERR_NOT_FOUND if the host knows no such message. Strings are copied.
     */
    ds_status (*report_status)(ds_host_handle *h, ds_str provider_message_id, ds_str status,
                               int32_t error_code);

    /* ---- Added in ABI 1.1. Test with DS_HAS_FIELD(ds_host, host, account_update)
     *      (or host->abi_minor >= 1) before calling: a 1.0 host lacks it. ---- */

    /**
     * Billing instances: changes the account whose billing-provider customer id
     * is `customer_id` (e.g. Stripe "cus_..."; the `stripe_customer_id` of an
     * `accounts:` entry). `tier` is the new tier name (one of the `tiers:`) or
     * empty for "unchanged"; `status` is "active", "past_due" or "canceled", or
     * empty for "unchanged". The change is stored durably (it survives
     * restarts and overrides plugins.yaml) and is visible to the host's
     * admission at once (before this returns), in every gateway process
     * sharing the store. Idempotent: applying the same values again is
     * DS_OK. Returns DS_OK; DS_ERR_NOT_FOUND if no account has that customer
     * id; DS_ERR_INVALID for an unknown tier or status or an empty customer id
     * (nothing is changed then); DS_ERR_UNAVAILABLE if the host cannot store
     * the change now (nothing is changed; retry later, e.g. answer the webhook
     * with a 5xx so the provider redelivers); DS_ERR_UNSUPPORTED if the host
     * keeps no accounts. Strings are owned by the plugin and only read during the call.
     * Any thread, concurrently; do not call while holding a lock the host could
     * need (it may take the account directory's lock).
     */
    ds_status (*account_update)(ds_host_handle *h, ds_str customer_id, ds_str tier, ds_str status);

    /* ---- Added in ABI 1.2. Test with DS_HAS_FIELD(ds_host, host, <member>)
     *      before calling: a 1.0 or 1.1 host lacks them. ---- */

    /**
     * Facts about the instance `h` (its id, interface and the server's public
     * URL). May be called from create() on. The result is owned by the host
     * and valid until the instance is destroyed; never NULL for a valid `h`.
     */
    const ds_instance_info *(*instance_info)(ds_host_handle *h);

    /**
     * Removes a route the instance registered (same method and path text as
     * registered). Requests already being handled still get their respond().
     * Returns DS_OK or DS_ERR_NOT_FOUND.
     */
    ds_status (*route_unregister)(ds_host_handle *h, ds_str method, ds_str path);

    /**
     * Like http_request(), and gives a handle to cancel the request:
     * `*out_call` is set before the callback can run. Returns DS_OK (the
     * callback will be called exactly once) or a negative code (never called;
     * *out_call is NULL).
     */
    ds_status (*http_start)(ds_host_handle *h, const ds_http_request *request,
                            ds_http_callback callback, void *user, ds_http_call **out_call);

    /**
     * Cancels a request started with http_start(): if it has not finished, the
     * transfer is aborted and the callback is called (soon, on a host thread)
     * with DS_ERR_CANCELLED. The callback is still called exactly once in
     * every case. Safe to call after the request finished, until the callback
     * has returned (a no-op then), and from inside an op's cancel().
     */
    void (*http_cancel)(ds_http_call *call);

    /**
     * (1.2) Starts a child process with pipes for its stdin, stdout and stderr.
     * The child inherits NO descriptor of the host other than those three (the
     * host's sockets, database and log files stay closed in it), starts with the
     * default signal dispositions and an empty signal mask, and runs in the host's
     * process group. Its output and its end arrive at `callback(user, ...)` (see
     * ds_process_callback); `*out_process` is set before the first callback can
     * run. Returns DS_OK (the callback will get DS_PROCESS_EXIT exactly once), or
     * a negative code with `err` saying why and the callback never called:
     * DS_ERR_NOT_FOUND (no such program), DS_ERR_INVALID (argc == 0, a bad spec),
     * DS_ERR_UNAVAILABLE (the system refused: too many processes or files).
     * A child still running when the instance is destroyed is killed (SIGKILL)
     * by the host after destroy() returns; stop it yourself in destroy() (close
     * its stdin, then process_kill) to let it exit cleanly. Any thread.
     */
    ds_status (*process_spawn)(ds_host_handle *h, const ds_process_spec *spec, ds_process_callback callback,
                               void *user, ds_process **out_process, ds_error *err);

    /**
     * (1.2) Writes all of `data` to the child's stdin (copied). Blocks while the
     * pipe is full (the child is not reading): never call it from a host callback
     * (timer, HTTP, this process's own callback) with much data. Calls are
     * serialised per process, so concurrent writes never interleave. Returns
     * DS_OK; DS_ERR_UNAVAILABLE if stdin was closed or the child no longer reads
     * (it exited); DS_ERR_NOT_FOUND for a stale handle. The host ignores SIGPIPE,
     * so a write to a dead child is an error, never a signal. Any thread.
     */
    ds_status (*process_write)(ds_process *process, ds_str data);

    /** (1.2) Closes the child's stdin (it reads EOF). Later writes fail; a second
     *  call is a no-op. Any thread. */
    void (*process_close_stdin)(ds_process *process);

    /** (1.2) Sends POSIX signal `signal` (15 = SIGTERM, 9 = SIGKILL, ...) to the
     *  child. Returns DS_OK, or DS_ERR_NOT_FOUND once the child has been reaped
     *  (the host never signals a recycled pid). Any thread. */
    ds_status (*process_kill)(ds_process *process, int32_t signal);
} ds_host;

struct ds_plugin_descriptor;

/* ========================================================================= */
/* Interfaces                                                                */
/* ========================================================================= */
/*
 * Common to every interface table:
 *
 * create(plugin, host, config_json, &instance, err)
 *     `plugin` is the descriptor this table was reached from (so one create
 *     function can serve several plugins, through plugin->plugin_data). Makes
 *     one instance from the `config` block of its plugins.yaml entry, given as
 *     a JSON object (never YAML). `host` identifies the instance in
 *     service calls; keep it. On success store your state in *out_instance and
 *     return DS_OK. On failure return a negative code (DS_ERR_CONFIG for bad
 *     config) and explain in `err`, naming the offending field. The host then
 *     refuses to start. Called once per instance, before any other call on
 *     it, from a host thread (at start-up, or by a reload that adds it).
 *
 * destroy(instance)
 *     Releases the instance at shutdown, after every op of it has completed or
 *     been cancelled. Never concurrent with any other call on the instance.
 *
 * cancel(instance, op)                                   (may be NULL)
 *     The host no longer wants the op's result (timeout, shutdown). The plugin
 *     should stop the work early, and must STILL call host->complete(op, ...)
 *     exactly once (DS_ERR_CANCELLED is fine); the host ignores the outcome.
 *     See TIMEOUTS: it may run while the op's function is still executing.
 *
 * validate_config(plugin, config_json, err)        (1.2; may be NULL)
 *     At the END of every 1.2 table. Checks a `config` block the way create()
 *     would, without creating anything or touching the network: problems only
 *     the plugin can see (a variable it reads with get_env that is unset, a URL
 *     it cannot use, two options that exclude each other). Return DS_OK, or
 *     DS_ERR_CONFIG with `err` naming the field ("config.account_sid: ...";
 *     several problems separated by '\n'). `darkspere check` calls it after
 *     the schema passed; `run` does not (create() reports the same problems).
 *     Any thread; never concurrent with create() of the same config.
 *
 * Operation functions (send, call, probe, authorize, record, write, flush)
 * receive an `op`. They return DS_PENDING or DS_OK when host->complete(op)
 * was or will be called exactly once; a negative return means "refused
 * synchronously": complete() was not and must not be called, and the return
 * value is the result.
 */

/** Interface id of a channel (e.g. SMS provider). */
#define DS_CHANNEL_V1 "ds.channel/1"

/**
 * A channel receives messages on routes it registers in create() (via
 * host->route_register), submits them with host->submit_inbound(), and sends
 * messages when the host asks.
 */
typedef struct ds_channel_v1 {
    uint32_t struct_size;   /**< sizeof(ds_channel_v1). */
    ds_status (*create)(const struct ds_plugin_descriptor *plugin, ds_host_handle *host, ds_str config_json,
                        void **out_instance, ds_error *err);
    void (*destroy)(void *instance);
    /**
     * Sends one message. Complete with DS_OK and outcome.text = the provider's
     * message id (and optionally data = {"segments":N}); or a retryable error
     * (with retry_after_ms if the provider said); or DS_ERR_OPTED_OUT; or
     * another negative code with outcome.detail_code = the provider's code.
     */
    ds_status (*send)(void *instance, const ds_outbound_message *message, ds_op *op);
    void (*cancel)(void *instance, ds_op *op);
    /* ---- 1.2 ---- */
    ds_status (*validate_config)(const struct ds_plugin_descriptor *plugin, ds_str config_json, ds_error *err);
} ds_channel_v1;

/** Interface id of an agent transport (how agents are reached: MCP, HTTP, ...). */
#define DS_AGENT_TRANSPORT_V1 "ds.agent-transport/1"

/**
 * An agent transport instance reaches any number of agents; each `agents:`
 * entry of plugins.yaml that names it is opened once with its own config.
 */
typedef struct ds_agent_transport_v1 {
    uint32_t struct_size;   /**< sizeof(ds_agent_transport_v1). */
    ds_status (*create)(const struct ds_plugin_descriptor *plugin, ds_host_handle *host, ds_str config_json,
                        void **out_instance, ds_error *err);
    void (*destroy)(void *instance);
    /**
     * Opens an agent endpoint from the agent's `config` block (JSON). May block
     * (e.g. to start a child process and handshake); the host calls it on a
     * start-up thread, never concurrently on one instance. On failure return
     * DS_ERR_CONFIG (or another code) with `err` naming the problem.
     */
    ds_status (*open)(void *instance, ds_str agent_name, ds_str agent_config_json,
                      void **out_agent, ds_error *err);
    /**
     * Sends one turn to the agent. Complete with DS_OK and outcome.text = the
     * reply (data may carry {"session_state":{...}} and, 1.2, attachments to send
     * with it: {"media":[{"url":"https://...","content_type":"image/png"}]};
     * url must be absolute http(s), content_type may be omitted), or an error: retryable
     * (TIMEOUT, UNAVAILABLE, RATE_LIMITED) lets the host retry or fail over;
     * others are permanent. The host never has two calls in flight for one
     * session, but may for different sessions on one agent.
     */
    ds_status (*call)(void *instance, void *agent, const ds_agent_request *request, ds_op *op);
    /** Health check. Complete with DS_OK if the agent is healthy, or an error. */
    ds_status (*probe)(void *instance, void *agent, ds_op *op);
    /** Closes an agent opened by open(), after its ops finished. */
    void (*close)(void *instance, void *agent);
    void (*cancel)(void *instance, ds_op *op);
    /* ---- 1.2 ---- */
    ds_status (*validate_config)(const struct ds_plugin_descriptor *plugin, ds_str config_json, ds_error *err);
    /** (may be NULL) Checks one `agents[].config` block as open() would, without
     *  opening anything; same rules as validate_config. */
    ds_status (*validate_agent_config)(const struct ds_plugin_descriptor *plugin, ds_str agent_name,
                                       ds_str agent_config_json, ds_error *err);
} ds_agent_transport_v1;

/** Interface id of a billing provider. */
#define DS_BILLING_V1 "ds.billing/1"

typedef struct ds_billing_v1 {
    uint32_t struct_size;   /**< sizeof(ds_billing_v1). */
    ds_status (*create)(const struct ds_plugin_descriptor *plugin, ds_host_handle *host, ds_str config_json,
                        void **out_instance, ds_error *err);
    void (*destroy)(void *instance);
    /** Asks whether a usage may happen. Complete with DS_OK (allow) or DS_ERR_DENIED with
     *  outcome.error = the reason. Note: the DarkSpere host (through ABI 1.1) decides
     *  admission itself, atomically in its store, from the tiers of plugins.yaml and the
     *  account changes made through account_update; it does not call `authorize` on the
     *  message path. Implement it (DS_OK is a fine answer) for hosts and tools that ask. */
    ds_status (*authorize)(void *instance, const ds_usage *usage, ds_op *op);
    /** Records usage that happened. The host has already summed it: one call carries the
     *  `quantity` of one usage kind of one account over one reporting interval
     *  (`billing.report_interval`), with `time_ms` = the interval's start and an
     *  `idempotency_key` that is the same on every attempt, before and after a host
     *  restart: report it with that key (e.g. as the provider's idempotency key or event
     *  identifier) so that a repeated call never counts twice.
     *  Complete with DS_OK only once the provider has accepted it (the host then marks
     *  it reported and never sends it again); with a retryable error (DS_ERR_UNAVAILABLE,
     *  DS_ERR_RATE_LIMITED, DS_ERR_TIMEOUT; retry_after_ms honoured) to have the host try
     *  again later with backoff; with DS_ERR_INVALID if the provider refused it for good
     *  (the host records it as failed). Usage the provider does not bill (no meter for
     *  the kind) completes DS_OK. The host never has two calls with the same key in
     *  flight; calls with different keys may run concurrently. */
    ds_status (*record)(void *instance, const ds_usage *usage, ds_op *op);
    void (*cancel)(void *instance, ds_op *op);
    /* ---- 1.2 ---- */
    ds_status (*validate_config)(const struct ds_plugin_descriptor *plugin, ds_str config_json, ds_error *err);
} ds_billing_v1;

/** Interface id of a log sink. */
#define DS_LOG_SINK_V1 "ds.log-sink/1"

typedef struct ds_log_sink_v1 {
    uint32_t struct_size;   /**< sizeof(ds_log_sink_v1). */
    ds_status (*create)(const struct ds_plugin_descriptor *plugin, ds_host_handle *host, ds_str config_json,
                        void **out_instance, ds_error *err);
    void (*destroy)(void *instance);
    /**
     * Writes a batch of events, each one JSON object (with a unique "id").
     * Never called concurrently on one instance; batches arrive in order.
     * Complete with DS_OK when all are durably written, DS_RETRY when none
     * were and the host should send the same batch again later (backend down),
     * or a negative error. A sink must tolerate a batch it already wrote
     * (dedupe on "id") because a retry may follow an unclear failure.
     */
    ds_status (*write)(void *instance, const ds_str *events, size_t event_count, ds_op *op);
    /** Makes everything written so far durable. Complete with DS_OK or an error. */
    ds_status (*flush)(void *instance, ds_op *op);
    void (*cancel)(void *instance, ds_op *op);
    /* ---- 1.2 ---- */
    ds_status (*validate_config)(const struct ds_plugin_descriptor *plugin, ds_str config_json, ds_error *err);
} ds_log_sink_v1;

/* ========================================================================= */
/* Descriptor and entry point                                                */
/* ========================================================================= */

/** What a library tells the host about itself. Static storage, never freed. */
typedef struct ds_plugin_descriptor {
    uint32_t            struct_size;     /**< sizeof(ds_plugin_descriptor). */
    uint16_t            abi_major;       /**< DS_ABI_MAJOR the plugin was built with. */
    uint16_t            abi_minor;       /**< DS_ABI_MINOR the plugin was built with. */
    const char         *id;              /**< Short name, NUL-terminated: [a-z0-9-]+, e.g. "twilio". */
    const char         *name;            /**< Human name, e.g. "Twilio SMS". */
    const char         *version;         /**< The plugin's own version, e.g. "1.2.0". */
    const char         *description;     /**< One line. May be NULL. */
    /** JSON Schema of the `config` block, NUL-terminated, or NULL. The host
     *  validates the config against it before create() (and in `darkspere
     *  check`), reporting each violation with the field's path, and fills in
     *  `default` values of absent properties before create() sees the JSON.
     *  The supported subset, exactly (any other keyword is reported by
     *  `darkspere check` as unknown, so a typo cannot pass silently):
     *    type        "object", "array", "string", "number", "integer" (a number
     *                with no fraction), "boolean", "null", or an array of them;
     *    properties, required, additionalProperties (false or a schema);
     *    items (one schema for every element), minItems, maxItems;
     *    enum, const;
     *    minimum, maximum (inclusive);
     *    minLength, maxLength (in Unicode characters);
     *    pattern     an ICU regular expression (the dialect of NSRegularExpression,
     *                close to PCRE), unanchored: write ^...$ to match the whole string;
     *    oneOf (exactly one subschema matches), anyOf (at least one);
     *    default     (in a property's schema) the value used when it is absent;
     *    description, title, $schema, $comment, examples, writeOnly, readOnly,
     *                deprecated (annotations: accepted, ignored). */
    const char         *config_schema;
    /** NULL-terminated array of the interface ids this library offers. */
    const char *const  *interfaces;
    /** Returns the function table of one interface (e.g. a ds_channel_v1 for
     *  DS_CHANNEL_V1), or NULL if not offered. `plugin` is this descriptor;
     *  `interface_id` is NUL-terminated. Any thread. */
    const void        *(*get_interface)(const struct ds_plugin_descriptor *plugin, const char *interface_id);
    /** Private to the plugin; the host never reads it, only passes the
     *  descriptor back to create(). May be NULL. */
    void               *plugin_data;
    /* ---- 1.2 ---- */
    /** Agent transports: JSON Schema (the subset above) of each `agents[].config`
     *  block that names this plugin, or NULL. Checked before open() and by
     *  `darkspere check`; defaults are applied as for config_schema. */
    const char         *agent_config_schema;
} ds_plugin_descriptor;

/**
 * The one exported function. Called once per library per process, right
 * after dlopen and before any other call into the library, from one host
 * thread (not necessarily the main one; later calls come from other threads,
 * which see what the entry stored). `host` is valid for the life of the
 * process: keep it.
 * Return the plugin's descriptor (static storage), or NULL if the plugin
 * cannot work with `host_abi_major`. With NULL the host only knows its own
 * version; to have its refusal name the plugin's too, also export
 * DS_ABI_SYMBOL (one line: DS_DECLARE_PLUGIN_ABI; at file scope).
 *
 *     DS_EXPORT const ds_plugin_descriptor *
 *     darkspere_plugin_entry(const ds_host *host, uint32_t host_abi_major, uint32_t host_abi_minor)
 *     {
 *         if (host_abi_major != DS_ABI_MAJOR) return NULL;
 *         g_host = host;
 *         return &my_descriptor;
 *     }
 */
typedef const ds_plugin_descriptor *(*ds_plugin_entry_fn)(const ds_host *host,
                                                          uint32_t host_abi_major,
                                                          uint32_t host_abi_minor);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DARKSPERE_PLUGIN_H */
