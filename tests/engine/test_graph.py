from __future__ import annotations

import itertools

import pytest

from engine.errors import (
    CycleError,
    DuplicateNodeError,
    GraphError,
    PortTypeError,
    UnknownNodeError,
    UnknownPortError,
)
from engine.graph import Feedback, Graph
from tests.helpers import EventRecorder, Ramp, Through


def chain(*names: str) -> Graph:
    g = Graph()
    for n in names:
        g.add(n, Through())
    for a, b in itertools.pairwise(names):
        g.connect(a, b)
    return g


def test_cycle_without_feedback_node_is_refused_naming_the_nodes():
    g = chain("osc", "filter", "amp")
    with pytest.raises(CycleError) as err:
        g.connect("amp", "osc")
    msg = str(err.value)
    for name in ("osc", "filter", "amp"):
        assert name in msg
    assert "Feedback" in msg
    assert set(err.value.cycle) == {"osc", "filter", "amp"}


def test_refused_edit_leaves_the_graph_unchanged():
    g = chain("a", "b")
    before = (list(g.connections), g.version)
    with pytest.raises(CycleError):
        g.connect("b", "a")
    assert (g.connections, g.version) == before


def test_self_loop_is_a_cycle():
    g = chain("a")
    with pytest.raises(CycleError, match="a -> a"):
        g.connect("a", "a")


def test_cycle_through_feedback_node_is_allowed():
    g = chain("a", "b")
    g.add("fb", Feedback(2))
    g.connect("b", "fb")
    g.connect("fb", "a")
    order = g.processing_order()
    assert order.index("a") < order.index("b")


def test_unknown_node_in_connection_is_named():
    g = chain("a")
    with pytest.raises(UnknownNodeError, match="'nope'"):
        g.connect("a", "nope")


def test_unknown_port_is_named_with_the_known_ones():
    g = chain("a", "b")
    with pytest.raises(UnknownPortError) as err:
        g.connect("a.wrong", "b")
    assert "'wrong'" in str(err.value) and "out" in str(err.value)


def test_audio_cannot_feed_an_event_port():
    g = Graph()
    g.add("src", Ramp())
    g.add("rec", EventRecorder())
    with pytest.raises(PortTypeError, match=r"src\.out"):
        g.connect("src.out", "rec.midi")


def test_duplicate_names_and_connections_are_refused():
    g = chain("a", "b")
    with pytest.raises(DuplicateNodeError):
        g.add("a", Through())
    with pytest.raises(GraphError, match="already connected"):
        g.connect("a", "b")


def test_remove_drops_its_connections():
    g = chain("a", "b", "c")
    g.remove("b")
    assert g.connections == []
    assert list(g.nodes) == ["a", "c"]


def test_disconnect_and_version():
    g = chain("a", "b")
    v = g.version
    g.disconnect("a", "b")
    assert g.connections == [] and g.version == v + 1
    with pytest.raises(GraphError):
        g.disconnect("a", "b")


def test_deep_chain_orders_without_recursion_limit():
    names = [f"n{i}" for i in range(1500)]  # deeper than the default recursion limit
    g = chain(*names)
    assert g.processing_order() == names


def test_a_node_with_a_sidechain_is_reached_through_its_main_input_by_default():
    from engine.processor import AudioPort

    class Keyed(Through):
        def __init__(self):
            super().__init__()
            self.audio_inputs = (AudioPort("in", 2), AudioPort("sidechain", 2))

    g = Graph()
    g.add("src", Ramp())
    g.add("key", Ramp())
    g.add("comp", Keyed())
    assert g.connect("src", "comp").dest_port == "in"
    assert g.connect("key", "comp.sidechain").dest_port == "sidechain"
