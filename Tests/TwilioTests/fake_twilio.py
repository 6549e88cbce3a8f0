#!/usr/bin/env python3
"""A fake Twilio Messages REST API on loopback, for the Twilio channel's tests.

POST /2010-04-01/Accounts/{sid}/Messages.json answers by the recipient number:
  +15550000429  429 (code 20429, Retry-After: 2) the first time, then 201
  +15550000503  503 every time (Retry-After: 1)
  +15550000400  400 code 21211 (invalid To)
  +15550021610  400 code 21610 (unsubscribed recipient)
  +15550000777  503 for the 2nd request only (a multi-part send failing half-way)
  anything else 201 with a fresh SM sid
Wrong Basic auth: 401 code 20003. GET /requests returns every request received as
JSON (method, path, auth ok, form with each parameter's first value, media_urls: every
MediaUrl value in order). Prints the bound port on stdout, then serves
until stdin closes or it is killed. Loopback only.
"""
import base64, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

ACCOUNT, TOKEN = sys.argv[1], sys.argv[2]
requests, seen, lock = [], {}, threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/requests":
            with lock:
                self.answer(200, requests)
        else:
            self.answer(404, {"code": 20404, "message": "not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n).decode()
        multi = parse_qs(raw, keep_blank_values=True)
        form = {k: v[0] for k, v in multi.items()}
        expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        auth_ok = self.headers.get("Authorization") == expected
        with lock:
            requests.append({"method": "POST", "path": self.path, "auth_ok": auth_ok, "form": form,
                             "media_urls": multi.get("MediaUrl", []),
                             "content_type": self.headers.get("Content-Type", "")})
            to = form.get("To", "")
            seen[to] = seen.get(to, 0) + 1
            count, sid = seen[to], "SM%032x" % len(requests)
        if self.path != f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json":
            return self.answer(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
        if not auth_ok:
            return self.answer(401, {"code": 20003, "message": "Authentication Error - invalid username", "status": 401})
        if to == "+15550000429" and count == 1:
            return self.answer(429, {"code": 20429, "message": "Too Many Requests", "status": 429}, [("Retry-After", "2")])
        if to == "+15550000503":
            return self.answer(503, {"code": 20500, "message": "Service Unavailable", "status": 503}, [("Retry-After", "1")])
        if to == "+15550000777" and count == 2:
            return self.answer(503, {"code": 20500, "message": "Service Unavailable", "status": 503})
        if to == "+15550000400":
            return self.answer(400, {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400})
        if to == "+15550021610":
            return self.answer(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400})
        return self.answer(201, {"sid": sid, "status": "queued", "to": to, "body": form.get("Body", ""),
                                 "num_segments": "1", "account_sid": ACCOUNT})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()  # serve until the test closes our stdin (or kills us)
server.shutdown()
