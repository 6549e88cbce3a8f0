"""Holds COUNT connections open to 127.0.0.1:PORT, for connection-flood tests.

usage: slow_clients.py PORT COUNT idle|trickle
  idle:    connect and send nothing
  trickle: send a partial request head, then one more header byte per connection every 200 ms
Prints "ready N" (N connections made) once all are attempted; runs until killed.
"""
import socket, sys, time

port, count, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
conns = []
for i in range(count):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if mode == "trickle":
            s.sendall(b"POST /twilio/sms HTTP/1.1\r\nHost: t\r\nX-Slow-%d: " % i)
        conns.append(s)
    except OSError:
        pass
print("ready %d" % len(conns), flush=True)
while True:
    time.sleep(0.2)
    if mode == "trickle":
        for s in conns:
            try:
                s.send(b"a")
            except OSError:
                pass
