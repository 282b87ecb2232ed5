"""Walmart's wire as the emulator reads and writes it, written from Walmart's documents and samples alone.

Nothing here comes from our Walmart client (its codec or signer): an emulator that shared the client's
parser would let a bug in it pass unseen. Sources: the CA Order Management spec and its XML samples, the
US/Global cancel samples (``us_cancel_request.json`` / ``.xml``), the CA auth doc for the signature.

* Cancel bodies. XML: the root must be ``orderCancellation`` in ``http://walmart.com/mp/v3/orders`` or
  ``http://walmart.com/mp/orders`` (an unqualified root is refused, as Walmart does), and every element below
  it is read in the root's namespace: an element of another namespace is not the field it looks like (JAXB's
  qualified element form). JSON: ``{"orderCancellation": {"orderLines": {"orderLine": [...]}}}`` with arrays
  where the spec has arrays. Values are compared exactly: enumerations are case-sensitive.
* Signatures: ``WM_SEC.AUTH_SIGNATURE`` = base64 RSASSA-PKCS1-v1_5 SHA-256 over
  ``consumerId\\nURL\\nMETHOD\\ntimestamp\\n``.
* XML answers: ``ns3:``-prefixed single orders, unprefixed lists, ``ns2:errors`` in ``http://walmart.com/``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

V3_ORDERS_NS = "http://walmart.com/mp/v3/orders"
ORDERS_NS = "http://walmart.com/mp/orders"
COMMON_NS = "http://walmart.com/"
CANCEL_ROOT_NAMESPACES = (V3_ORDERS_NS, ORDERS_NS)
#: The prefixes Walmart's order answers declare (``ns3:order``; lists are unprefixed).
ANSWER_NAMESPACES = {"ns2": ORDERS_NS, "ns3": V3_ORDERS_NS, "ns4": COMMON_NS}


class CancelBodyError(ValueError):
    """A cancel body Walmart would refuse (400 INVALID_REQUEST_CONTENT); the message names the field."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CancelEntry:
    """One ``orderLineStatus`` of a cancel body, values exactly as sent."""

    line_number: str
    status: str
    reason: str
    unit: str
    amount: str


# ------------------------------------------------------------------------------------------ keys and signatures


