"""The jam-room protocol, version 1: JSON text messages over WebSocket, each checked on arrival.

Client to server:

* ``hello`` — ``{"type": "hello", "v": 1, "room": R, "name": N, "token": T, "client": ID, "last_seq": S}``:
  join ``R`` (``last_seq``: the last op applied, to resume; omitted or null on a first join);
* ``op`` — ``{"type": "op", "id": OPID, "op": {...}}``: one edit of the room (below); ``id`` is the client's
  own name for it, so a resend after a reconnect is recognised and never applied twice;
* ``ping`` — ``{"type": "ping", "t0": T, "rtt_ms": R}``: clock sync (the client's clock; ``rtt_ms``, the
  round trip it measures, sets the room's latency budget);
* ``bye``.

Server to client:

* ``welcome`` — who you are (``id``, ``role``), the room's ``seq``, a ``snapshot`` of the room (when the
  client must start afresh) and the ``ops`` after it, the server's time;
* ``ops`` — ``{"type": "ops", "ops": [{"seq", "from", "id", "t", "op"}, ...]}``: ops in order, batched;
* ``ack`` — ``{"type": "ack", "id": OPID, "seq": S}``: the op is in the log at ``seq``;
* ``pong`` — ``{"type": "pong", "t0", "t1", "t2"}``: when the server got the ping and when it answered;
* ``presence`` — the members;
* ``error`` — ``{"type": "error", "code": C, "message": M}``; codes in :data:`ERROR_CODES`.

Ops (``op["kind"]``), all timestamped in beats of the shared timeline where they happen in time:

* ``note`` — ``track``, ``beat``, ``pitch`` 0..127, ``velocity`` 1..127, ``length`` (beats);
* ``note_on``, ``note_off`` — the same without ``length`` (``note_off`` without ``velocity``): a note
  played live, whose end is not known when it starts;
* ``param`` — ``path`` (a parameter path of :mod:`engine.control`), ``value``, optional ``beat``;
* ``transport`` — ``action`` ``play`` (launched at the next bar), ``stop`` or ``tempo`` (``bpm``);
* ``clip`` — ``track``, ``clip``, ``notes`` (``[pitch, start, length, velocity]`` each): a clip's content
  replaced whole (pattern edits);
* ``instrument`` — ``track``, ``preset``: a track's instrument changed;
* ``chat`` — ``text``;
* ``room`` — ``mode`` ``live`` or ``interval`` with ``interval_bars`` (NINJAM-style: everyone hears the
  others one interval late), host only.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = [
    "ERROR_CODES",
    "MAX_MESSAGE",
    "PROTOCOL_VERSION",
    "ProtocolError",
    "check_client_message",
    "check_op",
    "decode",
    "encode",
]

PROTOCOL_VERSION = 1
MAX_MESSAGE = 64 * 1024  # bytes of one message
MAX_TEXT = 2000
MAX_CLIP_NOTES = 4096
NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
PATH = re.compile(r"^[A-Za-z0-9_.\-]{1,64}(/[A-Za-z0-9_.\-]{1,64}){1,2}$")
ERROR_CODES = {
    "bad_message": "not a message of this protocol",
    "bad_op": "an op that is not valid",
    "forbidden": "the role does not allow it",
    "bad_token": "the token is wrong, expired or for another room",
    "rate_limited": "too many messages",
    "too_slow": "the client did not keep up with the room",
    "too_large": "a message over the size limit",
    "version": "another protocol version",
    "server": "the server failed",
}


class ProtocolError(ValueError):
    """A message refused; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


try:  # three times faster at the room's busiest (a member decodes every op of a room of 100)
    import orjson

    def _dumps(msg: dict[str, Any]) -> str:
        return orjson.dumps(msg).decode()

    def _loads(text: str) -> Any:
        return orjson.loads(text)

except ImportError:  # pragma: no cover - orjson is a dependency; the standard library does the same

    def _dumps(msg: dict[str, Any]) -> str:
        return json.dumps(msg, separators=(",", ":"), allow_nan=False)

    def _loads(text: str) -> Any:
        return json.loads(text)


def encode(msg: dict[str, Any]) -> str:
    return _dumps(msg)


