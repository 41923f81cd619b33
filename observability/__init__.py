"""Elasticsearch and Kibana assets as code: templates, lifecycle, masking pipelines, dashboards, rules.

Everything is built from the environment config (``contracts.config``) as the HTTP requests that
``walletops observability apply`` sends, so ``render`` (offline) and ``apply`` (live) cannot disagree.
"""
