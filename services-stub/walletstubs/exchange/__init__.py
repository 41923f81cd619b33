"""The generic exchange adapter, run once per configured exchange (``python -m walletstubs.exchange``)."""
