"""Walmart US end to end over the sandbox: added as a package and a registry line, it syncs and cancels."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal

import pytest

from cancellations.models import Cancellation, MarketplaceCall, MarketplaceReason, Order
from cancellations.sandbox import walmart as walmart_sandbox
from cancellations.selectors.reasons import ReasonBook
from cancellations.services import CancellationRequestError, LineRequest, cancellation_request
from tests.integration.conftest import cancel_calls_received, lines_of, sandbox_account

pytestmark = pytest.mark.django_db(transaction=True)

US_REASONS = {
    "CUSTOMER_REQUESTED_SELLER_TO_CANCEL": "customer_request",
    "SELLER_CANCEL_PRICING_ERROR": "pricing_error",
    "SELLER_CANCEL_OUT_OF_STOCK": "out_of_stock",
    "SELLER_CANCEL_FRAUD_STOP_SHIPMENT": "fraud_suspicion",
    "SELLER_CANCEL_ADDRESS_NOT_SERVICEABLE": "cannot_ship",
}


@pytest.fixture
def walmart_us(live_server, transactional_db):
    credentials = {"auth": "oauth", "client_id": f"us-{secrets.token_hex(4)}",
                   "client_secret": secrets.token_urlsafe(16)}
    return sandbox_account(live_server, name="walmart-us", marketplace="walmart_us", credentials=credentials,
                           options={}, seed=walmart_sandbox.orders_seed)


def test_sync_reads_us_orders_in_usd_with_the_us_reasons(walmart_us):
    orders = Order.objects.filter(account=walmart_us)
    assert orders.count() == len(walmart_sandbox.SEED_ORDERS)
    assert set(orders.values_list("currency", flat=True)) == {"USD"}
    boots, socks = lines_of(walmart_us, "5801000000033")
    assert (boots.quantity, boots.unit_price, boots.status, boots.open_quantity) == (2, Decimal("89.95"), "Created", 2)
    reasons = dict(MarketplaceReason.objects.filter(account=walmart_us).values_list("code", "normalised"))
    assert reasons == US_REASONS
    token, listing = MarketplaceCall.objects.filter(account=walmart_us).order_by("pk")[:2]
    assert token.operation == "token" and listing.operation == "list_orders"
    assert listing.request_headers["WM_MARKET"] == "us" and "/v3/orders?" in listing.url


def test_two_lines_of_one_order_are_cancelled_in_one_call_and_confirmed(walmart_us):
    boots, socks = lines_of(walmart_us, "5801000000033")
    created = cancellation_request(lines=[LineRequest(line_id=boots.pk, quantity=1), LineRequest(line_id=socks.pk)],
                                   reason="out_of_stock", source="api")
    done = list(Cancellation.objects.filter(pk__in=[c.pk for c in created]).order_by("pk"))
    assert [(c.status, c.quantity, c.reason_code) for c in done] == [
        ("confirmed", 1, "SELLER_CANCEL_OUT_OF_STOCK"), ("confirmed", 3, "SELLER_CANCEL_OUT_OF_STOCK")]
    assert [c.restock for c in done] == [False, False]  # out of stock: nothing goes back to stock
    assert cancel_calls_received(walmart_us) == 1
    call = MarketplaceCall.objects.get(account=walmart_us, operation="cancel")
    assert call.status_code == 200 and set(call.cancellations.all()) == set(done)
    assert call.request_headers["WM_MARKET"] == "us" and call.url.endswith("/v3/orders/5801000000033/cancel")
    sent = json.loads(call.request_body)["orderCancellation"]["orderLines"]["orderLine"]
    assert [line["lineNumber"] for line in sent] == [boots.external_id, socks.external_id]
    boots.refresh_from_db()
    socks.refresh_from_db()
    assert (boots.cancelled_quantity, boots.open_quantity, socks.cancelled_quantity) == (1, 1, 3)


def test_canadas_reason_and_an_unmapped_one_are_refused_before_anything_is_sent(walmart_us):
    (kettle,) = lines_of(walmart_us, "5801000000011")
    before = Cancellation.objects.count()  # (sync records what the marketplace already cancelled)
    for reason in ("CANCEL_BY_SELLER", "other"):
        with pytest.raises(CancellationRequestError) as err:
            cancellation_request(lines=[LineRequest(line_id=kettle.pk)], reason=reason, source="api")
        assert err.value.errors[0].field == "reason" and "Walmart US" in err.value.errors[0].message
    assert Cancellation.objects.count() == before and cancel_calls_received(walmart_us) == 0
    choices = [code for code, _ in ReasonBook([walmart_us.pk]).choices(walmart_us)]
    assert "other" not in choices and set(US_REASONS) <= set(choices)
