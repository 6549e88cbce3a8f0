/* libcrypto (OpenSSL) for the Stripe plugin: HMAC-SHA256 and a constant-time compare.
 * A system library, so it is shared by the process, never duplicated (apt: libssl-dev). */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
