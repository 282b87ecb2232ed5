"""Rows of every model the admin shows, in any number, to check that page cost does not grow with data."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from cancellations.models import (
    CallState,
    Cancellation,
    CancellationEvent,
    CancellationStatus,
    Event,
    InventoryAdjustment,
    MarketplaceCall,
    MarketplaceReason,
    OrderLine,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from cancellations.sandbox.models import SandboxCancel, SandboxFault, SandboxOrder, SandboxRequest, SandboxSeller
from tests.factories import account_create, line_create, order_create

STATUSES = [s.value for s in CancellationStatus]


def cancellation_create(line: OrderLine, *, status: str = CancellationStatus.PENDING, quantity: int = 1,
                        user=None, **kwargs) -> Cancellation:
    account = line.order.account
    default_code = "CANCEL_BY_SELLER" if account.marketplace == "walmart_ca" else "RE01"
    reason_code = kwargs.pop("reason_code", default_code)
    if account.marketplace == "mirakl":  # a code the account really offers, as after a sync
        MarketplaceReason.objects.get_or_create(account=account, code=reason_code)
    return Cancellation.objects.create(
        line=line, account=account, quantity=quantity, reason_code=reason_code,
        status=status, source=kwargs.pop("source", "admin"), requested_by=user, **kwargs,
    )


def admin_rows_create(n: int, *, user=None) -> dict[str, object]:
    """``n`` rows of each admin-visible model (two accounts, one per marketplace, share them).

    The last order also holds ``n`` lines and the last cancellation ``n`` events and ``n`` calls, so change
    pages with inlines grow too.
    """
    accounts = [
        account_create(marketplace="mirakl", credentials={"api_key": "mirakl-secret-key-value"}),
        account_create(marketplace="walmart_ca",
                       credentials={"client_id": "walmart-client", "client_secret": "walmart-secret-value"},
                       options={"auth": "oauth"}),
    ]
    now = timezone.now()
    cancellations = []
    for i in range(n):
        account = accounts[i % 2]
        order = order_create(account=account, lines=1, quantity=3, ordered_at=now - timedelta(days=i % 40),
                             raw={"order_id": f"raw-{i}", "lines": [{"n": i}]})
        line = order.lines.get()
        c = cancellation_create(line, status=STATUSES[i % len(STATUSES)], user=user,
                                amount=Decimal("10.00"), taxes=[{"code": "GST", "amount": "0.50"}])
        cancellations.append(c)
        CancellationEvent.objects.create(cancellation=c, from_status="", to_status=c.status, actor=user)
        call = MarketplaceCall.objects.create(
            account=account, operation="cancel", state=CallState.DONE, method="PUT", url="https://m.example/x",
            request_headers={"Authorization": "***"}, request_body='{"order_lines": [1]}', status_code=200,
            response_body="<a><b>ok</b></a>", correlation_id=f"corr-{i}",
        )
        call.cancellations.add(c, *cancellations[:1])
        InventoryAdjustment.objects.create(account=account, cancellation=c, sku=line.sku, quantity=1,
                                           restock=bool(i % 2), exported_at=None if i % 3 else now)
        MarketplaceReason.objects.create(account=account, code=f"R{i:02d}", label=f"Reason {i}")
        seller = SandboxSeller.objects.create(marketplace="mirakl", identifier=f"seller-{i}",
                                              secret_sha256="ab" * 32)
        SandboxOrder.objects.create(seller=seller, external_id=f"S-{i}", data={"lines": [i]},
                                    created_at=now, updated_at=now)
        SandboxFault.objects.create(seller=seller, marketplace="mirakl", operation="cancel", kind="server_error")
        SandboxRequest.objects.create(marketplace="mirakl", seller=seller, operation="cancel", method="PUT",
                                      path="/api/orders/cancel", status_code=204)
        SandboxCancel.objects.create(seller=seller, order_id=f"S-{i}", line_id=f"S-{i}-1", quantity=1,
                                     operation="cancel")
    for i in range(1, n):
        line_create(order=order, external_id=f"{order.external_id}-extra-{i}", quantity=2)
    CancellationEvent.objects.bulk_create(
        CancellationEvent(cancellation=cancellations[0], from_status="pending", to_status="sending", actor=user)
        for _ in range(n)
    )
    _integration_rows_create(n, now)
    return {"accounts": accounts, "cancellations": cancellations}



def _integration_rows_create(n: int, now) -> None:
    """Events, webhook endpoints and deliveries; the last delivery carries ``n`` attempts."""
    endpoint = None
    for i in range(n):
        event = Event.objects.create(type="cancellation.confirmed", data={"id": i, "status": "confirmed"})
        endpoint = WebhookEndpoint.objects.create(url=f"https://hooks{i}.example.com/", events=["account.error"],
                                                  secret={"secret": "whsec_x"})
        delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, next_attempt_at=now,
                                                  window_started_at=now)
    WebhookAttempt.objects.bulk_create(WebhookAttempt(delivery=delivery, status_code=500, duration_ms=3)
                                       for _ in range(n))
