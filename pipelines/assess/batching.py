"""Coalesce concurrent calls into one pass of the assessor.

A pass costs a fixed ~10-30 ms of Polars planning, rule compilation and tree calls whatever its
size, and a few tens of microseconds per row beyond that. Calls arriving while a pass runs wait
for the next one and go through it together (`Assessor.assess_calls`): at 200 calls a second a
call waits for at most one pass and rides the next, instead of queueing behind 200 passes. No
timer holds a lone call back: an idle service starts the pass at once.

A call is answered only after its pass is committed to the store, so an answer given is never
lost by a crash; a crash mid-pass loses only calls that got no answer (the caller retries and,
the key being idempotent, gets one assessment).

Fairness: each caller may have at most `max_pending_rows` rows waiting; beyond that its calls
are refused at once (`BusyError`, a 429) so one caller's flood cannot fill the queue others wait in.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

from pipelines.assess.engine import Assessor, Call, Outcome

log = logging.getLogger(__name__)

MAX_PASS_ROWS = 1000
"""Rows taken into one pass (calls are never split; a larger call goes alone)."""
MAX_PENDING_ROWS = 2000
"""Rows one caller may have waiting before its further calls are refused."""


class BusyError(Exception):
    """A caller has too many rows waiting: refuse the call (429) rather than queue it."""


@dataclass
class _Waiting:
    call: Call
    future: Future[Outcome]


class Coalescer:
    """One worker thread running the assessor on whatever calls are waiting."""

    def __init__(
        self,
        assessor: Assessor,
        *,
        max_pass_rows: int = MAX_PASS_ROWS,
        max_pending_rows: int = MAX_PENDING_ROWS,
    ) -> None:
        self.assessor = assessor
        self.max_pass_rows = max_pass_rows
        self.max_pending_rows = max_pending_rows
        self._queue: deque[_Waiting] = deque()
        self._pending: dict[str, int] = {}
        self._ready = threading.Condition()
        self._stopped = False
        self._worker = threading.Thread(target=self._run, name="assess-coalescer", daemon=True)
        self.passes = 0
        """Passes run so far (with `calls`: how many calls a pass joins; /v1/health shows both)."""
        self.calls = 0
        """Calls taken into those passes."""

    def start(self) -> Coalescer:
        """Start the worker (calls submitted before wait for it)."""
        self._worker.start()
        return self

    def submit(self, call: Call) -> Future[Outcome]:
        """Queue `call`; the future is done once its pass is stored. Raises BusyError when its
        caller already has `max_pending_rows` rows waiting."""
        future: Future[Outcome] = Future()
        who = call.caller.token_id
        with self._ready:
            if self._stopped:
                raise RuntimeError("the assessment service is stopping")
            waiting = self._pending.get(who, 0)
            if waiting and waiting + len(call.records) > self.max_pending_rows:
                raise BusyError(f"{waiting} rows of this caller are still waiting")
            self._pending[who] = waiting + len(call.records)
            self._queue.append(_Waiting(call, future))
            self._ready.notify()
        return future

    def stop(self) -> None:
        """Finish the calls waiting, then end the worker."""
        with self._ready:
            self._stopped = True
            self._ready.notify()
        if self._worker.is_alive():
            self._worker.join(timeout=60)

    def _take(self) -> list[_Waiting] | None:
        with self._ready:
            while not self._queue and not self._stopped:
                self._ready.wait()
            if not self._queue:
                return None
            taken = [self._queue.popleft()]
            rows = len(taken[0].call.records)
            while self._queue and rows + len(self._queue[0].call.records) <= self.max_pass_rows:
                rows += len(self._queue[0].call.records)
                taken.append(self._queue.popleft())
            for waiting in taken:
                who = waiting.call.caller.token_id
                self._pending[who] -= len(waiting.call.records)
                if not self._pending[who]:
                    del self._pending[who]
            return taken

    def _run(self) -> None:
        while (taken := self._take()) is not None:
            self.passes += 1
            self.calls += len(taken)
            try:
                outcomes = self.assessor.assess_calls([w.call for w in taken])
            except Exception as error:  # one call's surprise must not fail the others
                if len(taken) == 1:
                    taken[0].future.set_exception(error)
                    continue
                log.warning(
                    "a pass of %d calls failed (%s); retrying each alone", len(taken), error
                )
                for waiting in taken:
                    try:
                        waiting.future.set_result(self.assessor.assess_calls([waiting.call])[0])
                    except Exception as alone:
                        waiting.future.set_exception(alone)
                continue
            for waiting, outcome in zip(taken, outcomes, strict=True):
                waiting.future.set_result(outcome)
