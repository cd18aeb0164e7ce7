"""A fake Stripe API on loopback: enough of /v1/checkout/sessions for the official SDK.

It keeps every request (path, form fields, Idempotency-Key) and answers like
Stripe: the same idempotency key gives the same session back.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


def unflatten(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (`line_items[0][price_data][unit_amount]=5`) back to dicts."""
    result: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return result


@dataclass
class FakeStripe:
    url: str = ""
    requests: list[dict] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)  # idempotency key -> session

    def handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args):
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                """The hosted checkout page: a link back to the shop, as after paying."""
                if self.path == "/favicon.ico":
                    self.send_response(204)
                    self.end_headers()
                    return
                session = next((each for each in fake.sessions.values()
                                if self.path == f"/pay/{each['id']}"), None)
                if session is None:
                    self.send_error(404)
                    return
                page = (f"<!doctype html><title>Fake Checkout</title><h1>Fake Checkout</h1>"
                        f"<p>{session['amount_total']} {session['currency']}</p>"
                        f"<a href=\"{session['success_url']}\">Back to the shop</a>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = unflatten(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                key = self.headers.get("Idempotency-Key", "")
                fake.requests.append({"path": self.path, "form": form, "idempotency_key": key,
                                      "authorization": self.headers.get("Authorization", "")})
                if self.path != "/v1/checkout/sessions":
                    return self._answer(404, {"error": {"message": "Unknown path", "type": "invalid_request_error"}})
                if key in fake.sessions:
                    return self._answer(200, fake.sessions[key])
                number = len(fake.sessions) + 1
                item = form["line_items"]["0"]
                session = {
                    "id": f"cs_test_{number}",
                    "object": "checkout.session",
                    "mode": form.get("mode"),
                    "url": f"{fake.url}/pay/cs_test_{number}",
                    "amount_total": int(item["price_data"]["unit_amount"]) * int(item["quantity"]),
                    "currency": item["price_data"]["currency"],
                    "metadata": form.get("metadata", {}),
                    "payment_status": "unpaid",
                    "success_url": form.get("success_url"),
                    "cancel_url": form.get("cancel_url"),
                }
                fake.sessions[key] = session
                return self._answer(200, session)

        return Handler

    def __enter__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def completed_event(session: dict, intent: str, event_id: str = "evt_1", amount: int | None = None) -> dict:
    """The `checkout.session.completed` event Stripe sends once the client has paid."""
    return {
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "data": {"object": {**session, "payment_status": "paid", "payment_intent": intent,
                            "amount_total": session["amount_total"] if amount is None else amount}},
    }


def intent_event(invoice_id: int, intent: str, amount: int, event_id: str) -> dict:
    """The `payment_intent.succeeded` event of the same payment."""
    return {
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": intent, "object": "payment_intent", "amount_received": amount,
                            "metadata": {"invoice_id": str(invoice_id)}}},
    }
