"""Signing webhook bodies, and checking a signature on the receiving side.

The signature is an HMAC-SHA256 of the exact bytes sent, keyed with the endpoint's secret, so a
receiver must verify the raw request body before parsing it: re-serialized JSON would differ.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "SIGNATURE_PREFIX", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-OMS-Signature"
SIGNATURE_PREFIX = "sha256="


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, body: bytes) -> str:
    """The ``X-OMS-Signature`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    digest = hmac.new(_key(secret), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (the ``X-OMS-Signature`` received) signs ``body`` with ``secret``.

    The comparison takes the same time whatever the header holds, so an attacker cannot find
    a valid signature byte by byte from response times. A missing or malformed header is
    simply ``False``: a receiver answers 401 either way.
    """
    if not header or not secret:
        return False
    try:
        received = header.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    expected = sign(secret, body).encode("ascii")
    return hmac.compare_digest(expected, received)
