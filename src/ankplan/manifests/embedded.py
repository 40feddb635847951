"""Maps positions inside a string value (a runtimeConfig, a template) to the file that holds it.

Pure: works on a LoadedDocument already in memory. A `|` block maps line by line; a one-line
plain or quoted string maps by column; anything else falls back to the value's own position.
"""

from __future__ import annotations

from dataclasses import dataclass

from ankplan.errors import Location
from ankplan.manifests.yaml_reader import LoadedDocument, location_of


@dataclass(frozen=True, slots=True)
class EmbeddedText:
    """Where a string value sits in its file, and how many of its lines map exactly."""

    doc: LoadedDocument
    pointer: str  # JSON pointer of the string value in `doc`
    exact_lines: int  # leading lines whose text is unchanged (e.g. before the first template)
    text: str = ""  # the string as parsed (after templating)

    def location(self, line: int, column: int, pointer: str = "") -> Location:
        """File location of (line, column), 1-based inside the string; pointer is recorded."""
        value = location_of(self.doc, self.pointer)
        shown = pointer or self.pointer
        lines = self.text.rstrip("\n").split("\n")
        if line > len(lines):  # the end of the string: point after its last character
            line, column = len(lines), len(lines[-1]) + 1
        if not value.line or line < 1 or line > self.exact_lines:
            return Location(file=value.file, line=value.line, column=value.column, pointer=shown)
        mapped = _map(self.doc.text, value.line, value.column, line, column)
        if mapped is None:
            return Location(file=value.file, line=value.line, column=value.column, pointer=shown)
        return Location(file=value.file, line=mapped[0], column=mapped[1], pointer=shown)


def embedded_text(doc: LoadedDocument, pointer: str, original: str, rendered: str,
                  ) -> EmbeddedText:
    """An EmbeddedText for the value at `pointer`, whose `original` text became `rendered`.

    When rendering kept the number of lines, every line maps; otherwise only the lines before
    the first difference do.
    """
    if original.count("\n") == rendered.count("\n"):
        return EmbeddedText(doc=doc, pointer=pointer, exact_lines=rendered.count("\n") + 1,
                            text=rendered)
    same = 0
    for old, new in zip(original.split("\n"), rendered.split("\n")):
        if old != new:
            break
        same += 1
    return EmbeddedText(doc=doc, pointer=pointer, exact_lines=same, text=rendered)


def _map(text: str, value_line: int, value_column: int, line: int, column: int,
         ) -> tuple[int, int] | None:
    lines = text.split("\n")
    if value_line > len(lines):
        return None
    head = lines[value_line - 1][value_column - 1:]
    style = head[:1]
    if style == "|":
        indent = _block_indent(lines, value_line)
        return None if indent is None else (value_line + line, indent + column)
    if line != 1 or style == ">":
        return None
    if style in ("'", '"'):
        return value_line, value_column + column  # one char for the opening quote
    return value_line, value_column + column - 1


def _block_indent(lines: list[str], indicator_line: int) -> int | None:
    """Indentation of a literal block's content: that of its first non-blank line."""
    for content in lines[indicator_line:]:
        if content.strip():
            return len(content) - len(content.lstrip(" "))
    return None
