"""The CrossGuard policy pack: the walletops rules for ``pulumi preview --policy-pack``.

Run as ``pulumi preview --policy-pack infra/policy/crossguard``. :func:`pack.build_policies` builds
the policy objects; only ``__main__`` (run by the Pulumi CLI) constructs the ``PolicyPack``, which
starts the analyzer's gRPC server and blocks.
"""
