"""The one error type for bad input: the CLI prints each problem on its own line and exits 2."""

from __future__ import annotations


class UsageProblem(Exception):
    """Bad input from the user: reported as one line per problem, exit code 2, never a traceback."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))
