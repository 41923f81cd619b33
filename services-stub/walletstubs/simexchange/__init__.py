"""A simulated exchange, one per configured exchange, with fault knobs.

Run it with ``python -m walletstubs.simexchange``.

It stands in for the real exchange API so adapters can be exercised on loopback and faults injected:
latency, an error rate (503 before anything is recorded) and a timeout rate (the order IS recorded,
then the answer hangs — the case that tests client order ids). Orders are idempotent on
``client_order_id``.
"""
