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


def resolve_param(session: Session, built: BuildResult, path: str) -> ParamRef:
    """The parameter a path names; :class:`ControlError` says what is wrong with one that names none."""
    if not isinstance(path, str) or "/" not in path:
        raise ControlError(
            f"parameter path {path!r}: expected STRIP/TARGET, e.g. bass/volume_db, bass/send/reverb,"
            " bass/instrument/cutoff_hz or master/fx0/mix"
        )
    strip_name, _, target = path.partition("/")
    strip = built.strips.get(strip_name)
    if strip is None:
        raise ControlError(
            f"parameter path {path!r}: no track or bus named {strip_name!r}"
            f" (known: {', '.join(strip_names(session))})"
        )
    head, _, rest = target.partition("/")
    if not rest:
        if head not in STRIP_PARAMS:
            raise ControlError(
                f"parameter path {path!r}: a strip has {', '.join(STRIP_PARAMS)}, send/BUS,"
                " instrument/NAME and fxK/NAME"
            )
        return ParamRef(path, strip.param(head), strip, None)
    if head == "send":
        return ParamRef(path, _send(built, strip_name, rest).level_db, strip, None)
    devices = dict(device_list(session, strip_name))
    device = devices.get(head)
    if device is None:
        raise ControlError(
            f"parameter path {path!r}: {strip_name!r} has no device {head!r}"
            f" (its devices: {', '.join(devices) or 'none'})"
        )
    try:
        return ParamRef(path, device.param(rest), strip, device)
    except KeyError as exc:
        raise ControlError(f"parameter path {path!r}: {exc.args[0]}") from None


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
