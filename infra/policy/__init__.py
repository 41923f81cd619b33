"""Guardrails over the plan graph: rules, evaluation, waivers, SARIF and the CrossGuard adapter.

``walletops policy`` evaluates :func:`infra.policy.model.all_rules` over ``walletops plan``; the
CrossGuard pack in ``infra/policy/crossguard`` (adapters in :mod:`infra.policy.pack`, a self-contained
copy written by :mod:`infra.policy.publish`) runs the very same functions under ``pulumi preview``.
"""
