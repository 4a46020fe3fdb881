"""An inspector sees only their own ports' data, on every page (issue 14, item 10).

Two homes are built from the same sample: one with every port, one with the other ports' rows cut
out of the lists, staging declarations and staging outcomes. The NLRTM inspector walks every
item page of the NLRTM list in both; once the per-request tokens are blanked, each page must be
byte-identical, so nothing on it (rows, counts, first-seen dates) comes from another port. The
supervisor's pages of the full home do show the other port's findings, so the sample holds data
that could leak and the comparison is not empty.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from inspector.accounts import create_user
from inspector.app import create_app
from inspector.config import InspectorConfig
from inspector.sample import PORTS, build_sample_home
from pipelines.io import write_parquet
from pipelines.layout import LIST_FILE, LIST_VERSION_FILE
from pipelines.settings import Settings, load_settings

DAY = date(2026, 3, 10)
PORT = "NLRTM"
OTHERS = [p for p in PORTS if p != PORT]
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TOKENS = re.compile(r'name="(csrf_token|idempotency_key)" value="[^"]+"')
ITEM_LINK = re.compile(r'href="(/lists/[^"]+/item\?[^"]+)"')


def _keep_own_port(home: Path) -> None:
    """Cut every other port's rows out of the lists and the staging zone of `home`."""
    own_ids: set[str] = set()
    for path in sorted((home / "staging" / "declarations").glob("date=*/*.parquet")):
        frame = pl.read_parquet(path).filter(pl.col("port_of_discharge") == PORT)
        own_ids |= set(frame["declaration_id"])
        write_parquet(frame, path)
    for path in sorted((home / "staging" / "outcomes").glob("date=*/*.parquet")):
        write_parquet(pl.read_parquet(path).filter(pl.col("declaration_id").is_in(own_ids)), path)
    # The current list and every kept version of it (decision 0027 keeps earlier publications).
    for path in sorted((home / "lists").glob("date=*/**/ranked_list.parquet")):
        write_parquet(pl.read_parquet(path).filter(pl.col("port_of_discharge") == PORT), path)
    for path in sorted((home / "lists").glob(f"date=*/*/*/{LIST_VERSION_FILE}")):
        record = json.loads(path.read_text(encoding="utf-8"))
        record["rows"] = pl.read_parquet(path.parent / LIST_FILE).height
        path.write_text(json.dumps(record), encoding="utf-8")


def _home(home: Path) -> Settings:
    settings = load_settings(environ={}, home=home)
    config = InspectorConfig.from_settings(settings, cheap_password_hashing=True)
    create_user(settings, "ina", PASSWORD, "inspector", [PORT], config=config)
    create_user(settings, "sam", PASSWORD, "supervisor", [], config=config)
    return settings


@contextmanager
def _signed_in(settings: Settings, username: str) -> Iterator[TestClient]:
    config = InspectorConfig.from_settings(
        settings, cookie_secure=False, cheap_password_hashing=True
    )
    with TestClient(create_app(settings, config), follow_redirects=False) as client:
        token = CSRF.search(client.get("/login").text)
        assert token
        data = {"username": username, "password": PASSWORD, "csrf_token": token[1]}
        assert client.post("/login", data=data).status_code == 303
        yield client


def _page(client: TestClient, url: str) -> str:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.status_code)
    return TOKENS.sub(r'name="\1" value=""', answer.text)


def _other_port_ids(settings: Settings) -> set[str]:
    files = sorted((settings.home / "staging" / "declarations").glob("date=*/*.parquet"))
    frame = pl.concat([pl.read_parquet(f) for f in files])
    return set(frame.filter(pl.col("port_of_discharge").is_in(OTHERS))["declaration_id"])


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Settings]:
    root = tmp_path_factory.mktemp("scoping")
    every_port, own_port = root / "every-port" / "home", root / "own-port" / "home"
    build_sample_home(every_port, DAY, history=5)
    # A copy, not a second build, so both homes share what no port owns (publication times).
    shutil.copytree(every_port, own_port)
    _keep_own_port(own_port)
    return _home(every_port), _home(own_port)


def test_a_scoped_inspector_sees_no_other_port_on_any_item_page(
    homes: tuple[Settings, Settings],
) -> None:
    every_port, own_port = homes
    other_ids = _other_port_ids(every_port)
    assert other_ids, "the sample has another port's declarations"
    with _signed_in(every_port, "ina") as full, _signed_in(own_port, "ina") as cut:
        pages = [f"/lists?day={DAY}", f"/lists/{DAY}/{PORT}?lane=all"]
        links = ITEM_LINK.findall(full.get(pages[-1]).text)
        pages += [html.unescape(link) for link in links]
        assert len(links) == 12  # every item of the port's list, all lanes
        similar_rows = 0
        for url in pages:
            seen = _page(full, url)
            for other in (*OTHERS, *other_ids):
                assert other not in seen, f"{other} appears on {url}"
            # Nothing on the page depends on the other ports' data, counts included.
            assert seen == _page(cut, url), f"{url} changes with another port's data"
            similar_rows += seen.count("same HS heading") + seen.count("same shipper")
    assert similar_rows > 0, "the walk saw similar past findings, so the check had rows to judge"


def test_a_supervisor_still_sees_every_port(homes: tuple[Settings, Settings]) -> None:
    every_port, _ = homes
    with _signed_in(every_port, "sam") as client:
        links = ITEM_LINK.findall(client.get(f"/lists/{DAY}/{PORT}?lane=all").text)
        pages = [_page(client, html.unescape(link)) for link in links]
    assert any(other in page for page in pages for other in OTHERS)
