"""Peer-to-peer networking (DESIGN §3). Sans-I/O cores plus one trio shell.

Module map:
- ``wire``        msgpack wire messages with explicit limits; ``DecodeError``
- ``handshake``   mutual authenticated key agreement (sans-I/O core)
- ``secretbox``   sealed frames with per-direction counter nonces
- ``transport``   trio-websocket listener and dialer (the only socket code)
- ``hyparview``   HyParView membership core (active/passive views); knobs in ``overlay_config``
- ``plumtree``    Plumtree broadcast core (eager tree + lazy IHAVE); link budget ``token_bucket``
- ``peer_record`` signed peer records and the peer table they build
- ``trust``       revocation lists on the overlay (sans-I/O ``TrustState``)
- ``messages``    registers the overlay's messages under ``hartnode.wire_numbers``
- ``service``     the trio shell: the cores' effects, timers, broadcast, ``register``
- ``link_service`` how a service attaches: ``LinkService`` (messages, broadcasts, link events)
- ``link_table``  one link per peer: reader (byte budget), sender, dialling, containment
- ``links``       one link's byte-bounded send queue; the ``Transport`` seam (sockets by default)
- ``records``     this node's signed record, peers' records, the announce interval
- ``bootstrap``   seeds, remembered peers, backoff
"""
