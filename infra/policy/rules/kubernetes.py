"""Kubernetes workloads: non-root, read-only, bounded, unprivileged, probed, and fenced by default-deny."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infra.policy.model import Context, Resource, Severity, is_object, prop, resource_rule

WORKLOADS = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
)
RUN_TO_COMPLETION = ("kubernetes:batch/v1:Job",)
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
WORKLOAD_CONTROLS = ("PCI 2.2.1", "PCI 2.2.5", "PCI 7.2.5")


def pod_spec(workload: Resource) -> Mapping[str, Any]:
    spec = prop(workload, "spec.template.spec", {})
    return spec if is_object(spec) else {}


def containers(workload: Resource, *, init: bool = True) -> Iterator[Mapping[str, Any]]:
    spec = pod_spec(workload)
    keys = ("containers", "initContainers") if init else ("containers",)
    for key in keys:
        yield from (c for c in spec.get(key) or [] if is_object(c))


def _security(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return container.get("securityContext") or {}


def _each(workload: Resource, problem: Any, *, init: bool = True) -> str | None:
    found = [f"{c.get('name', '?')}: {p}" for c in containers(workload, init=init) if (p := problem(c))]
    return "; ".join(found) or None


@resource_rule(
    "WO-K8S-001",
    "Containers run as a non-root user",
    severity=Severity.mandatory,
    controls=WORKLOAD_CONTROLS,
    remediation="Set runAsNonRoot: true (and a numeric runAsUser) in the pod or container securityContext.",
    types=WORKLOADS,
)
def non_root(resource: Resource, ctx: Context) -> str | None:
    pod = pod_spec(resource).get("securityContext") or {}

    def problem(container: Mapping[str, Any]) -> str | None:
        own = _security(container)
        if own.get("runAsUser") == 0 or (pod.get("runAsUser") == 0 and "runAsUser" not in own):
            return "runs as uid 0"
        if own.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            return "runAsNonRoot is not true"
        return None

    return _each(resource, problem)


@resource_rule(
    "WO-K8S-002",
    "Containers have a read-only root filesystem",
    severity=Severity.mandatory,
    controls=WORKLOAD_CONTROLS,
    remediation="Set readOnlyRootFilesystem: true and mount an emptyDir where the app must write (/tmp).",
    types=WORKLOADS,
)
def read_only_root(resource: Resource, ctx: Context) -> str | None:
    return _each(
        resource,
        lambda c: (
            None if _security(c).get("readOnlyRootFilesystem") is True else "root filesystem is writable"
        ),
    )


@resource_rule(
    "WO-K8S-003",
    "Containers request and limit CPU and memory",
    severity=Severity.mandatory,
    controls=("PCI 2.2.1", "PCI 12.10.1"),
    remediation="Set resources.requests and resources.limits for cpu and memory on every container.",
    types=WORKLOADS,
)
def resources_bounded(resource: Resource, ctx: Context) -> str | None:
    def problem(container: Mapping[str, Any]) -> str | None:
        limits = container.get("resources") or {}
        missing = [
            f"{kind}.{what}"
            for kind in ("requests", "limits")
            for what in ("cpu", "memory")
            if not (limits.get(kind) or {}).get(what)
        ]
        return f"missing {', '.join(missing)}" if missing else None

    return _each(resource, problem)


@resource_rule(
    "WO-K8S-004",
    "Containers are unprivileged and cannot escalate",
    severity=Severity.mandatory,
    controls=WORKLOAD_CONTROLS,
    remediation="Set privileged: false and allowPrivilegeEscalation: false; add no capabilities.",
    types=WORKLOADS,
)
def unprivileged(resource: Resource, ctx: Context) -> str | None:
    def problem(container: Mapping[str, Any]) -> str | None:
        security = _security(container)
        if security.get("privileged") is True:
            return "privileged"
        if security.get("allowPrivilegeEscalation") is not False:
            return "allowPrivilegeEscalation is not false"
        added = (security.get("capabilities") or {}).get("add") or []
        return f"adds capabilities {', '.join(added)}" if added else None

    return _each(resource, problem)


@resource_rule(
    "WO-K8S-005",
    "Pods share no host namespace",
    severity=Severity.mandatory,
    controls=WORKLOAD_CONTROLS,
    remediation="Remove hostNetwork, hostPID and hostIPC (or set them false) and use no hostPath volumes.",
    types=WORKLOADS,
)
def no_host_namespaces(resource: Resource, ctx: Context) -> str | None:
    spec = pod_spec(resource)
    shared = [key for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key) is True]
    host_paths = [v.get("name", "?") for v in spec.get("volumes") or [] if is_object(v) and v.get("hostPath")]
    problems = [f"{', '.join(shared)} true"] if shared else []
    if host_paths:
        problems.append(f"hostPath volumes {', '.join(host_paths)}")
    return "; ".join(problems) or None


@resource_rule(
    "WO-K8S-006",
    "Long-running containers have liveness and readiness probes",
    severity=Severity.mandatory,
    controls=("PCI 12.10.1",),
    remediation="Add livenessProbe and readinessProbe (httpGet /healthz, /readyz) to every container.",
    types=WORKLOADS,
)
def probes(resource: Resource, ctx: Context) -> str | None:
    if resource["type"] in RUN_TO_COMPLETION:
        return None  # a Job's pod exits when done: nothing to probe, its completion is awaited

    def problem(container: Mapping[str, Any]) -> str | None:
        missing = [p for p in ("livenessProbe", "readinessProbe") if not container.get(p)]
        return f"no {' or '.join(missing)}" if missing else None

    return _each(resource, problem, init=False)


def namespace_of(resource: Resource) -> str:
    return str(prop(resource, "metadata.namespace", "default"))


def is_default_deny(policy: Resource) -> bool:
    """A NetworkPolicy selecting every pod, for ingress and egress, with no allow rule."""
    spec = prop(policy, "spec", {}) or {}
    selector = spec.get("podSelector")
    selects_all = selector == {} or (is_object(selector) and not any(selector.values()))
    types = set(spec.get("policyTypes") or [])
    return (
        selects_all and {"Ingress", "Egress"} <= types and not spec.get("ingress") and not spec.get("egress")
    )


@resource_rule(
    "WO-K8S-007",
    "Every namespace has a default-deny NetworkPolicy",
    severity=Severity.mandatory,
    controls=("PCI 1.2.1", "PCI 1.3.1", "PCI 1.4.2"),
    remediation="Add a NetworkPolicy with podSelector {} and policyTypes [Ingress, Egress] and no rules; "
    "allow flows with further policies.",
    types=(NAMESPACE,),
    graph=True,
)
def default_deny(resource: Resource, ctx: Context) -> str | None:
    name = str(prop(resource, "metadata.name", resource["name"]))
    if any(is_default_deny(p) and namespace_of(p) == name for p in ctx.of_type(NETWORK_POLICY)):
        return None
    return f"namespace {name} has no default-deny NetworkPolicy"


@resource_rule(
    "WO-K8S-008",
    "Containers drop all capabilities and use the runtime seccomp profile",
    severity=Severity.advisory,
    controls=WORKLOAD_CONTROLS,
    remediation="Set capabilities.drop: [ALL] and seccompProfile.type: RuntimeDefault.",
    types=WORKLOADS,
)
def hardened(resource: Resource, ctx: Context) -> str | None:
    pod_seccomp = (pod_spec(resource).get("securityContext") or {}).get("seccompProfile")

    def problem(container: Mapping[str, Any]) -> str | None:
        security = _security(container)
        problems = []
        if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
            problems.append("capabilities not dropped")
        if not (security.get("seccompProfile") or pod_seccomp):
            problems.append("no seccomp profile")
        return ", ".join(problems) or None

    return _each(resource, problem)


@resource_rule(
    "WO-K8S-009",
    "Images are pinned to a version, never :latest",
    severity=Severity.advisory,
    controls=("PCI 6.3.2", "PCI 6.5.1"),
    remediation="Reference images by version tag or digest (services.<name>.image).",
    types=WORKLOADS,
)
def pinned_images(resource: Resource, ctx: Context) -> str | None:
    def problem(container: Mapping[str, Any]) -> str | None:
        image = str(container.get("image", ""))
        tag = image.rsplit("/", 1)[-1]
        return (
            None if "@sha256:" in image or (":" in tag and not tag.endswith(":latest")) else f"image {image}"
        )

    return _each(resource, problem)


@resource_rule(
    "WO-K8S-010",
    "Deployments have a PodDisruptionBudget",
    severity=Severity.advisory,
    controls=("PCI 12.10.1",),
    remediation="Add a PodDisruptionBudget (minAvailable or maxUnavailable) selecting the deployment's pods.",
    types=("kubernetes:apps/v1:Deployment",),
    graph=True,
)
def disruption_budget(resource: Resource, ctx: Context) -> str | None:
    labels = prop(resource, "spec.selector.matchLabels", {}) or {}
    namespace = namespace_of(resource)
    for budget in ctx.of_type(PDB):
        selector = prop(budget, "spec.selector.matchLabels", {}) or {}
        if namespace_of(budget) == namespace and selector and selector.items() <= labels.items():
            return None
    return "no PodDisruptionBudget selects its pods"
