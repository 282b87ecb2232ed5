"""The Walmart sandbox against requests shaped as Walmart's public documents and samples show them.

Nothing here goes through our Walmart client: bodies are the published samples
(``/work/shared/fixtures/walmart_ca``), headers are the documented ones, and answers are read with the standard
library, so the emulator is checked against the documents rather than against our own codec.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests

from cancellations.sandbox import provision, walmart_wire
from cancellations.sandbox import walmart as sandbox
from cancellations.sandbox.models import SandboxCancel

pytestmark = pytest.mark.django_db(transaction=True)
FIXTURES = Path("/work/shared/fixtures/walmart_ca")
V3 = "{http://walmart.com/mp/v3/orders}"


def fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"public sample {path} is not on this machine")
    return path.read_bytes()


class GlobalSeller:
    """A seller on the Global API, called the way Walmart's docs show (token, then WM_* headers)."""

    def __init__(self, live_server, marketplace: str = "walmart_ca") -> None:
        self.client_id, self.secret = f"client-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        self.seller = provision.seller_register(
            marketplace=marketplace, credentials={"auth": "oauth", "client_id": self.client_id,
                                                  "client_secret": self.secret}, options={"auth": "oauth"})
        sandbox.orders_seed(self.seller)
        self.base = f"{live_server.url}/sandbox/walmart"
        self.market = sandbox.MARKETS[marketplace]
        basic = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        answer = requests.post(f"{self.base}/v3/token", data={"grant_type": "client_credentials"}, timeout=10,
                               headers={"Authorization": f"Basic {basic}", "WM_QOS.CORRELATION_ID": "t-1",
                                        "WM_SVC.NAME": "Walmart Marketplace", "Accept": "application/json"})
        assert answer.status_code == 200, answer.text
        self.token = answer.json()["access_token"]

    def headers(self, **extra: str) -> dict[str, str]:
        return {"WM_SEC.ACCESS_TOKEN": self.token, "WM_QOS.CORRELATION_ID": str(uuid.uuid4()),
                "WM_SVC.NAME": "Walmart Marketplace", "WM_MARKET": self.market, "WM_GLOBAL_VERSION": "3.1",
                "Accept": "application/json", **extra}

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(f"{self.base}{path}", headers=self.headers(**headers), timeout=10)

    def cancel(self, po: str, body: bytes, content_type: str, **headers: str) -> requests.Response:
        return requests.post(f"{self.base}/v3/orders/{po}/cancel", data=body, timeout=10,
                             headers=self.headers(**{"Content-Type": content_type, **headers}))


@pytest.fixture
def global_seller(live_server):
    return GlobalSeller(live_server)


# ------------------------------------------------------------------------------------------ Global API


def test_the_docs_json_cancel_example_with_EA_is_accepted(global_seller):
    answer = global_seller.cancel("5801000000011", fixture("us_cancel_request.json"), "application/json")
    assert answer.status_code == 200, answer.text
    (line,) = answer.json()["order"]["orderLines"]["orderLine"]
    statuses = line["orderLineStatuses"]["orderLineStatus"]
    assert [(s["status"], s["statusQuantity"]["amount"]) for s in statuses] == [("Cancelled", "1")]
    assert SandboxCancel.objects.get(seller=global_seller.seller).reason_code == "CUSTOMER_REQUESTED_SELLER_TO_CANCEL"


def test_an_xml_cancel_body_and_an_xml_answer_when_the_headers_say_so(global_seller):
    answer = global_seller.cancel("5801000000011", fixture("us_cancel_request.xml"), "application/xml",
                                  Accept="application/xml")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/xml")
    root = ElementTree.fromstring(answer.content)
    assert root.tag == f"{V3}order"
    assert root.find(f"{V3}orderLines/{V3}orderLine/{V3}orderLineStatuses/{V3}orderLineStatus/{V3}status").text \
        == "Cancelled"


def test_list_without_created_start_date_and_the_spec_shapes(global_seller):
    answer = global_seller.get("/v3/orders?limit=200")
    assert answer.status_code == 200, answer.text
    orders = answer.json()["list"]["elements"]["order"]
    assert len(orders) == len(sandbox.SEED_ORDERS)
    kettle = next(o for o in orders if o["purchaseOrderId"] == "5801000000011")
    info = kettle["shippingInfo"]
    assert info["estimatedShipDate"] > kettle["orderDate"] and info["estimatedDeliveryDate"] > info["estimatedShipDate"]
    product, shipping = kettle["orderLines"]["orderLine"][0]["charges"]["charge"]
    assert product["tax"] == {"taxName": "HST", "taxAmount": {"currency": "CAD", "amount": 6.5}}
    assert isinstance(shipping["tax"], dict)


def test_the_market_must_be_the_sellers(global_seller):
    answer = global_seller.get("/v3/orders/5801000000011", WM_MARKET="us")
    assert answer.status_code == 400 and "WM_MARKET" in answer.text


