"""The preview web server: `python -m preview.server` (or `make preview`).

Routes: `/?user=A&user=B&defaults=1` (home pages side by side), `/title/<id>`
(a title's candidates with their AVA annotations), `/images/<artwork_id>.png`
(from KEYART_IMAGE_DIR) and `/static/`.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web
from multidict import MultiMapping

from common.errors import InvalidArgument, NotFound
from common.logging import get_logger
from common.server import run_service
from common.validation import require_id, require_path_id
from demo.images import image_path
from demo.pages import demo_page
from preview import html
from preview.backend import KeyartBackend, Problem
from preview.config import PreviewConfig
from preview.http_log import server_logger
from preview.views import candidates_of, default_panel, personalized_panel

log = get_logger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_USERS = ["romance-fan", "comedy-fan"]
MAX_USERS = 2
HOME_PARAMETERS = ("user", "defaults")
BOOLEANS = {"1": True, "true": True, "on": True, "0": False, "false": False, "off": False}
BACKEND = web.AppKey("backend", KeyartBackend)
CONFIG = web.AppKey("config", PreviewConfig)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_home_query(query: MultiMapping[str]) -> tuple[list[str], bool]:
    """(viewers, show the non-personalized page); InvalidArgument names the bad parameter."""
    for key in query:
        if key not in HOME_PARAMETERS:
            raise InvalidArgument(
                key, f"unknown query parameter; use {' and '.join(HOME_PARAMETERS)}"
            )
    users = [require_id(u, "user") for u in query.getall("user", []) if u != ""] or DEFAULT_USERS
    if len(users) > MAX_USERS:
        raise InvalidArgument(
            "user", f"{len(users)} viewers given; at most {MAX_USERS} side by side"
        )
    raw = query.get("defaults", "0").lower()
    if raw not in BOOLEANS:
        raise InvalidArgument("defaults", f"{raw!r} is not one of {', '.join(BOOLEANS)}")
    return users, BOOLEANS[raw]


async def home(request: web.Request) -> web.Response:
    users, show_defaults = parse_home_query(request.query)
    backend = request.app[BACKEND]
    rows = demo_page()
    title_ids = list(dict.fromkeys(t for _, ids in rows for t in ids))
    titles, pages = await asyncio.gather(
        backend.titles(title_ids),
        asyncio.gather(*(backend.render_page(user, rows) for user in users)),
    )
    panels = [default_panel(rows, titles)]
    panels += [
        personalized_panel(u, rows, page, titles) for u, page in zip(users, pages, strict=True)
    ]
    for problem in {p for p in (titles, *pages) if isinstance(p, Problem)}:
        log.warning("dependency unavailable", problem=str(problem))
    return _html(html.home_page(panels, users, show_defaults))


async def title_view(request: web.Request) -> web.Response:
    title_id = require_path_id(request.match_info["title_id"], "title_id")
    titles = await request.app[BACKEND].titles([title_id])
    if isinstance(titles, Problem):
        return _html(html.error_page(503, f"{titles}; try again when the suite is up"), 503)
    if title_id not in titles:
        raise NotFound(f"title_id: {title_id!r} is not in the catalog")
    title = titles[title_id]
    ranked = sorted(candidates_of(title), key=lambda c: -c.aesthetic_score)
    facts = f"{', '.join(title.genres)} · cast: {', '.join(title.cast)} · default {title.default_artwork_id}"
    notices = ["Candidates ranked by AVA's aesthetic score; outlined: the faces AVA found in each."]
    return _html(
        html.title_page(title.name, title_id, title.default_artwork_id, facts, ranked, notices)
    )


async def image(request: web.Request) -> web.FileResponse:
    artwork_id = require_path_id(request.match_info["artwork_id"], "artwork_id")
    image_dir = request.app[CONFIG].image_dir.resolve()
    path = image_path(image_dir, artwork_id).resolve()
    if not path.is_relative_to(image_dir) or not path.is_file():
        raise NotFound(f"artwork_id: no picture for {artwork_id!r} in the image store")
    return web.FileResponse(path, headers={"Cache-Control": "max-age=300"})


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html")


@web.middleware
async def errors_as_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad input is a 400 naming the parameter, a missing thing a 404: a page, never a traceback."""
    try:
        return await handler(request)
    except InvalidArgument as error:
        return _html(html.error_page(400, str(error)), 400)
    except NotFound as error:
        return _html(html.error_page(404, str(error)), 404)


def build_app(config: PreviewConfig) -> web.Application:
    app = web.Application(middlewares=[errors_as_pages])
    app[CONFIG] = config

    async def backend_context(app: web.Application) -> AsyncIterator[None]:
        app[BACKEND] = KeyartBackend(
            config.gateway_target, config.artwork_target, config.timeout_s, config.token
        )
        yield
        await app[BACKEND].close()

    app.cleanup_ctx.append(backend_context)
    app.router.add_get("/", home)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/title/{title_id}", title_view)
    app.router.add_get("/images/{artwork_id:.+}.png", image)
    app.router.add_static("/static", STATIC_DIR)
    return app


async def serve(config: PreviewConfig) -> None:
    runner = web.AppRunner(build_app(config), access_log=None, logger=server_logger())
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.TCPSite(runner, config.host, config.port).start()
        log.info("serving", service="preview", url=config.url, gateway=config.gateway_target)
        await stop.wait()
        log.info("stopping", service="preview")
    finally:
        await runner.cleanup()
    log.info("stopped", service="preview")


def main() -> None:
    run_service("preview", PreviewConfig.from_env, serve)


if __name__ == "__main__":
    main()
