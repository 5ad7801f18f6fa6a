"""Helpers of the attack tests: plant a file in a studio, run `check`, read the result.

Every attack test plants hostile input in a copy of a studio and asserts refusal (exit 1,
``file:line:col``, no traceback) or neutralisation (the value absent from the artifact).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

#: counts every hostile input the attack tests plant (reported by the session summary)
PLANTED: list[str] = []


def plant(base: Path, rel: str, text: str) -> Path:
    """Write ``text`` (dedented) to ``base/rel``; record it as a planted input."""
    p = base / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    PLANTED.append(f"{rel}: {text.strip()[:60]}")
    return p


def refused(result, *needles: str) -> str:
    """Assert a CLI ``result`` is a clean refusal (exit 1, no traceback) whose stderr holds
    every needle; return stderr."""
    assert result.code == 1, result
    assert "Traceback" not in result.err and "Traceback" not in result.out, result
    for n in needles:
        assert n in result.err, (n, result.err)
    return result.err