def test_walmart_us_seller_uses_us_reasons_in_usd(live_server):
    us = GlobalSeller(live_server, "walmart_us")
    order = us.get("/v3/orders/5801000000022").json()["order"]
    charge = order["orderLines"]["orderLine"][0]["charges"]["charge"][0]
    assert charge["chargeAmount"]["currency"] == "USD" and charge["tax"]["taxName"] == "SalesTax"
    body = json.loads(fixture("us_cancel_request.json"))
    status = body["orderCancellation"]["orderLines"]["orderLine"][0]["orderLineStatuses"]["orderLineStatus"][0]
    status["cancellationReason"] = "CANCEL_BY_SELLER"  # Canada's only
    refused = us.cancel("5801000000022", json.dumps(body).encode(), "application/json")
    assert refused.status_code == 400 and "SELLER_CANCEL_OUT_OF_STOCK" in refused.text
    status["cancellationReason"] = "SELLER_CANCEL_OUT_OF_STOCK"
    assert us.cancel("5801000000022", json.dumps(body).encode(), "application/json").status_code == 200
    missing_market = requests.get(f"{us.base}/v3/orders/5801000000022", timeout=10,
                                  headers={k: v for k, v in us.headers().items() if k != "WM_MARKET"})
    assert missing_market.status_code == 200  # absent WM_MARKET means "us"


# ------------------------------------------------------------------------------------------ legacy XML


def signed_post(live_server, credentials: dict, url: str, body: bytes) -> requests.Response:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    timestamp = str(int(time.time() * 1000))
    key = serialization.load_der_private_key(base64.b64decode(credentials["private_key"]), password=None)
    signed = f"{credentials['consumer_id']}\n{url}\nPOST\n{timestamp}\n".encode()
    signature = base64.b64encode(key.sign(signed, padding.PKCS1v15(), hashes.SHA256())).decode()
    return requests.post(url, data=body, timeout=10, headers={
        "WM_CONSUMER.ID": credentials["consumer_id"], "WM_CONSUMER.CHANNEL.TYPE": "channel",
        "WM_SEC.TIMESTAMP": timestamp, "WM_SEC.AUTH_SIGNATURE": signature, "WM_QOS.CORRELATION_ID": "c-1",
        "WM_SVC.NAME": "Walmart Marketplace", "Accept": "application/xml", "Content-Type": "application/xml",
    })


@pytest.fixture
def legacy(live_server):
    credentials = {"auth": "signature", "consumer_id": str(uuid.uuid4()),
                   "private_key": provision.walmart_private_key_generate()}
    seller = provision.seller_register(marketplace="walmart_ca", credentials=credentials,
                                       options={"auth": "signature"})
    sandbox.orders_seed(seller)
    url = f"{live_server.url}/sandbox/walmart/v3/ca/orders/5801000000011/cancel"
    return lambda body: signed_post(live_server, credentials, url, body)


def test_legacy_accepts_walmarts_own_prefixed_sample(legacy):
    answer = legacy(fixture("walmartlabs_dotnet_v3_cancel_request.xml"))  # ns2: prefixes and a UTF-8 BOM
    assert answer.status_code == 200, answer.text
    assert SandboxCancel.objects.get().reason_code == "CANCEL_BY_SELLER"


@pytest.mark.parametrize(("edit", "text"), [
    (lambda b: b.replace(b"<status>Cancelled</status>", b"<status>CANCELLED</status>"), "status must be Cancelled"),
    (lambda b: b.replace(b"<unitOfMeasurement>EACH<", b"<unitOfMeasurement>Each<"), "unitOfMeasurement"),
    (lambda b: b.replace(b"<orderLines>", b'<orderLines xmlns="http://example.com/other">'),
     "orderLines is required"),
], ids=["status-case", "unit-case", "children-in-another-namespace"])
def test_legacy_enumerations_are_case_sensitive_and_namespaces_count_below_the_root(legacy, edit, text):
    answer = legacy(edit(fixture("ca_cancel_request.xml")))
    assert answer.status_code == 400 and text in answer.text
    assert "INVALID_REQUEST_CONTENT.GMP_ORDER_API" in answer.text
    assert not SandboxCancel.objects.exists()
    assert legacy(fixture("ca_cancel_request.xml")).status_code == 200


# ------------------------------------------------------------------------------------------ signatures


def test_the_emulators_own_verifier_accepts_the_public_vectors_and_nothing_else():
    vectors = json.loads(fixture("signature_test_vectors.json"))
    public = walmart_wire.public_key_pem(vectors["private_key_pkcs8_der_base64"])
    for vector in vectors["vectors"]:
        fields = {"consumer_id": vector["consumer_id"], "url": vector["url"], "method": vector["method"],
                  "timestamp": vector["timestamp"]}
        signature = vector.get("signature") or vector.get("expected_signature")
        assert walmart_wire.signature_valid(**fields, signature=signature, public_key=public)
        assert not walmart_wire.signature_valid(**{**fields, "method": "POST" if vector["method"] != "POST"
                                                   else "GET"}, signature=signature, public_key=public)
