"""Tables that fit the terminal, like kubectl's: one line per row, cells never folded.

`fit_columns` (pure) chooses which columns a width has room for: columns carry a priority, the
least important go first, and an elastic column (free text such as ADDITIONAL INFO) is cut
with an ellipsis before anything else is dropped. `print_table` writes the result: a rich table
on a terminal, plain unwrapped lines into a pipe. A command adds a column by adding a `Column`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from ankplan.cli.env import Env

if TYPE_CHECKING:
    from rich.table import Table

Row = TypeVar("Row")
GAP = 2  # spaces between two columns
ELASTIC_MIN = 12  # an elastic column narrower than this is dropped rather than cut


@dataclass(frozen=True, slots=True, kw_only=True)
class Column(Generic[Row]):
    """One column: its header, how a row fills it, and how much it matters.

    `priority` 0 is always shown; when the terminal is too narrow the column with the highest
    number goes first (on a tie, the rightmost). `wide` columns appear only with `-o wide`.
    `elastic` columns are cut with "…" to the room left before they are dropped.
    """

    header: str
    cell: Callable[[Row], str]
    priority: int = 0
    wide: bool = False
    elastic: bool = False
    style: Callable[[Row], str] | None = None  # rich style of a cell, e.g. "red"

    def style_of(self, row: Row) -> str:
        """The rich style of this column's cell in `row` ("" for none)."""
        return self.style(row) if self.style is not None else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Fitted:
    """The columns chosen for a width (in display order) and the width of each."""

    indexes: tuple[int, ...]
    widths: tuple[int, ...]

    @property
    def total(self) -> int:
        """Characters of one line."""
        return sum(self.widths) + GAP * max(0, len(self.widths) - 1)


def natural_widths(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> list[int]:
    """The width each column needs to show every cell in full."""
    return [max([len(header)] + [len(row[index]) for row in cells])
            for index, header in enumerate(headers)]


def fit_columns(natural: Sequence[int], priorities: Sequence[int], elastic: Sequence[bool],
                width: int | None) -> Fitted:
    """Which columns fit in `width` characters, and how wide each is. Pure.

    Without a width every column keeps its natural width. Otherwise elastic columns shrink
    (down to ELASTIC_MIN) and then columns are dropped, least important first, until one line
    fits; priority-0 columns are never dropped (rich then cuts them with "…").
    """
    kept = list(range(len(natural)))

    def shrunk(index: int) -> int:
        return min(natural[index], ELASTIC_MIN) if elastic[index] else natural[index]

    def needed(indexes: list[int]) -> int:
        return sum(shrunk(i) for i in indexes) + GAP * max(0, len(indexes) - 1)

    if width is None:
        return Fitted(indexes=tuple(kept), widths=tuple(natural))
    while needed(kept) > width:
        droppable = [i for i in kept if priorities[i] > 0]
        if not droppable:
            break
        kept.remove(max(droppable, key=lambda i: (priorities[i], i)))
    widths = {i: shrunk(i) for i in kept}
    room = width - needed(kept)
    for index in kept:  # elastic columns take back what is left, left to right
        if elastic[index] and room > 0:
            grow = min(room, natural[index] - widths[index])
            widths[index] += grow
            room -= grow
    return Fitted(indexes=tuple(kept), widths=tuple(widths[i] for i in kept))


def print_table(env: Env, columns: Sequence[Column[Row]], rows: Sequence[Row], *,
                wide: bool = False) -> None:
    """Print `rows`: fitted to the terminal (every column with `wide`, as wide as it takes);
    into a pipe every column, one unwrapped line per row, no colour."""
    if not env.stdout_isatty:
        shown, cells, fitted = _fit(columns, rows, None, wide=wide, drop=False)
        env.stdout.write(_plain_lines(shown, cells, fitted))
        return
    table = rich_table(columns, rows, None if wide else env.width, wide=wide)
    # At least the table's own width: `-o wide` may be wider than the terminal, never folded.
    width = sum(c.width or 0 for c in table.columns) + GAP * max(0, len(table.columns) - 1)
    env.out_console(width=max(width, env.width or 0)).print(table)


def rich_table(columns: Sequence[Column[Row]], rows: Sequence[Row], width: int | None, *,
               wide: bool = False) -> Table:
    """A rich table of `rows` fitted to `width` (None: natural widths); cells never fold."""
    from rich.table import Table  # only on a terminal: rich costs ~50 ms of start-up
    from rich.text import Text

    shown, cells, fitted = _fit(columns, rows, width, wide=wide, drop=True)
    table = Table(box=None, pad_edge=False, padding=(0, GAP // 2), header_style="bold")
    for index, column_width in zip(fitted.indexes, fitted.widths):
        table.add_column(shown[index].header, no_wrap=True, overflow="ellipsis",
                         width=column_width, max_width=column_width)
    for row, values in zip(rows, cells):
        table.add_row(*[Text(values[i], style=shown[i].style_of(row)) for i in fitted.indexes])
    return table


def _fit(columns: Sequence[Column[Row]], rows: Sequence[Row], width: int | None, *,
         wide: bool, drop: bool) -> tuple[list[Column[Row]], list[list[str]], Fitted]:
    shown = [column for column in columns if wide or not column.wide]
    cells = [[column.cell(row) for column in shown] for row in rows]
    natural = natural_widths([column.header for column in shown], cells)
    priorities = [column.priority if drop else 0 for column in shown]
    elastic = [column.elastic and drop for column in shown]
    return shown, cells, fit_columns(natural, priorities, elastic, width)


def _plain_lines(shown: Sequence[Column[Row]], cells: Sequence[Sequence[str]],
                 fitted: Fitted) -> str:
    lines = []
    for values in [[column.header for column in shown], *cells]:
        parts = [values[i].ljust(w) for i, w in zip(fitted.indexes, fitted.widths)]
        lines.append((" " * GAP).join(parts).rstrip() + "\n")
    return "".join(lines)