def public_key_pem(private_key: str) -> str:
    """The PEM public key of a Walmart private key (base64 PKCS#8 DER as Seller Center gives it, or PEM)."""
    text = private_key.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        key = serialization.load_der_private_key(base64.b64decode("".join(text.split())), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA key")
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def signature_valid(*, consumer_id: str, url: str, method: str, timestamp: str, signature: str,
                    public_key: str) -> bool:
    """True when ``signature`` is the seller's signature of this consumer id, URL, method and timestamp."""
    try:
        key = serialization.load_pem_public_key(public_key.encode())
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    signed = f"{consumer_id}\n{url}\n{method}\n{timestamp}\n".encode()
    try:
        key.verify(raw, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# ------------------------------------------------------------------------------------------ cancel bodies


def _child(element: Element, namespace: str, name: str) -> Element | None:
    return element.find(f"{{{namespace}}}{name}" if namespace else name)


def _children(element: Element, namespace: str, name: str) -> list[Element]:
    return element.findall(f"{{{namespace}}}{name}" if namespace else name)


def _required(element: Element, namespace: str, name: str, where: str) -> Element:
    found = _child(element, namespace, name)
    if found is None:
        raise CancelBodyError(f"{name} is required in {where}", field=name)
    return found


def _text(element: Element, namespace: str, name: str, where: str) -> str:
    return (_required(element, namespace, name, where).text or "").strip()


def cancel_entries_from_xml(body: bytes) -> list[CancelEntry]:
    """The entries of an XML cancel body (see the module docstring for what is refused)."""
    try:
        root = fromstring(body.decode("utf-8-sig"), forbid_dtd=True)
    except (ParseError, DefusedXmlException, UnicodeDecodeError) as exc:
        raise CancelBodyError(f"The request body is not well-formed XML: {exc}") from exc
    namespace, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if local != "orderCancellation" or namespace not in CANCEL_ROOT_NAMESPACES:
        expected = ",".join(f"<{{{ns}}}orderCancellation>" for ns in CANCEL_ROOT_NAMESPACES)
        raise CancelBodyError(
            f'unexpected element (uri:"{namespace}", local:"{local}"). Expected elements are {expected}'
        )
    order_lines = _required(root, namespace, "orderLines", "orderCancellation")
    entries = []
    for line in _children(order_lines, namespace, "orderLine"):
        number = _text(line, namespace, "lineNumber", "orderLine")
        statuses = _required(line, namespace, "orderLineStatuses", f"orderLine {number}")
        for status in _children(statuses, namespace, "orderLineStatus"):
            where = f"orderLineStatus of line number {number}"
            quantity = _required(status, namespace, "statusQuantity", where)
            entries.append(CancelEntry(
                line_number=number, status=_text(status, namespace, "status", where),
                reason=_text(status, namespace, "cancellationReason", where),
                unit=_text(quantity, namespace, "unitOfMeasurement", where),
                amount=_text(quantity, namespace, "amount", where),
            ))
    return entries


def _member(data: Any, name: str, where: str, kind: type) -> Any:
    value = data.get(name) if isinstance(data, Mapping) else None
    if value is None:
        raise CancelBodyError(f"{name} is required in {where}", field=name)
    if not isinstance(value, kind) or isinstance(value, bool):
        label = {list: "an array", dict: "an object", str: "a string"}[kind]
        raise CancelBodyError(f"{name} must be {label} in {where}", field=name)
    return value


def cancel_entries_from_json(body: bytes) -> list[CancelEntry]:
    """The entries of a JSON cancel body (``amount`` may be a string, as in the spec, or an integer)."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CancelBodyError(f"The request body is not valid JSON: {exc}") from exc
    cancellation = _member(data, "orderCancellation", "the request body", dict)
    order_lines = _member(_member(cancellation, "orderLines", "orderCancellation", dict), "orderLine",
                          "orderLines", list)
    entries = []
    for line in order_lines:
        number = _member(line, "lineNumber", "orderLine", str)
        statuses = _member(_member(line, "orderLineStatuses", f"orderLine {number}", dict), "orderLineStatus",
                           f"orderLineStatuses of line number {number}", list)
        for status in statuses:
            where = f"orderLineStatus of line number {number}"
            quantity = _member(status, "statusQuantity", where, dict)
            amount = quantity.get("amount")
            entries.append(CancelEntry(
                line_number=number, status=_member(status, "status", where, str),
                reason=_member(status, "cancellationReason", where, str),
                unit=_member(quantity, "unitOfMeasurement", where, str),
                amount=str(amount) if isinstance(amount, int) and not isinstance(amount, bool)
                else _member(quantity, "amount", where, str),
            ))
    return entries


# ------------------------------------------------------------------------------------------ XML answers


def xml_document(root: str, data: Mapping[str, Any], *, prefix: str = "",
                 namespaces: Mapping[str, str] = ANSWER_NAMESPACES) -> str:
    """Nested dicts as Walmart's XML: lists repeat their element, None is left out, every element ``prefix``ed."""
    declarations = "".join(f" xmlns:{p}={quoteattr(uri)}" for p, uri in namespaces.items())
    tag = f"{prefix}:{root}" if prefix else root
    lines = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>', f"<{tag}{declarations}>"]
    _elements(lines, data, prefix, 1)
    lines.append(f"</{tag}>")
    return "\n".join(lines) + "\n"


def _elements(lines: list[str], data: Mapping[str, Any], prefix: str, depth: int) -> None:
    pad = "   " * depth
    for name, value in data.items():
        tag = f"{prefix}:{name}" if prefix else name
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            if isinstance(item, Mapping):
                lines.append(f"{pad}<{tag}>")
                _elements(lines, item, prefix, depth + 1)
                lines.append(f"{pad}</{tag}>")
            else:
                text = ("true" if item else "false") if isinstance(item, bool) else str(item)
                lines.append(f"{pad}<{tag}>{escape(text)}</{tag}>")
