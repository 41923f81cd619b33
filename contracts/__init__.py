"""The toolkit's core: what every area shares and nothing above it.

Project discovery, document readers, output formats, the usage-error type, and the contracts the
areas hand each other: the environment model (``Pulumi.<env>.yaml``), the recorded cost estimates
the budgets read, the plan graph (what the program would create) and the gateway spec. Areas
(infra, policy, audit, cost, load tests, observability, pipelines, the local stack) import this
package; it imports none of them.
"""
