"""Text from the network made safe to show: identities and other claimed values in text logs,
tables and terminals."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with backslashes and every non-printable character escaped (``alice\\t`` ->
    ``alice\\x09``), so that a claimed value cannot hide characters, forge a line or move the
    cursor. Printable text (the usual case) comes back unchanged."""
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
    return "".join(out)
