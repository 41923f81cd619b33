"""Locust load tests of the wallet: journeys, shapes, SLO gates, reports and the capacity model."""
