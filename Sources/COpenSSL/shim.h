/* libcrypto (OpenSSL) from the system (apt: libssl-dev): digests, HMAC and a constant-time
 * compare for the Twilio and Stripe plugins (through the Digests module). A system library,
 * so the process holds one copy however many plugins use it. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
