"""Run the masking of the ingest pipeline on the JVM: the Painless card-number functions compiled as
Java, and each ``gsub`` as ``Pattern.compile(pattern).matcher(value).replaceAll(replacement)`` — what
Elasticsearch's gsub processor does. Used by the masking tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from observability.masking import PAN_FUNCTIONS, REPLACEMENTS

HARNESS = """\
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

public class MaskHarness {
%(functions)s
  static final String[][] RULES = {%(rules)s};

  String mask(String value) {
    for (String[] rule : RULES) {
      value = Pattern.compile(rule[0]).matcher(value).replaceAll(rule[1]);
    }
    return maskPan(value);
  }

  public static void main(String[] args) throws Exception {
    MaskHarness harness = new MaskHarness();
    List<String> lines = Files.readAllLines(Path.of(args[0]));
    StringBuilder out = new StringBuilder();
    for (String line : lines) {
      out.append(harness.mask(line)).append('\\n');
    }
    System.out.print(out);
  }
}
"""


def java_string(text: str) -> str:
    """A Java string literal holding ``text`` (JSON string escapes are valid Java escapes here)."""
    return json.dumps(text, ensure_ascii=True)


def mask_on_jvm(values: list[str], workdir: Path) -> list[str]:
    """Mask each value (one line each) with the JVM; fails loudly when no ``java`` is installed."""
    java = shutil.which("java")
    assert java, "no java on PATH: install a JRE (scripts/system-packages installs default-jre-headless)"
    rules = ", ".join(f"{{{java_string(r.pattern)}, {java_string(r.replacement)}}}" for r in REPLACEMENTS)
    source = workdir / "MaskHarness.java"
    source.write_text(HARNESS % {"functions": PAN_FUNCTIONS, "rules": rules}, encoding="utf-8")
    inputs = workdir / "inputs.txt"
    inputs.write_text("".join(f"{value}\n" for value in values), encoding="utf-8")
    result = subprocess.run(
        [java, str(source), str(inputs)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()
