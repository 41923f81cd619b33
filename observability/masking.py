"""Ingest pipelines that mask card numbers, e-mail addresses, bearer tokens and API keys.

``walletops-mask`` is every walletops template's ``final_pipeline``: whatever pipeline a client
names, it runs last, before a document is stored. It masks in this order:

0. top-level dotted names (``"url.path": …``, as some writers emit) are expanded into objects, so
   the field paths below find them;
1. bearer tokens, API keys and e-mail addresses with ``gsub`` (Java regular expressions) in the
   free-text fields and, through ``foreach``, in every value of ``http.request.headers`` and
   ``labels``;
2. Luhn-valid card numbers in *every* string field of the document, with a Painless script (a
   regular expression cannot check Luhn). Its Luhn functions, ``PAN_FUNCTIONS``, are written in the
   common subset of Painless and Java, so the tests compile the very same text with ``javac`` and run
   the case table through it (``tests/data/masking_cases.yaml``, shared with the services).

If masking fails, the pipeline drops the fields that may hold the secret rather than store them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MASK_PIPELINE = "walletops-mask"
ECS_PIPELINE = "walletops-ecs"

TEXT_FIELDS: tuple[str, ...] = ("message", "url.path", "url.query", "url.original", "error.message")
MAP_FIELDS: tuple[str, ...] = ("http.request.headers", "labels")


@dataclass(frozen=True)
class Replacement:
    """One ``gsub``: a Java regular expression and its Java replacement (``$n`` = group n)."""

    name: str
    pattern: str
    replacement: str


REPLACEMENTS: tuple[Replacement, ...] = (
    Replacement("bearer", r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+", "Bearer [masked-token]"),
    Replacement(
        "api-key",
        r"""(?i)\b(x-api-key|api_key|apikey)(\s*[:=]\s*)[^\s&"',;\[\]]+""",
        "$1$2[masked-key]",
    ),
    Replacement("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "[masked-email]"),
)
"""Applied in this order: tokens and keys first, so a digit run inside a token is masked with it."""

PAN_FUNCTIONS = """\
boolean isDigit(String s, int i) {
  int c = (int) s.charAt(i);
  return c >= 48 && c <= 57;
}
boolean isPan(String digits) {
  int n = digits.length();
  if (n < 13 || n > 19) {
    return false;
  }
  int sum = 0;
  boolean twice = false;
  for (int i = n - 1; i >= 0; i--) {
    int d = (int) digits.charAt(i) - 48;
    if (twice) {
      d = d * 2;
      if (d > 9) {
        d = d - 9;
      }
    }
    sum = sum + d;
    twice = !twice;
  }
  return sum % 10 == 0;
}
String maskGroups(String run) {
  StringBuilder out = new StringBuilder();
  int i = 0;
  while (i < run.length()) {
    if (!isDigit(run, i)) {
      out.append(run.charAt(i));
      i++;
      continue;
    }
    int end = i;
    while (end < run.length() && isDigit(run, end)) {
      end++;
    }
    String group = run.substring(i, end);
    out.append(isPan(group) ? "[masked-pan]" : group);
    i = end;
  }
  return out.toString();
}
String maskPan(String s) {
  StringBuilder out = new StringBuilder();
  int n = s.length();
  int i = 0;
  while (i < n) {
    if (!isDigit(s, i)) {
      out.append(s.charAt(i));
      i++;
      continue;
    }
    StringBuilder digits = new StringBuilder();
    int end = i;
    while (end < n) {
      if (isDigit(s, end)) {
        digits.append(s.charAt(end));
        end++;
      } else {
        int c = (int) s.charAt(end);
        if ((c == 32 || c == 45) && end + 1 < n && isDigit(s, end + 1)) {
          end++;
        } else {
          break;
        }
      }
    }
    String run = s.substring(i, end);
    out.append(isPan(digits.toString()) ? "[masked-pan]" : maskGroups(run));
    i = end;
  }
  return out.toString();
}
"""
"""A run of digits, single spaces or dashes between digits, is a card number when its 13-19 digits pass
Luhn; otherwise each ungrouped digit group in it is checked alone."""

PAN_WALKER = """\
void walk(def node) {
  if (node instanceof Map) {
    for (def entry : node.entrySet()) {
      def value = entry.getValue();
      if (value instanceof String) {
        entry.setValue(maskPan(value));
      } else {
        walk(value);
      }
    }
  } else if (node instanceof List) {
    for (int i = 0; i < node.size(); i++) {
      def value = node.get(i);
      if (value instanceof String) {
        node.set(i, maskPan(value));
      } else {
        walk(value);
      }
    }
  }
}
for (def key : new ArrayList(ctx.keySet())) {
  if (!key.startsWith('_')) {
    def value = ctx[key];
    if (value instanceof String) {
      ctx[key] = maskPan(value);
    } else {
      walk(value);
    }
  }
}
"""


def pan_script() -> str:
    """The Painless source of the card-number processor: the shared functions, then the walk."""
    return PAN_FUNCTIONS + PAN_WALKER


def _gsub(field: str, rule: Replacement, **extra: Any) -> dict[str, Any]:
    return {
        "gsub": {
            "field": field,
            "pattern": rule.pattern,
            "replacement": rule.replacement,
            "tag": f"mask-{rule.name}-{field}",
            **extra,
        }
    }


def mask_pipeline() -> dict[str, Any]:
    """The body of ``PUT _ingest/pipeline/walletops-mask``."""
    processors: list[dict[str, Any]] = [{"dot_expander": {"field": "*", "tag": "expand-dotted-names"}}]
    for rule in REPLACEMENTS:
        processors.extend(_gsub(field, rule, ignore_missing=True) for field in TEXT_FIELDS)
        for field in MAP_FIELDS:
            inner = _gsub("_ingest._value", rule, ignore_failure=True)
            inner["gsub"]["tag"] = f"mask-{rule.name}-{field}.*"
            processors.append(
                {
                    "foreach": {
                        "field": field,
                        "ignore_missing": True,
                        "processor": inner,
                        "tag": f"mask-{rule.name}-{field}",
                    }
                }
            )
    processors.append({"script": {"lang": "painless", "source": pan_script(), "tag": "mask-pan-all-fields"}})
    dropped = [*TEXT_FIELDS, *MAP_FIELDS]
    return {
        "description": "walletops: mask card numbers, e-mails, bearer tokens and API keys in every field",
        "_meta": {"managed_by": "walletops", "cases": "tests/data/masking_cases.yaml"},
        "processors": processors,
        "on_failure": [
            {"remove": {"field": dropped, "ignore_missing": True}},
            {"set": {"field": "event.kind", "value": "pipeline_error"}},
            {
                "set": {
                    "field": "error.message",
                    "value": "walletops-mask failed in {{ _ingest.on_failure_processor_tag }}; "
                    "possibly sensitive fields dropped",
                }
            },
        ],
    }


def ecs_pipeline() -> dict[str, Any]:
    """The templates' ``default_pipeline``: stamps when Elasticsearch received the document."""
    return {
        "description": "walletops: ECS documents from the services and the shipper",
        "_meta": {"managed_by": "walletops"},
        "processors": [
            {"set": {"field": "event.ingested", "value": "{{{_ingest.timestamp}}}", "tag": "ingested"}},
        ],
    }


def pipelines() -> dict[str, dict[str, Any]]:
    """Pipeline id → body, in the order they are applied."""
    return {ECS_PIPELINE: ecs_pipeline(), MASK_PIPELINE: mask_pipeline()}
