"""Parameter paths: one name for every parameter a built session has, for OSC, MIDI mapping and scripts.

A path is ``<strip>/<target>``. ``<strip>`` is a track's name, a bus's name or ``master``; ``<target>`` is
one of

* ``volume_db``, ``pan``, ``mute``, ``solo`` — the strip's fader, pan and switches;
* ``send/<bus>`` — the level (dB) of the strip's send to ``<bus>``;
* ``instrument/<name>`` — a parameter of the track's instrument;
* ``fx<k>/<name>`` — a parameter of the strip's ``k``-th insert (counted from 0).

:func:`resolve_param` turns a path into the :class:`engine.params.Parameter` and says exactly what is wrong
with a path that names nothing. Mute and solo go through :func:`set_switch`, which also re-resolves which
strips sound (:func:`engine.mixer.apply_solo`).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import EngineError
from engine.mixer import ChannelStrip, Send, apply_solo
from engine.params import Parameter
from engine.processor import Processor
from engine.session import MASTER, BuildResult, Session

__all__ = [
    "STRIP_PARAMS",
    "ControlError",
    "ParamRef",
    "check_path",
    "device_list",
    "param_paths",
    "resolve_param",
    "set_switch",
    "strip_names",
]

STRIP_PARAMS = ("volume_db", "pan", "mute", "solo")
SWITCHES = ("mute", "solo")


class ControlError(EngineError, ValueError):
    """A control message or path that names nothing, or a value it refuses; nothing was changed."""


@dataclass(frozen=True)
class ParamRef:
    """A resolved path: the parameter, the strip it belongs to and the device (None for strip params)."""

    path: str
    param: Parameter
    strip: ChannelStrip
    device: Processor | None


def strip_names(session: Session) -> list[str]:
    """Tracks in order, then buses, then ``master``: the order of ``/track/<index>`` addresses."""
    return [t.name for t in session.tracks] + [b.name for b in session.buses] + [MASTER]


def device_list(session: Session, strip: str) -> list[tuple[str, Processor]]:
    """The devices of a strip as (name, processor): ``instrument`` (tracks only), then ``fx0``, ``fx1``..."""
    for t in session.tracks:
        if t.name == strip:
            return [("instrument", t.instrument)] + [(f"fx{k}", p) for k, p in enumerate(t.inserts)]
    for b in session.buses:
        if b.name == strip:
            return [(f"fx{k}", p) for k, p in enumerate(b.inserts)]
    if strip == MASTER:
        return [(f"fx{k}", p) for k, p in enumerate(session.master_inserts)]
    raise ControlError(f"no track or bus named {strip!r} (known: {', '.join(strip_names(session))})")


def _send(built: BuildResult, strip: str, bus: str) -> Send:
    node = built.engine.graph.nodes.get(f"{strip}/send/{bus}")
    if not isinstance(node, Send):
        sends = sorted(
            n.rsplit("/", 1)[1] for n in built.engine.graph.nodes if n.startswith(f"{strip}/send/")
        )
        raise ControlError(f"{strip!r} has no send to {bus!r} (its sends: {', '.join(sends) or 'none'})")
    return node


def check_path(session: Session, path: str) -> tuple[str, str, str, Processor | None]:
    """Split a path into (strip, head, name, device) after checking it against the session (no build
    needed): ``head`` is a strip parameter with ``name`` empty, ``send`` with the bus in ``name``, or a
    device's name with its parameter in ``name`` (then ``device`` is the processor). :class:`ControlError`
    says what is wrong with a path that names nothing (``args[1]``: the reason without the path)."""

    def fail(reason: str) -> ControlError:
        return ControlError(f"parameter path {path!r}: {reason}", reason)

    if not isinstance(path, str) or "/" not in path:
        raise fail(
            "expected STRIP/TARGET, e.g. bass/volume_db, bass/send/reverb, bass/instrument/cutoff_hz or"
            " master/fx0/mix"
        )
    strip, _, target = path.partition("/")
    known = strip_names(session)
    if strip not in known:
        raise fail(f"no track or bus named {strip!r} (known: {', '.join(known)})")
    head, _, name = target.partition("/")
    if not name:
        if head not in STRIP_PARAMS:
            has = ", ".join(STRIP_PARAMS)
            raise fail(
                f"no strip parameter {head!r} (a strip has {has}, send/BUS, instrument/NAME and fxK/NAME)"
            )
        return strip, head, "", None
    if head == "send":
        sends = [s.bus for t in session.tracks if t.name == strip for s in t.sends]
        if name not in sends:
            raise fail(f"{strip!r} has no send to {name!r} (its sends: {', '.join(sends) or 'none'})")
        return strip, head, name, None
    devices = dict(device_list(session, strip))
    device = devices.get(head)
    if device is None:
        raise fail(f"{strip!r} has no device {head!r} (its devices: {', '.join(devices) or 'none'})")
    try:
        device.param(name)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    return strip, head, name, device


def resolve_param(session: Session, built: BuildResult, path: str) -> ParamRef:
    """The parameter a path names in a built session; :class:`ControlError` says what is wrong with one
    that names none."""
    strip_name, head, name, device = check_path(session, path)
    strip = built.strips[strip_name]
    if device is not None:
        return ParamRef(path, device.param(name), strip, device)
    if head == "send":
        return ParamRef(path, _send(built, strip_name, name).level_db, strip, None)
    return ParamRef(path, strip.param(head), strip, None)


def param_paths(session: Session, built: BuildResult) -> list[str]:
    """Every parameter path of a built session, strips in :func:`strip_names` order."""
    out: list[str] = []
    for name in strip_names(session):
        out += [f"{name}/{p}" for p in STRIP_PARAMS]
        prefix = f"{name}/send/"
        out += sorted(n for n in built.engine.graph.nodes if n.startswith(prefix))
        for dev, proc in device_list(session, name):
            out += [f"{name}/{dev}/{p}" for p in proc.params]
    return out


def set_switch(built: BuildResult, ref: ParamRef, on: bool) -> None:
    """Set a strip's mute or solo and re-resolve which strips sound."""
    ref.param.set(1.0 if on else 0.0)
    apply_solo(built.strips.values())
