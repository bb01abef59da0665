"""Compute lending (DESIGN §4): GPU probe, policy, escrow, jobs, metering.

Module map:
- (to come) ``gpu_probe``, ``policy``, ``escrow``, ``jobs``, ``metering``
"""
