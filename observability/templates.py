"""Component and index templates: ECS mappings shared by every stream, one settings component per
stream (its ILM policy and pipelines), and one data-stream index template per stream."""

from __future__ import annotations

from typing import Any

from observability import ecs
from observability.masking import ECS_PIPELINE, MASK_PIPELINE
from observability.streams import Stream

MAPPINGS_COMPONENT = "walletops-ecs-mappings"
PRIORITY = 200
"""Above the built-in ``logs-*-*`` template (100), so our streams get our mappings."""
META = {"managed_by": "walletops"}


def mappings() -> dict[str, Any]:
    """The ECS mappings of every walletops document (``ecs.fields()``, nested)."""
    return {
        "dynamic_templates": ecs.LABELS_DYNAMIC,
        "properties": ecs.properties(ecs.fields()),
    }


def mappings_component() -> dict[str, Any]:
    """Body of ``PUT _component_template/walletops-ecs-mappings``."""
    return {"template": {"mappings": mappings()}, "_meta": META}


def settings_component_name(stream: Stream) -> str:
    return f"{stream.asset}-settings"


def settings_component(stream: Stream) -> dict[str, Any]:
    """The stream's settings: its lifecycle, ``walletops-ecs`` as default pipeline and the masking
    pipeline as final pipeline (it runs even when a client names another pipeline). Written in the
    nested, string-valued form Elasticsearch returns, so reading it back compares equal."""
    return {
        "template": {
            "settings": {
                "index": {
                    "lifecycle": {"name": stream.asset},
                    "default_pipeline": ECS_PIPELINE,
                    "final_pipeline": MASK_PIPELINE,
                    "auto_expand_replicas": "0-1",
                }
            }
        },
        "_meta": {**META, "stream": stream.name},
    }


def index_template(stream: Stream) -> dict[str, Any]:
    """Body of ``PUT _index_template/<stream asset>``: a data stream made of both components."""
    return {
        "index_patterns": [stream.name],
        "data_stream": {},
        "priority": PRIORITY,
        "composed_of": [MAPPINGS_COMPONENT, settings_component_name(stream)],
        "_meta": {**META, "dataset": stream.dataset},
    }
