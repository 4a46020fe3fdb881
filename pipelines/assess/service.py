"""The pre-loading assessment service: a FastAPI face over `pipelines.assess.engine`.

`POST /v1/assessments` takes `{"declarations": [...]}` and answers one assessment per row. Callers
send `Authorization: Bearer <token>` (`cargo-risk assess token create SYSTEM`); each token has its
own token bucket, so one caller's flood is refused with 429 while the others are served. A row
that breaks the contract makes the whole request a 422 naming row, field and reason (nothing is
assessed; the rows are recorded); malformed JSON is a 422 too, never a 500. OpenAPI at /docs.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint's annotations at runtime,
# and the dependency they name is a closure it could not resolve from a string.
import asyncio
import logging
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from pipelines.assess.batching import BusyError, Coalescer
from pipelines.assess.engine import ANSWERS, AssessmentError, Assessor, Call
from pipelines.assess.store import Caller

log = logging.getLogger(__name__)
REFRESH_SECONDS = 60.0


class TokenBucket:
    """Per-caller rate limit: `rate` requests a second with bursts up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._levels: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 when `who` may go now, else the seconds until a request is allowed again."""
        now = time.monotonic()
        with self._lock:
            level, then = self._levels.get(who, (self.burst, now))
            level = min(self.burst, level + (now - then) * self.rate)
            if level >= 1.0:
                self._levels[who] = (level - 1.0, now)
                return 0.0
            self._levels[who] = (level, now)
            return (1.0 - level) / self.rate


class AssessmentRequest(BaseModel):
    """Declaration rows in the declarations contract (JSON numbers for numeric fields)."""

    model_config = ConfigDict(extra="forbid")
    declarations: list[dict[str, Any]] = Field(
        min_length=1,
        description="Rows of the declarations contract (docs/contracts.md): one per goods item; "
        "transshipment_ports and container_ids as JSON lists or '|'-joined text.",
    )


class Assessment(BaseModel):
    """The answer for one declaration item."""

    declaration_id: str
    item_no: int
    version: str = Field(
        description="The filing's filed_at (UTC): with the key, what is idempotent."
    )
    answer: str = Field(description="One of " + ", ".join(ANSWERS) + ".")
    risk_score: float = Field(description="Chance of any finding, 0-1: the night's risk_score.")
    cbrn_score: float | None = None
    salw_score: float | None = None
    reasons: list[str]
    rule_hits: list[str]
    watchlist_hits: list[str]
    model_version: str
    history_as_of: str = Field(description="History holds everything filed before this day.")
    provisional_history: bool = Field(
        description="True when a day of that history came from this service's own rows because "
        "its night had not run yet."
    )
    assessed_at: str
    request_id: str
    replayed: bool = Field(description="True when this key and version were assessed before.")


class AssessmentResponse(BaseModel):
    """One assessment per declaration row, in the order sent."""

    request_id: str
    assessments: list[Assessment]


def create_app(
    assessor: Assessor,
    *,
    refresh_seconds: float = REFRESH_SECONDS,
    limiter: TokenBucket | None = None,
) -> FastAPI:
    """The service over a loaded `assessor`, refreshed in the background every `refresh_seconds`
    (a night ran, a model was promoted); `limiter` defaults to the settings' rate and burst."""
    settings = assessor.settings
    store = assessor.store
    limiter = limiter or TokenBucket(settings.assess_rate_per_second, settings.assess_burst)
    stop = threading.Event()
    coalescer = Coalescer(assessor).start()

    def refresher() -> None:
        while not stop.wait(refresh_seconds):
            try:
                if assessor.refresh():
                    log.info("assessor refreshed: model %s", assessor.model_version)
            except Exception:
                log.exception("assessor refresh failed; still serving the previous generation")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        thread = threading.Thread(target=refresher, name="assess-refresh", daemon=True)
        thread.start()
        yield
        stop.set()
        coalescer.stop()

    app = FastAPI(
        title="cargo-risk pre-loading assessment",
        version="1",
        description="Answer one cargo declaration before loading, as the nightly run would "
        "score it. See docs/assess.md.",
        lifespan=lifespan,
    )

    @app.exception_handler(RequestValidationError)
    async def unreadable(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "position": None,
                "field": ".".join(str(p) for p in error.get("loc", ())),
                "reason": str(error.get("msg", "invalid")),
            }
            for error in exc.errors()
        ]
        return JSONResponse({"detail": problems}, status_code=422)

    def caller(authorization: Annotated[str | None, Header()] = None) -> Caller:
        scheme, _, token = (authorization or "").partition(" ")
        found = store.caller(token.strip()) if scheme.lower() == "bearer" and token else None
        if found is None:
            raise HTTPException(
                401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        wait = limiter.take(found.token_id)
        if wait > 0:
            raise HTTPException(
                429,
                f"rate limit of {settings.assess_rate_per_second:g} requests a second exceeded",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return found

    @app.post(
        "/v1/assessments",
        response_model=AssessmentResponse,
        responses={401: {}, 422: {}, 429: {}},
        summary="Assess declaration rows before loading",
    )
    async def assessments(
        body: AssessmentRequest, who: Annotated[Caller, Depends(caller)]
    ) -> AssessmentResponse:
        if len(body.declarations) > settings.assess_max_declarations:
            raise HTTPException(
                422,
                [
                    {
                        "position": None,
                        "field": "declarations",
                        "reason": f"at most {settings.assess_max_declarations} rows a request",
                    }
                ],
            )
        request_id = uuid.uuid4().hex
        try:
            # Calls arriving together are assessed in one pass (pipelines.assess.batching).
            pending = coalescer.submit(Call(body.declarations, who, request_id))
        except BusyError as busy:
            raise HTTPException(
                429,
                f"too many declarations of this caller waiting: {busy}",
                headers={"Retry-After": "1"},
            ) from None
        try:
            outcome = await asyncio.wrap_future(pending)
            if outcome.error is not None:
                raise outcome.error
        except AssessmentError as error:
            raise HTTPException(
                422,
                [
                    {k: p.get(k) for k in ("position", "field", "value", "reason", "rule")}
                    for p in error.problems
                ],
            ) from None
        return AssessmentResponse(
            request_id=request_id,
            assessments=[Assessment.model_validate(r) for r in outcome.assessments],
        )

    @app.get("/v1/health", summary="Model the service answers with, and its passes so far")
    def health() -> dict[str, Any]:
        # Calls over passes: how many calls the coalescer joins (benchmarks/assess.py reads it).
        return {
            "status": "ok",
            "model_version": assessor.model_version,
            "passes": coalescer.passes,
            "calls": coalescer.calls,
        }

    return app
