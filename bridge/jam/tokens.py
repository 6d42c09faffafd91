"""Room tokens: ``room.role.expiry.signature``, signed with the server's secret (HMAC-SHA256), so a server
can check one without a database and a token for one room or role is useless for another."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from bridge.jam.protocol import ProtocolError

__all__ = ["check_token", "make_token"]

ROLES = ("host", "player", "listener")


def _sign(secret: bytes, payload: str) -> str:
    mac = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def make_token(
    secret: bytes, room: str, role: str, ttl_s: float = 7 * 24 * 3600.0, now: float | None = None
) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not secret:
        raise ValueError("the server secret is empty")
    expiry = int((time.time() if now is None else now) + ttl_s)
    payload = f"{room}.{role}.{expiry}"
    return f"{payload}.{_sign(secret, payload)}"


def check_token(secret: bytes, token: str, room: str, now: float | None = None) -> str:
    """The role a token grants in ``room``; ProtocolError ``bad_token`` saying why it does not."""
    parts = token.rsplit(".", 3)
    if len(parts) != 4:
        raise ProtocolError("bad_token", "not a room token")
    t_room, role, expiry, sig = parts
    if not hmac.compare_digest(sig, _sign(secret, f"{t_room}.{role}.{expiry}")):
        raise ProtocolError("bad_token", "the token's signature is wrong (not made by this server)")
    if t_room != room:
        raise ProtocolError("bad_token", f"the token is for room {t_room!r}, not {room!r}")
    if role not in ROLES:
        raise ProtocolError("bad_token", f"the token's role {role!r} is unknown")
    if not expiry.isdigit() or int(expiry) < (time.time() if now is None else now):
        raise ProtocolError("bad_token", "the token has expired")
    return role
