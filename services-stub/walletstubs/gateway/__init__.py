"""The API gateway of the local stack, rendered from the one spec (``gateway.yaml``).

Two renderings of :func:`contracts.gateway_rules.effective_rules`: an nginx configuration for the real
backend (:mod:`walletstubs.gateway.nginx`) and an in-process ASGI reverse proxy for the embedded one
(:mod:`walletstubs.gateway.app`). Both answer refusals with the same ``application/problem+json``
bodies (:mod:`walletstubs.gateway.problems`).
"""
