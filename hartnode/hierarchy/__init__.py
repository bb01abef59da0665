"""Hierarchical sync: central > regional > local (DESIGN §3 "Hierarchy", issue #4).

A local keeps a link to a regional parent of its region, a regional to a
central; ``hierarchy`` events flow up those links and ``policy.*`` events
flow down, by replication's link push (DESIGN §1: one act), each delivery
tracked in the ``sync_queue`` table until the peer acknowledges it.

Module map:
- ``direction``     which events may cross a parent/child link, and which way
- ``messages``      Join and Welcome: who is whose parent (76-77; the events move by
                    replication's ``Push``/``Held``)
- ``parent_choice`` sans-I/O choice of a parent, failover and backoff
- ``sync_queue``    the ``sync_queue`` table and its per-row state machine
- ``policy``        ``policy.notice.published``, the first kind that flows down
- ``service``       the trio shell: parent link, child links, the sync queue's pump
"""
