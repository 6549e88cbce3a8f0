"""The seed-style Python stack, as a benchmark peer for the gateway (bench/seed/run.sh):
FastAPI + twilio-python + psycopg 3 (async pool) + the PL/pgSQL in bench/seed/schema.sql.
Not part of the product.

POST /twilio/sms, one inbound Twilio webhook:
  1. read the form; check X-Twilio-Signature with twilio's RequestValidator over
     PUBLIC_URL + "/twilio/sms" (403 on a bad or missing one)
  2. get_or_create_session(From, MessageSid): the session, its agent and the last 20
     messages (oldest first); a retried MessageSid comes back with its stored reply, which
     is answered as it is (no second turn)
  3. the in-process echo agent: "echo: <Body> (history: N)" (the gateway's C echo agent's
     answer), given the history
  4. record_turn(...): inbound and reply rows, session touched, committed (durable: the
     server runs with fsync and synchronous_commit on) before the answer
  5. TwiML from twilio's MessagingResponse, application/xml

Env: DATABASE_URL (required), PUBLIC_URL (https://sms.bench.example), TWILIO_AUTH_TOKEN
(bench-auth-token-0123456789abcdef), POOL_SIZE (connections per worker process, 16).
Run: uvicorn app:app --workers 2 --no-access-log (bench/seed/run.sh does).
"""
import os
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from psycopg_pool import AsyncConnectionPool
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

DATABASE_URL = os.environ["DATABASE_URL"]
PUBLIC_URL = os.environ.get("PUBLIC_URL", "https://sms.bench.example").rstrip("/")
AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "bench-auth-token-0123456789abcdef")
POOL_SIZE = int(os.environ.get("POOL_SIZE", "16"))
WEBHOOK_URL = PUBLIC_URL + "/twilio/sms"

validator = RequestValidator(AUTH_TOKEN)
# Autocommit: each function call is its own transaction; record_turn's commit is the
# durable write (WAL flushed) that happens before the webhook is answered.
pool = AsyncConnectionPool(DATABASE_URL, min_size=POOL_SIZE, max_size=POOL_SIZE, open=False,
                           kwargs={"autocommit": True})


@asynccontextmanager
async def lifespan(_app):
    await pool.open(wait=True)
    try:
        yield
    finally:
        await pool.close()


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)


def echo_agent(body: str, history: list) -> str:
    """The in-process agent: echoes the message with the length of the history it was given."""
    return f"echo: {body} (history: {len(history)})"


def twiml(text: str | None) -> Response:
    resp = MessagingResponse()
    if text:
        resp.message(text)
    return Response(content=str(resp), media_type="application/xml")


@app.get("/healthz")
async def healthz():
    return {"ok": True}


@app.post("/twilio/sms")
async def twilio_sms(request: Request):
    form = await request.form()
    params = dict(form)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not validator.validate(WEBHOOK_URL, params, signature):
        return Response(content="invalid signature", status_code=403, media_type="text/plain")
    phone = params.get("From")
    sid = params.get("MessageSid") or params.get("SmsSid")
    if not phone or not sid:
        return Response(content="missing From or MessageSid", status_code=400, media_type="text/plain")
    body = params.get("Body", "")
    started = time.monotonic()
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT session_id, agent_id, history, prior_reply FROM get_or_create_session(%s, %s)",
            (phone, sid))
        session_id, _agent_id, history, prior_reply = await cur.fetchone()
        if prior_reply is not None:          # a retried webhook: the stored answer, no second turn
            return twiml(prior_reply)
        reply = echo_agent(body, history)
        ms = int((time.monotonic() - started) * 1000)
        cur = await conn.execute(
            "SELECT reply, duplicate FROM record_turn(%s, %s, %s, %s, %s)",
            (session_id, sid, body, reply, ms))
        reply, _duplicate = await cur.fetchone()
    return twiml(reply)
