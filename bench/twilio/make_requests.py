#!/usr/bin/env python3
"""Writes N distinct, correctly signed Twilio SMS webhooks for wrk: one per line,
"<X-Twilio-Signature>\t<form body>" (twilio.lua reads the slice it needs).

Each request has its own MessageSid and body, and an X-Twilio-Signature computed by the
official twilio library (RequestValidator.compute_signature) over PUBLIC_URL + /twilio/sms,
exactly what the gateway verifies. Senders: request i comes from sender i % SENDERS, so
with SENDERS=10000 most messages continue a conversation (an existing session) as in real
traffic; SENDERS=0 makes every request a new sender (a new session each: the worst case).

usage: make_requests.py N OUT.tsv [PUBLIC_URL] [AUTH_TOKEN] [SENDERS (default 0)]
"""
import sys
from urllib.parse import urlencode
from twilio.request_validator import RequestValidator

n = int(sys.argv[1])
out = sys.argv[2]
public_url = sys.argv[3] if len(sys.argv) > 3 else "https://sms.bench.example"
token = sys.argv[4] if len(sys.argv) > 4 else "bench-auth-token-0123456789abcdef"
senders = int(sys.argv[5]) if len(sys.argv) > 5 else 0
validator = RequestValidator(token)
url = public_url + "/twilio/sms"

with open(out, "w") as f:
    for i in range(n):
        sid = "SM%032x" % (0xB0000000 + i)
        params = {
            "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0",
            "ToCity": "", "FromZip": "94105", "SmsSid": sid, "FromState": "CA", "SmsStatus": "received",
            "FromCity": "SAN FRANCISCO", "Body": "Hello agent, this is benchmark message %d. What's up?" % i,
            "FromCountry": "US", "To": "+15557654321", "ToZip": "", "NumSegments": "1",
            "MessageSid": sid, "AccountSid": "AC0123456789abcdef0123456789abcdef",
            "From": "+1555%07d" % (i % (senders or 10_000_000)), "ApiVersion": "2010-04-01",
        }
        sig = validator.compute_signature(url, params)
        f.write("%s\t%s\n" % (sig, urlencode(params)))
print(f"wrote {n} signed requests to {out}")
