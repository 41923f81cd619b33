"""The seed's rule of thumb, checked: budgets extrapolated from one environment by fixed factors.

The company wrote a tentative budget for one environment and derived the others by factors
("qa is 40 % of prod"). :func:`extrapolate` puts that rule-of-thumb budget beside the computed
estimate of every environment and says where they disagree, by how much and in which direction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from contracts.errors import UsageProblem
from contracts.project import ENVIRONMENTS
from cost.estimator import CURRENCY, CostReport


@dataclass(frozen=True)
class BudgetRow:
    """One environment: the extrapolated budget, the estimate, and their difference."""

    env: str
    factor: float
    rule_of_thumb_usd: float
    estimate_usd: float
    difference_usd: float
    difference_percent: float | None
    agrees: bool


def parse_factors(text: str, source: str) -> dict[str, float]:
    """``qa=0.4,stage=0.7`` -> ``{"qa": 0.4, "stage": 0.7}``; every problem is one usage line."""
    factors: dict[str, float] = {}
    problems: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        env, sep, value = part.partition("=")
        env = env.strip()
        if not sep or env not in ENVIRONMENTS:
            problems.append(
                f"--factors {part!r}: expected ENV=FACTOR with ENV one of {', '.join(ENVIRONMENTS)}"
            )
            continue
        try:
            factor = float(value)
        except ValueError:
            problems.append(f"--factors {part!r}: {value!r} is not a number; allowed: a factor > 0, e.g. 0.4")
            continue
        if factor <= 0:
            problems.append(f"--factors {part!r}: the factor must be > 0")
        factors[env] = factor
    if source in factors:
        problems.append(f"--factors: {source} is the --from environment (its factor is 1 by definition)")
    if not factors and not problems:
        problems.append("--factors: give at least one ENV=FACTOR, e.g. qa=0.4,stage=0.7,dev=0.25")
    if problems:
        raise UsageProblem(problems)
    return factors


def extrapolate(
    report: CostReport,
    source: str,
    factors: dict[str, float],
    base_amount: float | None = None,
    tolerance_percent: float = 20.0,
) -> list[BudgetRow]:
    """Rule-of-thumb budget (``factor x`` the source's estimate, or ``base_amount``) beside each estimate.

    ``difference`` is rule of thumb minus estimate: negative means the rule of thumb under-budgets.
    A row ``agrees`` when the difference is within ``tolerance_percent`` of the estimate.
    """
    missing = [env for env in (source, *factors) if env not in report.environments]
    if missing:
        raise UsageProblem(f"no estimate for {', '.join(missing)}; plan or price those environments too")
    base = report.environments[source].monthly_usd if base_amount is None else base_amount
    rows: list[BudgetRow] = []
    for env, factor in [(source, 1.0), *sorted(factors.items(), key=lambda kv: ENVIRONMENTS.index(kv[0]))]:
        rule = round(base * factor, 2)
        estimate = report.environments[env].monthly_usd
        difference = round(rule - estimate, 2)
        percent = round(difference / estimate * 100, 1) if estimate else None
        rows.append(
            BudgetRow(
                env=env,
                factor=factor,
                rule_of_thumb_usd=rule,
                estimate_usd=estimate,
                difference_usd=difference,
                difference_percent=percent,
                agrees=percent is not None and abs(percent) <= tolerance_percent,
            )
        )
    return rows


def rows_to_json(rows: list[BudgetRow], source: str, tolerance_percent: float) -> dict[str, Any]:
    return {
        "currency": CURRENCY,
        "from": source,
        "tolerance_percent": tolerance_percent,
        "environments": {row.env: asdict(row) for row in rows},
    }
