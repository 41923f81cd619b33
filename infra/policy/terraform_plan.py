"""The plan graph as Terraform's plan JSON, so scanners written for Terraform read a Pulumi plan.

pulumi-aws is bridged from the Terraform AWS provider: every ``aws:`` resource has a Terraform twin
with the same attributes under other names. The trimmed bridge-metadata extract
(``data/pulumi-aws-bridge.json``, with its source and commit) gives per Pulumi type token the
Terraform type, the renamed properties and the shape of nested values; this module applies it:

- type tokens become Terraform types (``aws:rds/instance:Instance`` → ``aws_db_instance``);
- properties become Terraform attributes (``restApi`` → ``rest_api_id``, ``rules`` → ``rule``);
- Pulumi objects (max-one blocks the bridge flattened) become lists of one, except on the provider's
  plugin-framework resources; maps (``tags``) keep their keys;
- a Pulumi secret becomes a fixed marker flagged sensitive: present, so "is it set" checks hold, and
  the value never reaches the file or a report;
- an input that *is* a dependency's id or output is unknown, as Terraform plans it, and the
  configuration carries the reference (``aws_kms_key.<name>.arn``) so connection checks see the link;
  an input that *embeds* one (a policy document holding an ARN) keeps its value and gets the
  reference; the remaining dependencies are ``depends_on``.

Only ``aws:`` resources are exported; the Kubernetes objects are scanned as manifests instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from contracts.errors import UsageProblem
from contracts.plan_graph import EnvironmentPlan, PlanGraph, PlanResource

EXTRACT_FILE = Path(__file__).with_name("data") / "pulumi-aws-bridge.json"
FORMAT_VERSION = "1.2"
TERRAFORM_VERSION = "1.9.0"
"""The Terraform release whose plan format this emulates (scanners only read a plan naming one)."""
PROVIDER = "registry.terraform.io/hashicorp/aws"
SECRET_KEY, SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
SENSITIVE = "(sensitive)"
_MIN_LINK_LENGTH = 6
_NAME_INPUTS = ("name", "bucket", "identifier")

Document = dict[str, Any]


def snake(name: str) -> str:
    """The bridge's default rule: ``enableDnsHostnames`` → ``enable_dns_hostnames``."""
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


@dataclass(frozen=True)
class Extract:
    """The trimmed bridge metadata for the pinned pulumi-aws: Terraform types and property mappings."""

    document: Mapping[str, Any]

    @property
    def pulumi_aws_version(self) -> str:
        return str(self.document["pulumi_aws_version"])

    def terraform_type(self, token: str) -> str | None:
        entry = self.document["resources"].get(token)
        return None if entry is None else str(entry["terraform"])

    def is_framework(self, token: str) -> bool:
        return bool(self.document["resources"].get(token, {}).get("framework"))

    def spec(self, token: str, name: str) -> tuple[str, str, str | None]:
        """(Terraform attribute, kind, nested type name) of one property of a type."""
        spec = self.document["types"].get(token, {}).get("properties", {}).get(name)
        if spec is None:
            return snake(name), "value", None
        if isinstance(spec, str):
            return spec, "value", None
        return spec[0], spec[1], spec[2] if len(spec) > 2 else None


@cache
def load_extract(path: Path = EXTRACT_FILE) -> Extract:
    """The extract shipped with the toolkit (read once)."""
    return Extract(json.loads(path.read_text(encoding="utf-8")))


def is_secret(value: Any) -> bool:
    """A Pulumi secret as the plan graph carries it (the engine's secret signature object)."""
    return isinstance(value, Mapping) and value.get(SECRET_KEY) == SECRET_SIGNATURE


@dataclass(frozen=True)
class Link:
    """Where a value comes from: another exported resource's attribute, as a Terraform reference."""

    address: str
    attribute: str

    @property
    def references(self) -> list[str]:
        return [f"{self.address}.{self.attribute}", self.address]


