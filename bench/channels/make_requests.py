#!/usr/bin/env python3
"""Writes N distinct inbound requests for wrk (channels.lua), one per line,
"<header value>\t<JSON body>", for one channel:

  telegram  Telegram webhook Updates (header: the webhook secret, the same on every line);
            update i is message i from chat 100000 + i % SENDERS.
  webchat   web chat messages; the header is "Bearer <visitor token>" signed with SECRET
            exactly as the plugin does (HMAC-SHA256), visitor i % SENDERS; each body has
            its own client id, so none is answered from dedupe.

usage: make_requests.py telegram|webchat N OUT.tsv SECRET [SENDERS (default 10000)]
"""
import hashlib, hmac, json, sys, time

kind, n, out, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
senders = int(sys.argv[5]) if len(sys.argv) > 5 else 10000
text = "Hello agent, this is benchmark message %d. What's up?"

with open(out, "w") as f:
    if kind == "telegram":
        for i in range(n):
            chat = 100000 + i % senders
            u = {"update_id": 500000000 + i, "message": {"message_id": 1 + i, "date": 1767000000, "text": text % i,
                 "from": {"id": chat, "is_bot": False, "first_name": "Bench"}, "chat": {"id": chat, "type": "private"}}}
            f.write("%s\t%s\n" % (secret, json.dumps(u, separators=(",", ":"))))
    elif kind == "webchat":
        expires = int(time.time()) + 86400 * 7
        tokens = []
        for v in range(senders):
            payload = "v1.%032x.%d" % (0xB0000000 + v, expires)
            tokens.append(payload + "." + hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest())
        for i in range(n):
            f.write("Bearer %s\t%s\n" % (tokens[i % senders], json.dumps({"text": text % i, "id": "b%x" % i})))
    else:
        sys.exit("kind: telegram or webchat")
print(f"wrote {n} {kind} requests to {out}")
