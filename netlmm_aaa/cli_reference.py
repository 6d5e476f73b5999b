"""The CLI reference (``docs/cli.md``), generated from the parser so it cannot drift:

COLUMNS=100 python -m netlmm_aaa.cli_reference > docs/cli.md
"""

from __future__ import annotations

import argparse
import os

from netlmm_aaa.cli import build_parser


def _subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    out: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((name, sub))
    return out


def reference() -> str:
    """Markdown: the help of every command and subcommand (at 100 columns)."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        return _reference()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def _reference() -> str:
    parser = build_parser()
    parts = [
        "# netlmm-aaa command reference",
        "",
        "Generated from the command's own help (`python -m netlmm_aaa.cli_reference`); a test "
        "keeps it equal to the code.",
        "",
        "```",
        parser.format_help().rstrip(),
        "```",
    ]

    def walk(prefix: str, p: argparse.ArgumentParser) -> None:
        for name, sub in _subparsers(p):
            title = f"{prefix} {name}"
            parts.extend(["", f"## `{title}`", "", "```", sub.format_help().rstrip(), "```"])
            walk(title, sub)

    walk("netlmm-aaa", parser)
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
