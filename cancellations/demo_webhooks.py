"""The demo's webhook side: a small receiver it serves itself, the endpoint pointed at it, a delivery thread.

The receiver checks each delivery's signature the way the README tells integrators to, and answers 200 (or
400 for a bad signature), so a newcomer sees real deliveries and their attempts in the admin.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db import connection

from .models import WebhookEndpoint
from .services.events import EVENT_TYPES
from .services.outbound import outbound_sweep
from .services.webhooks import webhook_endpoint_create
from .webhook_signature import HEADER, signature_verify

DEMO_DESCRIPTION = "Demo receiver (served by bin/demo)"
RECEIVER_PATH = "/webhooks"


def demo_webhooks_start(host: str, say: Callable[[str], None]) -> WebhookEndpoint:
    """Serve the receiver on a free port, point the demo endpoint at it, deliver from a thread of its own."""
    server = ThreadingHTTPServer((host, 0), _Receiver)
    server.daemon_threads = True
    server.say = say
    endpoint = demo_endpoint(f"http://{host}:{server.server_port}{RECEIVER_PATH}")
    server.secret = endpoint.signing_secret
    threading.Thread(target=server.serve_forever, name="demo-webhook-receiver", daemon=True).start()
    say(f"Webhook endpoint: {endpoint.url} (every event type, served by this demo)")
    delivery_thread_start(say)
    return endpoint


class _Receiver(BaseHTTPRequestHandler):
    """Checks the signature as the README shows, answers 200 (400 for a bad one) and says what came."""

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 1_000_000))
        ok = signature_verify(self.server.secret, body, self.headers.get(HEADER, ""))
        self.send_response(200 if ok else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if ok:
            event = json.loads(body)
            self.server.say(f"webhook receiver: {event['type']} {event['id']} (signature verified)")
        else:
            self.server.say("webhook receiver: refused a delivery with a bad signature")

    def log_message(self, *args) -> None:
        pass


def demo_endpoint(url: str) -> WebhookEndpoint:
    """The demo's one endpoint, subscribed to every event type, pointed at this run's receiver."""
    endpoint = WebhookEndpoint.objects.filter(description=DEMO_DESCRIPTION).first()
    if endpoint is None:
        return webhook_endpoint_create(url=url, events=list(EVENT_TYPES), description=DEMO_DESCRIPTION)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=url, events=list(EVENT_TYPES), enabled=True)
    endpoint.refresh_from_db()
    return endpoint


def delivery_thread_start(say: Callable[[str], None], interval: float = 2.0) -> threading.Thread:
    """Deliver webhooks (and alert digests) beside the cancellation sweeper, never inside it."""

    def loop() -> None:
        while True:
            try:
                report = outbound_sweep()
                if report:
                    say("deliveries: " + " ".join(f"{k}={v}" for k, v in report.items()))
            except Exception as exc:  # keep the demo alive; the next round tries again
                say(f"deliveries: {type(exc).__name__}: {exc}")
            finally:
                connection.close()
            time.sleep(interval)

    thread = threading.Thread(target=loop, name="demo-webhook-delivery", daemon=True)
    thread.start()
    return thread