@dataclass
class Converted:
    """One object's Terraform view: ``after`` and what Terraform shows beside it."""

    after: Document
    unknown: Document
    sensitive: Document
    expressions: Document


class _Converter:
    """Turns one resource's inputs into Terraform attributes, given the values its dependencies give."""

    def __init__(self, extract: Extract, module: str, framework: bool, links: Mapping[str, Link]) -> None:
        self.extract = extract
        self.module = module
        self.framework = framework
        self.links = links

    def convert(self, token: str, values: Mapping[str, Any]) -> Converted:
        out = Converted({}, {}, {}, {})
        for name in sorted(values):
            raw = values[name]
            if raw is None:
                continue
            attribute, kind, nested = self.extract.spec(token, name)
            if is_secret(raw):
                out.after[attribute] = SENSITIVE
                out.sensitive[attribute] = True
            elif kind in ("object", "object_list") and nested:
                self._nested(out, attribute, kind, f"aws:{self.module}/{nested}:{nested}", raw)
            elif isinstance(raw, Mapping) and kind != "map":
                raise UsageProblem(
                    f"{token}: property {name} holds an object the bridge extract does not describe; "
                    "add the type to infra/policy/data/pulumi-aws-bridge.json"
                )
            else:
                self._leaf(out, attribute, [raw] if kind == "flattened" else raw)
        return out

    def _nested(self, out: Converted, attribute: str, kind: str, token: str, raw: Any) -> None:
        items = raw if isinstance(raw, list) else [raw]
        parts = [self.convert(token, item) for item in items if isinstance(item, Mapping)]
        as_list = kind == "object_list" or not self.framework
        for field in ("after", "unknown", "sensitive", "expressions"):
            values = [getattr(part, field) for part in parts]
            if field == "after" or any(values):
                target: Document = getattr(out, field)
                target[attribute] = values if as_list else values[0]

    def _leaf(self, out: Converted, attribute: str, raw: Any) -> None:
        if isinstance(raw, str) and raw in self.links:
            out.unknown[attribute] = True
            out.expressions[attribute] = {"references": self.links[raw].references}
            return
        if isinstance(raw, list) and any(isinstance(item, str) and item in self.links for item in raw):
            links = [self.links.get(item) if isinstance(item, str) else None for item in raw]
            out.after[attribute] = [None if link else item for link, item in zip(links, raw, strict=True)]
            out.unknown[attribute] = [link is not None for link in links]
            refs = [ref for link in links if link for ref in link.references]
            out.expressions[attribute] = {"references": list(dict.fromkeys(refs))}
            return
        out.after[attribute] = raw
        if isinstance(raw, str) and len(raw) > _MIN_LINK_LENGTH:
            found = [value for value in self.links if value in raw]
            outermost = [v for v in found if not any(v != other and v in other for other in found)]
            refs = [ref for value in sorted(outermost) for ref in self.links[value].references]
            if refs:
                out.expressions[attribute] = {"references": list(dict.fromkeys(refs))}


def terraform_addresses(plan: EnvironmentPlan, extract: Extract | None = None) -> dict[str, str]:
    """URN → Terraform address (``<terraform type>.<logical name>``) of every exported resource."""
    return _addresses(plan.resources, extract or load_extract())


def _addresses(resources: list[PlanResource], extract: Extract) -> dict[str, str]:
    """A Terraform address per exported resource: ``<terraform type>.<logical name>``, unique."""
    addresses: dict[str, str] = {}
    taken: set[str] = set()
    for resource in resources:
        tf_type = extract.terraform_type(resource["type"])
        if tf_type is None:
            continue
        base = re.sub(r"[^A-Za-z0-9_-]", "_", resource["name"])
        base = base if re.match(r"[A-Za-z_]", base) else f"r_{base}"
        address, suffix = f"{tf_type}.{base}", 2
        while address in taken:
            address, suffix = f"{tf_type}.{base}_{suffix}", suffix + 1
        taken.add(address)
        addresses[resource["urn"]] = address
    return addresses


