"""Streams, templates and the rendered order: three data streams per environment, each with ECS
mappings, its own lifecycle, and the masking pipeline as final pipeline."""

from __future__ import annotations

from observability import ecs
from observability.assets import KINDS, render
from observability.masking import ECS_PIPELINE, MASK_PIPELINE
from observability.streams import stream_for, streams
from observability.templates import (
    MAPPINGS_COMPONENT,
    index_template,
    mappings,
    settings_component,
    settings_component_name,
)


def test_three_streams_named_by_dataset_and_environment(load_env) -> None:
    names = [stream.name for stream in streams(load_env("qa"))]
    assert names == ["logs-walletops.service-qa", "logs-walletops.audit-qa", "logs-walletops.access-qa"]
    assert stream_for("walletops.audit", "prod") == "logs-walletops.audit-prod"
    assert stream_for("walletops.other", "prod") is None and stream_for("nginx.access", "prod") is None


def test_each_stream_is_a_data_stream_with_its_lifecycle_and_the_masking_pipeline(load_env) -> None:
    for stream in streams(load_env("prod")):
        template = index_template(stream)
        assert template["data_stream"] == {} and template["index_patterns"] == [stream.name]
        assert template["composed_of"] == [MAPPINGS_COMPONENT, settings_component_name(stream)]
        index = settings_component(stream)["template"]["settings"]["index"]
        assert index["lifecycle"] == {"name": stream.asset}
        assert (index["default_pipeline"], index["final_pipeline"]) == (ECS_PIPELINE, MASK_PIPELINE)


def test_mappings_hold_the_ecs_fields_the_services_send() -> None:
    mapped = ecs.leaf_fields(mappings()["properties"])
    for name in (
        "service.name",
        "service.version",
        "service.environment",
        "event.dataset",
        "trace.id",
        "span.id",
        "transaction.id",
        "http.response.status_code",
        "url.path",
        "error.message",
    ):
        assert name in mapped
    assert mappings()["properties"]["trace"]["properties"]["id"]["type"] == "keyword"


def test_requests_come_in_dependency_order_for_every_environment(load_env) -> None:
    for name in ("dev", "qa", "stage", "prod"):
        requests = render(load_env(name), "bucket")
        positions = [KINDS.index(request.kind) for request in requests]
        assert positions == sorted(positions)
        assert {request.kind for request in requests} == set(KINDS)
        assert len({request.key for request in requests}) == len(requests)
