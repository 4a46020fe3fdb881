"""`make celery-demo`: the demo's night once on Airflow's Celery workers and once as
`cargo-risk run`, each on its own copy of the demo home, then the lists compared byte for byte.

Needs the demo home (`make demo`) and the services (`scripts/services.sh start`); the Makefile
target sees to both. The last line printed says whether the lists are identical.
"""

from __future__ import annotations

import shutil
import sys
from datetime import date
from pathlib import Path

from pipelines import layout, nightly
from pipelines.celery_night import Services, run_night_on_celery
from pipelines.settings import Settings, load_settings


def newest_night(settings: Settings) -> date:
    """The newest date with published lists in the home (the demo's night)."""
    days = sorted(p.name.removeprefix("date=") for p in settings.zone("lists").glob("date=*"))
    if not days:
        raise SystemExit(f"no lists under {settings.zone('lists')}: run `make demo` first")
    return date.fromisoformat(days[-1])


def list_files(settings: Settings, day: date) -> dict[str, bytes]:
    """Every file of a night's lists, by its path inside the night's folder."""
    folder = layout.lists_dir(settings, day)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.*"))}


def _copy_without_night(source: Path, target: Path, day: date) -> Settings:
    """A copy of the home whose night has not run yet (its lists removed), so both runs make it."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("airflow"))
    copied = load_settings(home=target)
    shutil.rmtree(layout.lists_dir(copied, day), ignore_errors=True)
    return copied


def differences(expected: dict[str, bytes], got: dict[str, bytes]) -> list[str]:
    """The files missing, extra or different, one line each."""
    lines = [f"missing on Celery: {name}" for name in sorted(expected.keys() - got.keys())]
    lines += [f"only on Celery: {name}" for name in sorted(got.keys() - expected.keys())]
    lines += [
        f"differs: {name}"
        for name in sorted(expected.keys() & got.keys())
        if expected[name] != got[name]
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    home = load_settings()
    work = Path(args[0]) if args else home.home.parent / f"{home.home.name}-celery"
    night = newest_night(home)
    services = Services.from_script()
    missing = services.available()
    if missing:
        print(f"{missing}: run `scripts/services.sh start` (as root) first", file=sys.stderr)
        return 2
    print(f"night {night} of {home.home}; copies under {work}", flush=True)
    alone = _copy_without_night(home.home, work / "cargo-risk-run", night)
    on_celery = _copy_without_night(home.home, work / "celery", night)
    print("running the night as `cargo-risk run` ...", flush=True)
    nightly.run_night(alone, night)
    print("running the night on Airflow: scheduler, API server, 2 Celery workers ...", flush=True)
    result = run_night_on_celery(on_celery, night, services, work / "celery-logs")
    print(
        f"Celery run: {result.state} in {result.seconds:.0f} s; tasks per worker "
        f"{result.tasks_by_worker}; logs in {result.log_dir}"
    )
    if result.state != "success":
        print(f"failed tasks: {', '.join(result.failed_tasks)}")
        print("lists identical: no (the Celery run failed)")
        return 1
    expected, got = list_files(alone, night), list_files(on_celery, night)
    for line in differences(expected, got):
        print(line)
    same = expected == got
    verdict = "yes" if same else "no"
    print(
        f"lists identical: {verdict} "
        f"({len(expected)} files of `cargo-risk run`, {len(got)} of Celery)"
    )
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
