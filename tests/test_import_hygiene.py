"""factory_tui.core is pure: no Textual, no subprocess, no clock reads."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).parent.parent / "factory_tui" / "core"


def test_core_imports_no_textual_in_a_fresh_interpreter() -> None:
    code = (
        "import sys, pkgutil, importlib, factory_tui.core as c\n"
        "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('factory_tui.core.' + m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'subprocess', 'watchfiles', 'psutil', 'git'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_core_reads_no_clock() -> None:
    offenders = []
    for path in CORE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {
                "now",
                "today",
                "utcnow",
                "time",
                "monotonic",
            }:
                base = node.value
                name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
                if name in {"datetime", "date", "time"}:
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
