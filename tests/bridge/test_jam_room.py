"""The jam room without sockets: the protocol's checks, the server's room (order, resends, roles, resume,
snapshots, the timeline), the client's copy, the clock estimate, tokens and the store."""

from __future__ import annotations

import random

import pytest

from bridge.jam.protocol import ProtocolError, check_client_message, check_op, decode
from bridge.jam.room import ClientRoom, ClockEstimate, Room, Timeline
from bridge.jam.store import RoomStore
from bridge.jam.tokens import check_token, make_token


def note(beat: float = 1.0, pitch: int = 60) -> dict:
    return {"kind": "note", "track": "keys", "beat": beat, "pitch": pitch, "velocity": 100, "length": 0.5}


@pytest.mark.parametrize(
    ("op", "words"),
    [
        ({"kind": "note", "track": "keys", "beat": -1, "pitch": 60, "velocity": 100, "length": 1}, "'beat'"),
        ({"kind": "note", "track": "keys", "beat": 1, "pitch": 128, "velocity": 100, "length": 1}, "'pitch'"),
        ({"kind": "note", "track": "k eys", "beat": 1, "pitch": 1, "velocity": 1, "length": 1}, "'track'"),
        (
            {"kind": "note", "track": "k", "beat": 1, "pitch": 1, "velocity": 1, "length": 1, "x": 1},
            "unknown field",
        ),
        ({"kind": "param", "path": "keys", "value": 1}, "'path'"),
        ({"kind": "param", "path": "keys/pan", "value": float("nan")}, "'value'"),
        ({"kind": "transport", "action": "rewind"}, "'action'"),
        ({"kind": "transport", "action": "tempo", "bpm": 2}, "'bpm'"),
        ({"kind": "clip", "track": "keys", "clip": "a", "notes": [[60, 0, 0, 100]]}, "note 0"),
        ({"kind": "chat", "text": ""}, "'text'"),
        ({"kind": "room", "mode": "interval", "interval_bars": 0}, "'interval_bars'"),
        ({"kind": "dance"}, "unknown op kind"),
        ("note", "an op is an object"),
    ],
)
def test_bad_ops_are_refused_with_the_reason(op, words) -> None:
    with pytest.raises(ProtocolError) as err:
        check_op(op)
    assert words in str(err.value) and err.value.code == "bad_op"


def test_bad_messages_are_refused() -> None:
    for text, code in [("{", "bad_message"), ("[1]", "bad_message"), ('{"type": 3}', "bad_message"),
                       ("x" * 70000, "too_large"), (b"\x00", "bad_message")]:  # fmt: skip
        with pytest.raises(ProtocolError) as err:
            decode(text)
        assert err.value.code == code
    with pytest.raises(ProtocolError) as err:
        check_client_message({"type": "hello", "v": 99, "room": "r", "name": "n", "token": "", "client": "c"})
    assert err.value.code == "version"
    with pytest.raises(ProtocolError):
        check_client_message({"type": "shout"})


def room_with(*roles: str) -> tuple[Room, list[str]]:
    room = Room("r")
    ids = []
    for k, role in enumerate(roles):
        m, _ = room.join(f"c{k}", f"p{k}", role, None, 0.0)
        ids.append(m.id)
    return room, ids


def test_ops_are_logged_in_order_and_a_resend_is_not_applied_twice() -> None:
    room, (a, b) = room_with("host", "player")
    e1, ack1 = room.submit(a, "x1", note(1.0), 1.0)
    e2, ack2 = room.submit(b, "y1", note(2.0), 1.1)
    assert (e1["seq"], e2["seq"], ack1["seq"], ack2["seq"]) == (1, 2, 1, 2)
    again, ack = room.submit(b, "y1", note(2.0), 1.2)  # the same op id from the same client
    assert again is None and ack == {"type": "ack", "id": "y1", "seq": 2}
    assert room.seq == 2 and [e["seq"] for e in room.take_fresh()] == [1, 2]


def test_roles_limit_what_members_may_do() -> None:
    room, (_, player, listener) = room_with("host", "player", "listener")
    with pytest.raises(ProtocolError) as err:
        room.submit(player, "p1", {"kind": "transport", "action": "play"}, 0.0)
    assert err.value.code == "forbidden"
    with pytest.raises(ProtocolError):
        room.submit(listener, "l1", note(), 0.0)
    room.submit(listener, "l2", {"kind": "chat", "text": "hi"}, 0.0)
    assert room.seq == 1 and room.state["chat"][0]["text"] == "hi"


def test_a_returning_client_gets_what_it_missed_and_a_late_one_a_snapshot() -> None:
    room, (a,) = room_with("host")
    for k in range(10):
        room.submit(a, f"o{k}", {"kind": "param", "path": "keys/pan", "value": k / 10}, float(k))
    _, welcome = room.join("c9", "late", "player", 7, 20.0)
    assert welcome["snapshot"] is None and [e["seq"] for e in welcome["ops"]] == [8, 9, 10]
    room.compact(keep=2)
    assert room.base_seq == 8
    _, welcome = room.join("c8", "later", "player", 3, 21.0)  # behind the compaction: a snapshot
    assert welcome["snapshot"]["params"]["keys/pan"] == pytest.approx(0.9) and welcome["ops"] == []
    _, welcome = room.join("c7", "new", "player", None, 22.0)
    assert welcome["snapshot"] is not None and welcome["seq"] == 10


