"""Networked jam rooms: the protocol (:mod:`bridge.jam.protocol`), the room without I/O
(:mod:`bridge.jam.room`), its storage (:mod:`bridge.jam.store`), tokens (:mod:`bridge.jam.tokens`), the
WebSocket server (:mod:`bridge.jam.server`) and the client (:mod:`bridge.jam.client`). See docs/jam.md."""
