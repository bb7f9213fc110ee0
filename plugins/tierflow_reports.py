"""Tierflow's monthly reports and model cards inside the Airflow UI (an Airflow 3 plugin).

A FastAPI app mounted on the API server at ``/tierflow`` and a nav entry
(``external_views``, under Browse) that shows it inside the UI:

    /tierflow/                         months with a report, and every model card
    /tierflow/reports/{YYYY-MM}        -> that month's report.html
    /tierflow/models/{version}         a model card, readable
    /tierflow/files/{key}              reports, their charts, Data Docs, cards (nothing else)
    /tierflow/api/reports, /api/models the same lists as JSON

Storage is read through ``tierlib`` with the config ``TIERFLOW_CONFIG`` names,
and S3 through the Airflow connection ``storage.aws_conn_id`` names, as the DAGs do.
Loading the plugin imports FastAPI only: ``tierlib`` (pandas, pyarrow) and
Airflow's API security module are imported on the first request, so schedulers
and workers that load plugins pay nothing for them.

Access follows Airflow's auth manager: every request needs a user (the UI's
session cookie or a bearer token) with read access to the monthly DAG
(``requires_access_dag("GET")`` of ``airflow.api_fastapi.core_api.security``);
``TIERFLOW_REPORTS_AUTH=off`` turns the check off (tests of the pages only).
Every response carries ``Content-Security-Policy: sandbox`` (scripts off) with
``script-src 'none'`` and a policy that loads nothing from elsewhere: stored HTML
runs no script, so it cannot act in the Airflow origin even if someone could write it.
"""

from __future__ import annotations

import os
import re

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

URL_PREFIX = "/tierflow"
MONTHLY_DAG_ID = "tierflow_monthly"
"""Who may read the monthly DAG may read its reports: they hold the same members' figures."""
CONTENT_SECURITY_POLICY = (
    "sandbox allow-same-origin; default-src 'none'; script-src 'none'; object-src 'none'; "
    "img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)
"""No script runs in a served page, locked twice: ``sandbox`` without ``allow-scripts`` and
``script-src 'none'``; no plugin, form, or resource from elsewhere.  ``allow-same-origin`` is the
one token granted: a sandboxed page with an opaque origin makes every link and image request
"cross-site", so the browser would withhold the UI's SameSite=Lax session cookie and the report's
own links (Data Docs, charts) would answer 401.  Same-origin access matters only to scripts, and
none can run."""
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_VERSION = re.compile(r"^[A-Za-z0-9_.=-]+$")
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
}


def open_tierflow_storage():
    """The storage of the config ``TIERFLOW_CONFIG`` names, read afresh on each request (it is small)."""
    return open_tierflow()[1]


def open_tierflow():
    """The config ``TIERFLOW_CONFIG`` names and its storage."""
    from tierflow_airflow.support import s3_access
    from tierlib.config import load_config
    from tierlib.errors import TierflowError

    path = os.environ.get("TIERFLOW_CONFIG")
    if not path:
        raise HTTPException(
            503,
            "TIERFLOW_CONFIG is not set on the API server: point it at config/tierflow.yaml, as for the DAGs",
        )
    try:
        config = load_config(path)
        return config, s3_access(config).open(config.storage.root)
    except (OSError, TierflowError) as error:
        raise HTTPException(503, f"cannot open Tierflow storage: {error}") from error


def create_app(require_login: bool | None = None) -> FastAPI:
    """The view's app; ``require_login`` defaults to on unless ``TIERFLOW_REPORTS_AUTH=off``."""
    if require_login is None:
        require_login = os.environ.get("TIERFLOW_REPORTS_AUTH", "on").lower() not in ("off", "false", "0")

    async def may_read_the_monthly_dag(request: Request) -> None:
        """The API server's auth manager decides, exactly as for Airflow's own DAG endpoints."""
        if not require_login:
            return
        from airflow.api_fastapi.core_api.security import bearer_scheme, get_user, requires_access_dag

        user = await get_user(request, None, await bearer_scheme(request))
        requires_access_dag("GET", param_dag_id=MONTHLY_DAG_ID)(request, user)

    app = FastAPI(
        title="Tierflow reports",
        description="Monthly member reports and model cards of Tierflow",
        dependencies=[Depends(may_read_the_monthly_dag)],
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        # Errors too (401, 403, 404): every answer of the view carries the policy.
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        from tierlib.report._view import index_page

        return index_page(*open_tierflow())

    @app.get("/api/reports")
    def api_reports() -> JSONResponse:
        from tierlib.report._listing import list_reports

        return JSONResponse(list_reports(open_tierflow_storage()))

    @app.get("/api/models")
    def api_models() -> JSONResponse:
        from tierlib.report._listing import list_model_cards

        return JSONResponse(list_model_cards(open_tierflow_storage()))

    @app.get("/reports/{period}")
    def report(period: str) -> RedirectResponse:
        if not _PERIOD.match(period):
            raise HTTPException(404, f"{period!r} is not a month (YYYY-MM)")
        # Served from files/ so that the report's relative links (Data Docs, model card) resolve there too.
        return RedirectResponse(f"../files/reports/period={period}/report.html", status_code=307)

    @app.get("/models/{version}", response_class=HTMLResponse)
    def model(version: str) -> str:
        from tierlib.catalog import model_card_key

        if not _VERSION.match(version):
            raise HTTPException(404, "no such model version")
        storage = open_tierflow_storage()
        key = model_card_key(version)
        if not storage.exists(key):
            raise HTTPException(404, f"model version {version} has no card in {storage.root}")
        from tierlib.report._view import card_page

        return card_page(version, storage.read_json(key))

    @app.get("/files/{key:path}")
    def files(key: str) -> Response:
        from tierlib.report._listing import servable

        if not servable(key):
            raise HTTPException(404, "not a report, chart, Data Docs page or model card")
        storage = open_tierflow_storage()
        if not storage.exists(key):
            raise HTTPException(404, f"{key} is not in {storage.root}")
        suffix = os.path.splitext(key)[1].lower()
        data = storage.read_bytes(key)
        if suffix == ".html" and "/data_docs/" in key:
            from tierlib.validation import offline_page

            # Pages published before Data Docs were made offline still name CDN scripts.
            data = offline_page(data.decode("utf-8", errors="replace")).encode("utf-8")
        return Response(data, media_type=_CONTENT_TYPES.get(suffix, "application/octet-stream"))

    return app


app = create_app()


class TierflowReportsPlugin(AirflowPlugin):
    """Registers the app on the API server and a 'Tierflow reports' entry under Browse."""

    name = "tierflow_reports"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Tierflow reports"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012
        {
            "name": "Tierflow reports",
            "href": URL_PREFIX.lstrip("/") + "/",
            "url_route": "tierflow_reports",
            "destination": "nav",
            "category": "browse",
        }
    ]