def _given(resource: PlanResource, extract: Extract) -> Iterator[tuple[str, str]]:
    """(value, Terraform attribute path) of what a resource gives others: its id, its computed
    outputs (nested ones as ``resources[0].autoscaling_groups[0].name``) and its names."""
    if resource.get("id"):
        yield str(resource["id"]), "id"
    yield from _paths(resource["type"], resource.get("outputs") or {}, extract, "")
    for key, value in sorted(resource["inputs"].items()):
        if isinstance(value, str) and (key in _NAME_INPUTS or key.endswith("Name")):
            yield value, extract.spec(resource["type"], key)[0]


def _paths(token: str, values: Mapping[str, Any], extract: Extract, prefix: str) -> Iterator[tuple[str, str]]:
    module = token.split(":")[1].split("/", maxsplit=1)[0] if token.count(":") == 2 else ""
    for key, value in sorted(values.items()):
        attribute, _, nested = extract.spec(token, key)
        path = f"{prefix}{attribute}"
        if isinstance(value, str) and len(value) >= _MIN_LINK_LENGTH:
            yield value, path
        for index, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, Mapping):
                inner = f"aws:{module}/{nested}:{nested}" if nested and module else ""
                yield from _paths(inner, item, extract, f"{path}[{index}].")


def export_environment(plan: EnvironmentPlan, extract: Extract | None = None) -> Document:
    """One environment of the plan graph as a Terraform plan JSON document (every resource created)."""
    extract = extract or load_extract()
    addresses = _addresses(plan.resources, extract)
    planned: list[Document] = []
    changes: list[Document] = []
    configuration: list[Document] = []
    for resource in plan.resources:
        address = addresses.get(resource["urn"])
        if address is None:
            continue
        token = resource["type"]
        dependencies = [urn for urn in resource.get("dependencies", ()) if urn in addresses]
        links: dict[str, Link] = {}
        for urn in dependencies:
            for value, attribute in _given(plan.by_urn[urn], extract):
                links.setdefault(value, Link(addresses[urn], attribute))
        module = token.split(":")[1].split("/")[0]
        converter = _Converter(extract, module, extract.is_framework(token), links)
        out = converter.convert(token, resource["inputs"])
        for _, attribute in _given(resource, extract):
            if "." not in attribute and "[" not in attribute and attribute not in out.after:
                out.unknown.setdefault(attribute, True)
        tf_type, name = address.split(".", 1)
        common = {
            "address": address,
            "mode": "managed",
            "type": tf_type,
            "name": name,
            "provider_name": PROVIDER,
        }
        planned.append(
            {**common, "schema_version": 0, "values": out.after, "sensitive_values": out.sensitive}
        )
        changes.append(
            {
                **common,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": out.after,
                    "after_unknown": out.unknown,
                    "before_sensitive": False,
                    "after_sensitive": out.sensitive,
                },
            }
        )
        config: Document = {
            "address": address,
            "mode": "managed",
            "type": tf_type,
            "name": name,
            "provider_config_key": "aws",
            "expressions": out.expressions,
            "schema_version": 0,
        }
        referenced = json.dumps(out.expressions)
        ordering = sorted({addresses[urn] for urn in dependencies if f'"{addresses[urn]}"' not in referenced})
        if ordering:
            config["depends_on"] = ordering
        configuration.append(config)
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "variables": {"region": {"value": plan.region}, "environment": {"value": plan.name}},
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {"aws": {"name": "aws", "full_name": PROVIDER}},
            "root_module": {"resources": configuration},
        },
    }


def export_plan(graph: PlanGraph) -> dict[str, Document]:
    """Every environment of a plan graph as Terraform plan JSON, by environment name."""
    extract = load_extract()
    return {env.name: export_environment(env, extract) for env in graph}


def to_text(document: Document) -> str:
    """One export as stable text (sorted keys), so equal plans give byte-identical files."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