def test_play_launches_on_the_next_bar_and_tempo_changes_land_on_a_bar_line() -> None:
    room, (a,) = room_with("host")
    room.state["timeline"]["beat_origin"] = 5.0  # stopped in bar 2
    room.submit(a, "t1", {"kind": "transport", "action": "play"}, 100.0)
    tl = Timeline.from_dict(room.state["timeline"])
    assert tl.playing and tl.beat_origin == 8.0 and tl.time_origin == pytest.approx(100.25)
    room.submit(a, "t2", {"kind": "transport", "action": "tempo", "bpm": 60.0}, 101.0)  # beat 9.5 at 120
    tl = Timeline.from_dict(room.state["timeline"])
    assert tl.bpm == 60.0 and tl.beat_origin == 12.0 and tl.time_origin == pytest.approx(102.25)
    assert tl.beat_at(103.25) == pytest.approx(13.0)
    room.submit(a, "t3", {"kind": "transport", "action": "stop"}, 104.25)
    tl = Timeline.from_dict(room.state["timeline"])
    assert not tl.playing and tl.beat_origin == pytest.approx(14.0)


def test_the_client_applies_each_op_once_in_order_and_resends_unacked() -> None:
    room, _ = room_with("host")
    client = ClientRoom("cx", "me")
    member, welcome = room.join("cx", "me", "player", None, 0.0)
    client.receive(welcome)
    msg = client.op(note(3.0))
    entry, ack = room.submit(member.id, msg["id"], msg["op"], 1.0)
    ops = {"type": "ops", "ops": [entry]}
    assert client.receive(ops) == [entry]
    assert client.receive(ops) == []  # delivered twice: applied once
    assert client.resend() == [msg]
    client.receive(ack)
    assert client.resend() == []
    with pytest.raises(ProtocolError):
        client.receive({"type": "ops", "ops": [{**entry, "seq": 5}]})  # a gap is an error, not skipped


def test_the_clock_estimate_filters_by_round_trip_and_slews() -> None:
    rng = random.Random(1)
    true_offset = 1234.5
    est = ClockEstimate()
    t = 0.0
    for _ in range(40):
        t += 0.05
        up, down = 0.0002 + rng.expovariate(1 / 0.003), 0.0002 + rng.expovariate(1 / 0.003)  # queueing delays
        t0 = t
        t1 = t0 + up + true_offset
        t2 = t1 + 0.00005
        t3 = t2 - true_offset + down
        est.pong(t0, t1, t2, t3)
        t = t3
    assert est.target is not None and abs(est.target - true_offset) < 0.0005
    est.server_time(t)
    first = est.offset
    assert first is not None
    est.target = first + 0.010  # the estimate moves by 10 ms: applied at most 0.5 ms per second
    assert est.server_time(t + 1.0) - (t + 1.0) == pytest.approx(first + 0.0005, abs=1e-9)


def test_tokens_are_signed_for_one_room_and_role() -> None:
    secret = b"0123456789abcdef"
    tok = make_token(secret, "r1", "player", 60, now=1000.0)
    assert check_token(secret, tok, "r1", now=1010.0) == "player"
    for bad, room, now, words in [
        (tok, "r2", 1010.0, "for room"),
        (tok, "r1", 2000.0, "expired"),
        (tok.replace(".player.", ".host."), "r1", 1010.0, "signature"),
        (make_token(b"another-secret-xx", "r1", "host", 60, now=1000.0), "r1", 1010.0, "signature"),
        ("nonsense", "r1", 1010.0, "not a room token"),
    ]:
        with pytest.raises(ProtocolError) as err:
            check_token(secret, bad, room, now=now)
        assert err.value.code == "bad_token" and words in str(err.value)


def test_the_store_brings_a_room_back_as_it_was(tmp_path) -> None:
    store = RoomStore(tmp_path / "rooms.db")
    room, (a,) = room_with("host")
    for k in range(20):
        entry, _ = room.submit(a, f"o{k}", {"kind": "param", "path": "keys/pan", "value": k / 20}, float(k))
        store.append("r", [entry])
    room.compact(keep=5)
    store.snapshot(room)
    for k in range(20, 23):
        entry, _ = room.submit(a, f"o{k}", {"kind": "chat", "text": f"m{k}"}, float(k))
        store.append("r", [entry])
    store.close()
    again = RoomStore(tmp_path / "rooms.db").load("r")
    assert again is not None
    assert again.seq == room.seq == 23 and again.state == room.state
    assert [e["seq"] for e in again.log] == [e["seq"] for e in room.log]
    # the op ids survive too: a resend after the restart is recognised
    _, ack = again.submit(
        again.join("c0", "p0", "host", 20, 30.0)[0].id, "o21", {"kind": "chat", "text": "m21"}, 31.0
    )
    assert ack["seq"] == 22 and again.seq == 23
