"""Progress of long CLI work (`ingest`, `train`): a live display on a terminal, nothing in logs.

Stages report through a `Steps` they are handed (`QUIET` by default), so the library code stays
free of display concerns and the DAG's tasks, which never pass one, log as before. A log gets no
progress lines: the verb's own summary at the end is what a log needs, and a redrawn bar written
to a file is noise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class Steps(Protocol):
    """What long work tells about itself: phases, each of steps."""

    def phase(self, title: str, total: int | None) -> None:
        """A new phase of `total` steps (None: not known) begins; the previous one is done."""

    def step(self, what: str) -> None:
        """The phase's next step, `what`, begins; the one before it is done."""


class _Quiet:
    def phase(self, title: str, total: int | None) -> None:
        pass

    def step(self, what: str) -> None:
        pass


QUIET: Steps = _Quiet()
"""Reports nothing: for tasks, tests and any output that is not a terminal."""


class _Live:
    """Steps drawn as rich progress bars, one per phase, redrawn at every step."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None
        self._title = ""
        self._total: int | None = None
        self._started = 0

    def phase(self, title: str, total: int | None) -> None:
        self.finish()
        self._title, self._total, self._started = title, total, 0
        self._task = self._progress.add_task(title, total=total)
        self._progress.refresh()

    def step(self, what: str) -> None:
        if self._task is None:
            self.phase("working", None)
        assert self._task is not None
        # The step that begins is not done yet: the bar counts the ones before it.
        self._progress.update(
            self._task, completed=self._started, description=f"{self._title}: {what}"
        )
        self._started += 1
        # Steps are few and long (a file, a date, a model): draw each one, not every 0.1 s.
        self._progress.refresh()

    def finish(self) -> None:
        """Mark the current phase done."""
        if self._task is not None:
            done = self._total if self._total is not None else self._started
            self._progress.update(self._task, completed=done, description=self._title)
            self._progress.refresh()


@contextmanager
def progress_for(console: Console) -> Iterator[Steps]:
    """A live display on `console` when it is a terminal, else `QUIET`."""
    if not console.is_terminal:
        yield QUIET
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with progress:
        live = _Live(progress)
        yield live
        live.finish()
