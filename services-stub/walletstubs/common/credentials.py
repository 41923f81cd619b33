"""Exchange credentials: a JSON file (mode 0600) of secret name -> value, mounted from the secret store.

Values are never logged; :func:`load_credentials` refuses a file others can read.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from walletstubs.common.settings import SettingsError


def load_credentials(path: str) -> dict[str, str]:
    """Read the credentials file; it must be a JSON object of strings and not group/world readable."""
    file = Path(path)
    try:
        mode = file.stat().st_mode
        data = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise SettingsError(
            f"credentials file {path} is unreadable or not JSON: {type(exc).__name__}"
        ) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(f"credentials file {path} must not be readable by group or others (chmod 600)")
    if (
        not isinstance(data, dict)
        or "api_key" not in data
        or not all(isinstance(v, str) for v in data.values())
    ):
        raise SettingsError(f"credentials file {path} must be a JSON object of strings with an 'api_key'")
    return data
