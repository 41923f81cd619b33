"""The roundups service: spare change from card purchases, swept into investments.

Run it with ``python -m walletstubs.roundups``.
"""
