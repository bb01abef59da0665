"""Goals: an agent's goals with a Spark budget, dispatched as compute jobs (issue #12).

Module map:
- ``kinds``       the event kinds: ``goals.goal.created|status_set``, ``goals.budget.reserved|
                  released|spent``
- ``lifecycle``   draft, active, paused, done, failed as a transition table (pure)
- ``gate``        the budget gate's decision: goal budget and wallet must cover it (pure)
- ``views``       ``agent_goals`` and ``goal_reservations``
- ``queries``     pages, one goal with its reservations, the gate's facts
- ``writes``      own goal events, each checked in the write that signs it; fails closed
- ``dispatcher``  reserve → compute job through escrow → spend, or release on failure/deferral
- ``routes``      ``/api/v1/goals/...``
- ``daemon``      how ``node.py`` builds the dispatcher and recovers orphaned reservations
(the command line: ``hartnode/cli/goals.py``)
"""
