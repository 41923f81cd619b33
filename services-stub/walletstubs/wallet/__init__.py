"""The wallet service: accounts, top-ups and transfers on a double-entry ledger.

Run it with ``python -m walletstubs.wallet``.
"""
