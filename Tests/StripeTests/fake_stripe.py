"""A fake Stripe API on loopback for the Stripe plugin's tests.

Prints its port on the first line of stdout, then serves until stdin closes or it is killed.
  POST /v1/billing/meter_events   records the request; answers with the next scripted
                                  status (see /script), else 200 and a meter event object.
  POST /script                    JSON list of [status, retry_after_or_null], consumed in order.
  GET  /requests                  JSON list of every meter-event request received:
                                  {"auth": ..., "form": {field: value}, "status": answered}.
  GET  /totals                    what Stripe would count: {customer: {event_name: sum}}, over
                                  accepted (200) events, each identifier once (like Stripe, a
                                  repeated identifier is answered 200 and not counted again).
  POST /delay                     body: milliseconds every later meter-event answer waits after
                                  the event was recorded (to crash a client mid-request).
Standard library only; one thread per request.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

lock = threading.Lock()
requests = []
script = []
counted = {}   # identifier -> (customer, event_name, value)
delay_ms = [0]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/requests":
            with lock:
                self.reply(200, list(requests))
        elif self.path == "/totals":
            totals = {}
            with lock:
                for customer, event, value in counted.values():
                    per = totals.setdefault(customer, {})
                    per[event] = per.get(event, 0) + value
            self.reply(200, totals)
        else:
            self.reply(404, {"error": {"message": "no such path"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode()
        if self.path == "/delay":
            delay_ms[0] = int(raw or "0")
            self.reply(200, {"ok": True})
            return
        if self.path == "/script":
            with lock:
                script.extend(json.loads(raw))
            self.reply(200, {"ok": True})
            return
        if self.path != "/v1/billing/meter_events":
            self.reply(404, {"error": {"message": "no such path"}})
            return
        form = dict(parse_qsl(raw, keep_blank_values=True))
        with lock:
            status, retry_after = script.pop(0) if script else (200, None)
            requests.append({"auth": self.headers.get("Authorization", ""),
                             "content_type": self.headers.get("Content-Type", ""),
                             "form": form, "status": status})
            ident = form.get("identifier", "")
            if status == 200 and ident not in counted:
                counted[ident] = (form.get("payload[stripe_customer_id]", ""), form.get("event_name", ""),
                                  int(form.get("payload[value]", "0")))
            wait = delay_ms[0]
        if wait:
            time.sleep(wait / 1000.0)
        if status == 200:
            self.reply(200, {"object": "billing.meter_event", "event_name": form.get("event_name"),
                             "identifier": form.get("identifier"), "payload": {
                                 "stripe_customer_id": form.get("payload[stripe_customer_id]"),
                                 "value": form.get("payload[value]")},
                             "timestamp": int(form.get("timestamp", "0"))})
        else:
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            self.reply(status, {"error": {"message": "scripted failure %d" % status}}, headers)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()
server.shutdown()