def decode(text: str | bytes) -> dict[str, Any]:
    if isinstance(text, bytes):
        raise ProtocolError("bad_message", "binary frames are not part of the protocol: send JSON text")
    if len(text) > MAX_MESSAGE:
        raise ProtocolError("too_large", f"a message of {len(text)} bytes; the limit is {MAX_MESSAGE}")
    try:
        msg = _loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("bad_message", f"not JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("bad_message", "a message is a JSON object with a string 'type'")
    return msg


def _num(d: dict, key: str, lo: float, hi: float, where: str, required: bool = True) -> float | None:
    if key not in d:
        if required:
            raise ProtocolError("bad_op", f"{where}: '{key}' is missing")
        return None
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise ProtocolError("bad_op", f"{where}: '{key}' must be a number in {lo:g}..{hi:g}, got {v!r}")
    return float(v)


def _int(d: dict, key: str, lo: int, hi: int, where: str) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ProtocolError("bad_op", f"{where}: '{key}' must be a whole number in {lo}..{hi}, got {v!r}")
    return v


def _name(d: dict, key: str, where: str, pattern: re.Pattern[str] = NAME) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not pattern.match(v):
        raise ProtocolError("bad_op", f"{where}: '{key}' must be a name (letters, digits, _ . -), got {v!r}")
    return v


def _keys(d: dict, allowed: tuple[str, ...], where: str) -> None:
    extra = sorted(set(d) - set(allowed))
    if extra:
        raise ProtocolError("bad_op", f"{where}: unknown field(s) {', '.join(map(repr, extra))}")


MAX_BEAT = 1e6


def check_op(op: Any) -> dict[str, Any]:
    """The op, checked (ProtocolError names what is wrong)."""
    if not isinstance(op, dict) or not isinstance(op.get("kind"), str):
        raise ProtocolError("bad_op", "an op is an object with a string 'kind'")
    kind = op["kind"]
    w = f"{kind} op"
    if kind == "note":
        _keys(op, ("kind", "track", "beat", "pitch", "velocity", "length"), w)
        _name(op, "track", w)
        _num(op, "beat", 0.0, MAX_BEAT, w)
        _int(op, "pitch", 0, 127, w)
        _int(op, "velocity", 1, 127, w)
        _num(op, "length", 1e-6, 1024.0, w)
    elif kind == "note_on":
        _keys(op, ("kind", "track", "beat", "pitch", "velocity"), w)
        _name(op, "track", w)
        _num(op, "beat", 0.0, MAX_BEAT, w)
        _int(op, "pitch", 0, 127, w)
        _int(op, "velocity", 1, 127, w)
    elif kind == "note_off":
        _keys(op, ("kind", "track", "beat", "pitch"), w)
        _name(op, "track", w)
        _num(op, "beat", 0.0, MAX_BEAT, w)
        _int(op, "pitch", 0, 127, w)
    elif kind == "param":
        _keys(op, ("kind", "path", "value", "beat"), w)
        _name(op, "path", w, PATH)
        _num(op, "value", -1e9, 1e9, w)
        _num(op, "beat", 0.0, MAX_BEAT, w, required=False)
    elif kind == "transport":
        _keys(op, ("kind", "action", "bpm"), w)
        action = op.get("action")
        if action not in ("play", "stop", "tempo"):
            raise ProtocolError("bad_op", f"{w}: 'action' must be play, stop or tempo, got {action!r}")
        if action == "tempo":
            _num(op, "bpm", 20.0, 400.0, w)
    elif kind == "clip":
        _keys(op, ("kind", "track", "clip", "notes"), w)
        _name(op, "track", w)
        _name(op, "clip", w)
        notes = op.get("notes")
        if not isinstance(notes, list) or len(notes) > MAX_CLIP_NOTES:
            raise ProtocolError("bad_op", f"{w}: 'notes' must be a list of at most {MAX_CLIP_NOTES} notes")
        for k, n in enumerate(notes):
            ok = (
                isinstance(n, list)
                and len(n) == 4
                and all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in n
                )
            )
            if not ok or not (
                0 <= n[0] <= 127 and 0 <= n[1] <= MAX_BEAT and 0 < n[2] <= 1024 and 1 <= n[3] <= 127
            ):
                raise ProtocolError(
                    "bad_op", f"{w}: note {k} must be [pitch 0..127, start, length > 0, velocity 1..127]"
                )
    elif kind == "instrument":
        _keys(op, ("kind", "track", "preset"), w)
        _name(op, "track", w)
        _name(op, "preset", w)
    elif kind == "chat":
        _keys(op, ("kind", "text"), w)
        text = op.get("text")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT:
            raise ProtocolError("bad_op", f"{w}: 'text' must be a string of 1..{MAX_TEXT} characters")
    elif kind == "room":
        _keys(op, ("kind", "mode", "interval_bars"), w)
        if op.get("mode") not in ("live", "interval"):
            raise ProtocolError("bad_op", f"{w}: 'mode' must be live or interval, got {op.get('mode')!r}")
        if op["mode"] == "interval":
            _int(op, "interval_bars", 1, 64, w)
    else:
        raise ProtocolError(
            "bad_op",
            f"unknown op kind {kind!r} (note, note_on, note_off, param, transport, clip, instrument, chat,"
            " room)",
        )
    return op


def check_client_message(msg: dict[str, Any]) -> dict[str, Any]:
    """A client's message, checked (its op too)."""
    t = msg["type"]
    if t == "hello":
        _keys(msg, ("type", "v", "room", "name", "token", "client", "last_seq"), "hello")
        if msg.get("v") != PROTOCOL_VERSION:
            raise ProtocolError(
                "version", f"this server speaks version {PROTOCOL_VERSION}, got {msg.get('v')!r}"
            )
        _name(msg, "room", "hello")
        _name(msg, "name", "hello")
        _name(msg, "client", "hello")
        if not isinstance(msg.get("token"), str) or len(msg["token"]) > 1024:
            raise ProtocolError("bad_token", "hello: 'token' must be a string")
        last = msg.get("last_seq")
        if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 0):
            raise ProtocolError("bad_message", f"hello: 'last_seq' must be a whole number >= 0, got {last!r}")
    elif t == "op":
        _keys(msg, ("type", "id", "op"), "op")
        _name(msg, "id", "op")
        check_op(msg.get("op"))
    elif t == "ping":
        _keys(msg, ("type", "t0", "rtt_ms"), "ping")
        _num(msg, "t0", -1e12, 1e12, "ping")
        _num(msg, "rtt_ms", 0.0, 1e5, "ping", required=False)
    elif t == "bye":
        pass
    else:
        raise ProtocolError("bad_message", f"unknown message type {t!r} (hello, op, ping, bye)")
    return msg
