"""Mirakl: the product picks the call for the line's state, end to end over the sandbox (real sockets).

Waiting for acceptance → OR21 refusal (whole lines, one call per order, a decision on every waiting line);
not yet debited → OR30 (fees cancelled with the line); an account whose operator left shop partial
cancelation off → OR29 for whole orders, partial refused; shipped/closed → not cancellable, 0 everywhere.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from cancellations.models import Cancellation, MarketplaceAccount, MarketplaceCall
from cancellations.sandbox.models import SandboxCancel, SandboxOrder
from cancellations.services import LineRequest, cancellation_request, orders_sync
from cancellations.services.cancellation_request import cancellation_dry_run
from cancellations.services.errors import CancellationRequestError
from tests.integration.conftest import lines_of

pytestmark = pytest.mark.django_db(transaction=True)


def _cancel(lines_and_qty, *, reason="21", accept_others=False):
    created = cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=q) for line, q in lines_and_qty],
                                   reason=reason, source="api", accept_others=accept_others)
    return list(Cancellation.objects.filter(pk__in=[c.pk for c in created]).order_by("pk"))


def _refused(line_pk) -> dict[str, str]:
    with pytest.raises(CancellationRequestError) as info:
        cancellation_request(lines=[LineRequest(line_id=line_pk)], reason="21", source="api")
    return {e.field: e.message for e in info.value.errors}


def _sandbox_line(order_id: str, index: int) -> dict:
    return SandboxOrder.objects.get(external_id=order_id).data["order_lines"][index]


def test_waiting_lines_are_refused_with_or21_one_call_per_order(mirakl_live):
    controller, charger = lines_of(mirakl_live, "BBY-1007-A")
    assert (controller.status, controller.cancellable_quantity) == ("WAITING_ACCEPTANCE", 2)

    with pytest.raises(CancellationRequestError) as partial:  # OR21 refuses whole lines
        cancellation_request(lines=[LineRequest(line_id=controller.pk, quantity=1)], reason="21", source="api")
    assert [(e.field, "refused whole" in e.message) for e in partial.value.errors] == [("quantity", True)]
    other = _refused(controller.pk)  # the other waiting line needs a decision in the same call
    assert "BBY-1007-A-2" in other["line"]
    assert not Cancellation.objects.exclude(source="marketplace").exists()  # drift records come from the sync

    _, (call,) = cancellation_dry_run(lines=[LineRequest(line_id=controller.pk), LineRequest(line_id=charger.pk)],
                                      reason="21")
    assert call.call.name == "OR21" and call.call.url.split("?")[0].endswith("/api/orders/BBY-1007-A/accept")

    done = _cancel([(controller, None), (charger, None)])
    assert [(c.status, c.quantity) for c in done] == [("confirmed", 2), ("confirmed", 1)]
    (row,) = MarketplaceCall.objects.filter(operation="cancel")
    assert row.batch_key == "OR21 BBY-1007-A" and row.url.split("?")[0].endswith("/accept") and row.status_code == 204
    assert [_sandbox_line("BBY-1007-A", i)["order_line_state"] for i in (0, 1)] == ["REFUSED", "REFUSED"]
    assert sorted(SandboxCancel.objects.values_list("line_id", "quantity", "operation")) == [
        ("BBY-1007-A-1", 2, "refuse"), ("BBY-1007-A-2", 1, "refuse")]
    controller.refresh_from_db()
    assert (controller.status, controller.cancellable_quantity) == ("REFUSED", 0)
    orders_sync(account=mirakl_live)  # a re-sync agrees: every unit is gone
    controller.refresh_from_db()
    assert (controller.cancelled_quantity, controller.cancellable_quantity) == (2, 0)


def test_refusing_one_line_and_accepting_the_other_where_the_account_allows_it(mirakl_live):
    controller, charger = lines_of(mirakl_live, "BBY-1007-A")
    assert "partial_acceptance" not in mirakl_live.options  # off unless the account says so
    with pytest.raises(CancellationRequestError) as info:
        cancellation_request(lines=[LineRequest(line_id=controller.pk)], reason="21", source="api",
                             accept_others=True)
    assert "does not allow accepting some lines" in info.value.errors[0].message
    MarketplaceAccount.objects.filter(pk=mirakl_live.pk).update(options={**mirakl_live.options,
                                                                         "partial_acceptance": True})
    (c,) = _cancel([(controller, None)], accept_others=True)
    assert c.status == "confirmed"
    assert [_sandbox_line("BBY-1007-A", i)["order_line_state"] for i in (0, 1)] == ["REFUSED", "WAITING_DEBIT"]


def test_lines_not_yet_debited_go_by_or30_with_their_fees(mirakl_live):
    (laptop,) = lines_of(mirakl_live, "BBY-1008-A")
    assert laptop.fees == [{"code": "CARD_FEE", "amount": "9.00"}, {"code": "EHF", "amount": "1.35"}]
    (first,) = _cancel([(laptop, 1)])
    assert first.status == "confirmed"
    assert first.fees == [{"code": "CARD_FEE", "amount": "4.50"}, {"code": "EHF", "amount": "0.68"}]
    assert MarketplaceCall.objects.get(operation="cancel").batch_key == "OR30 TAX_EXCLUDED"
    (last,) = _cancel([(laptop, None)])  # the last unit takes the exact remainder
    assert last.fees == [{"code": "CARD_FEE", "amount": "4.50"}, {"code": "EHF", "amount": "0.67"}]
    cancelled = _sandbox_line("BBY-1008-A", 0)["cancelations"]
    assert sum(Decimal(f["amount"]) for c in cancelled for f in c["fees"]) == Decimal("10.35")
    laptop.refresh_from_db()
    assert laptop.cancelled_fees == {"CARD_FEE": "9.00", "EHF": "1.35"}


def test_partial_cancelation_off_cancels_whole_orders_by_or29_and_refuses_part(mirakl_live):
    MarketplaceAccount.objects.filter(pk=mirakl_live.pk).update(options={**mirakl_live.options,
                                                                         "partial_cancelation_off": True})
    seller = mirakl_live.sandbox_seller
    seller.options = {"partial_cancelation": False}  # the operator's side of the same setting
    seller.save()
    hdmi, hub = lines_of(mirakl_live, "BBY-1002-A")
    with pytest.raises(CancellationRequestError) as info:
        cancellation_request(lines=[LineRequest(line_id=hdmi.pk)], reason="21", source="api")
    message = info.value.errors[0].message
    assert "cancels whole orders only" in message and "BBY-1002-A-2" in message
    with pytest.raises(CancellationRequestError):
        cancellation_request(lines=[LineRequest(line_id=hdmi.pk, quantity=1), LineRequest(line_id=hub.pk)],
                             reason="21", source="api")
    assert not Cancellation.objects.exclude(source="marketplace").exists()  # drift records come from the sync

    done = _cancel([(hdmi, None), (hub, None)])
    assert [c.status for c in done] == ["confirmed", "confirmed"]
    (row,) = MarketplaceCall.objects.filter(operation="cancel")
    assert row.batch_key == "OR29 BBY-1002-A" and row.url.split("?")[0].endswith("/api/orders/BBY-1002-A/cancel")
    assert SandboxOrder.objects.get(external_id="BBY-1002-A").data["order_state"] == "CANCELED"


def test_shipped_and_closed_lines_are_not_cancellable_with_0_everywhere(mirakl_live, admin_user):
    (mouse,) = lines_of(mirakl_live, "BBY-1004-A")  # SHIPPED
    assert (mouse.status, mouse.cancellable_quantity) == ("SHIPPED", 0)
    assert "SHIPPED" in _refused(mouse.pk)["line"]
    api = APIClient()
    api.force_authenticate(admin_user)
    order = api.get(f"/api/orders/{mouse.order_id}/").json()
    assert [line["cancellable_quantity"] for line in order["lines"]] == [0]
    for state in ("RECEIVED", "CLOSED"):
        type(mouse).objects.filter(pk=mouse.pk).update(status=state)
        mouse.refresh_from_db()
        assert mouse.cancellable_quantity == 0 and state in _refused(mouse.pk)["line"]


def test_the_confirmation_page_names_the_call_and_shows_fees(mirakl_live, admin_client):
    from cancellations.admin.cancel_confirm import cancel_confirm_url

    controller, charger = lines_of(mirakl_live, "BBY-1007-A")
    (laptop,) = lines_of(mirakl_live, "BBY-1008-A")
    page = admin_client.get(cancel_confirm_url([controller.pk, charger.pk, laptop.pk])).content.decode()
    assert "by OR21 (refuse the line: not accepted yet)" in page and "by OR30 (cancel order lines)" in page
    assert 'name="accept_other_lines"' in page
    assert "CARD_FEE (fee) 9.00" in page and "EHF (fee) 1.35" in page


def test_a_refusal_whose_answer_was_lost_is_read_back_as_applied(mirakl_live):
    from django.utils import timezone

    from cancellations.services import cancellations_verify
    from tests.integration.conftest import fault_add

    controller, charger = lines_of(mirakl_live, "BBY-1007-A")
    fault_add(mirakl_live, "drop_after_apply", operation="refuse")
    done = _cancel([(controller, None), (charger, None)])  # the connection drops: outcome unknown, read back
    Cancellation.objects.filter(pk__in=[c.pk for c in done], status="verifying").update(
        next_attempt_at=timezone.now())
    cancellations_verify()
    final = Cancellation.objects.filter(pk__in=[c.pk for c in done]).order_by("pk")
    assert [(c.status, c.attempts) for c in final] == [("confirmed", 1), ("confirmed", 1)]
    assert SandboxCancel.objects.filter(operation="refuse").count() == 2  # applied once, never resent
    assert MarketplaceCall.objects.filter(operation="get_order").exists()  # confirmed by reading the order back


def test_the_api_refuses_one_waiting_line_and_accepts_the_other_when_asked(mirakl_live, admin_user):
    controller, _ = lines_of(mirakl_live, "BBY-1007-A")
    api = APIClient()
    api.force_authenticate(admin_user)
    body = {"lines": [{"line": controller.pk}], "reason": "21"}
    refused = api.post("/api/cancellations/", body, format="json")
    assert refused.status_code == 400 and "BBY-1007-A-2" in refused.json()["errors"][0]["message"]
    MarketplaceAccount.objects.filter(pk=mirakl_live.pk).update(options={**mirakl_live.options,
                                                                         "partial_acceptance": True})
    answer = api.post("/api/cancellations/", {**body, "accept_other_lines": True}, format="json")
    assert answer.status_code == 202, answer.json()
    assert [c["status"] for c in answer.json()["cancellations"]] == ["confirmed"]
    assert [_sandbox_line("BBY-1007-A", i)["order_line_state"] for i in (0, 1)] == ["REFUSED", "WAITING_DEBIT"]
    (call,) = Cancellation.objects.get(pk=answer.json()["cancellations"][0]["id"]).calls.all()
    assert call.batch_key == "OR21 BBY-1007-A"
