"""Hardening probes: damaged volume files, kill -9 under writes and during vacuum.

Every module is marked ``hardening``: it runs in the normal suite and alone with
``pytest -m hardening``; each module starts its cluster once.
"""
