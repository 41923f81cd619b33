"""CI/CD as code: review → build → deploy → smoke → gate → promote, plus rollback and drift.

One module per step, each a plain function returning a result object (:mod:`pipelines.results`),
so the same step runs on a laptop (``walletops pipeline STEP``) and from the GitHub workflows.
Images are built daemonless and hermetically (:mod:`pipelines.images`), pushed to a registry
(:mod:`pipelines.registry`) and described by a build manifest (:mod:`pipelines.manifest`) whose
digests every later step uses: deploy, promote and rollback move digests, never rebuild.
"""
