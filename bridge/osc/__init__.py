"""OSC control of the engine: the address space (:mod:`bridge.osc.control`) and its server over UDP and TCP
(:mod:`bridge.osc.server`)."""
