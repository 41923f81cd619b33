"""walletops guardrails, vendored: see README."""
