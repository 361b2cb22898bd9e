"""Architecture rules from docs/ARCHITECTURE, checked on every test run.

- Only telephony/ imports panoramisk or pyst2 (the "asterisk" package): one place speaks to Asterisk.
- Only recording/ imports vosk or pocketsphinx.
- Services never commit: ``.commit()`` appears only in hotline/db.py (the unit-of-work boundary).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTEXTS = ["hotline", "telephony", "ivr_flows", "agents_ui", "recording", "case_bridge", "asterisk_conf"]
OWNED_IMPORTS = {
    "panoramisk": "telephony",
    "asterisk": "telephony",
    "vosk": "recording",
    "pocketsphinx": "recording",
}
COMMIT_ALLOWED = {Path("hotline/db.py")}


def check_file(path: Path) -> list[str]:
    rel = path.relative_to(ROOT)
    context = rel.parts[0]
    problems = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(rel))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            owner = OWNED_IMPORTS.get(name.split(".")[0])
            if owner and owner != context:
                problems.append(
                    f"{rel}:{getattr(node, 'lineno', 0)}: imports {name}, which only {owner}/ may use"
                )
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "commit"
            and rel not in COMMIT_ALLOWED
            and context != "tests"
        ):
            problems.append(
                f"{rel}:{getattr(node, 'lineno', 0)}: commits a transaction; only the unit of work may"
            )
    return problems


def main() -> int:
    problems: list[str] = []
    for context in CONTEXTS:
        for path in sorted((ROOT / context).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            problems.extend(check_file(path))
    for line in problems:
        print(line)
    print("boundaries: ok" if not problems else f"boundaries: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
