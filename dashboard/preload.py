"""Ask for the chart library with the page, not after the first chart's data.

Streamlit's frontend loads Plotly (a 4.7 MB chunk) only when the first chart element arrives,
so a new browser session downloaded, compiled and ran it only after the server had sent that
chart (bench/first_chart.py). This ASGI middleware ends every HTML page Streamlit serves with a
small module script that, once Streamlit's own bundle has run:

- adds a `<link rel="modulepreload">` of the chunk: the browser fetches and compiles it while
  the session connects;
- imports it once the page shows its first element (the session has connected and the script
  runs): it runs while the server computes the figures.

Streamlit then finds the module loaded. Pages without charts (the list, Submit) skip both.
INITLAB_DASHBOARD_PRELOAD=0 turns this off (bench/first_chart.py compares the two).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_JS = Path(streamlit.__file__).parent / "static" / "static" / "js"
NO_CHARTS = ("/experiments", "/submit")  # pages that draw no Plotly chart


def plotly_chunk() -> str | None:
    """The file name of Streamlit's Plotly chunk (hashed per release), if there is one."""
    found = sorted(STATIC_JS.glob("PlotlyChart.*.js"))
    return found[0].name if found else None


def page_script(chunk: str) -> bytes:
    """A module script for the end of the page: it runs after Streamlit's own bundle (module
    scripts run in document order), so the chunk's download never slows that bundle's."""
    url = f"./static/js/{chunk}"  # relative, like Streamlit's assets: fine under a base URL
    return (
        "<script type=\"module\">"
        f"if(!{list(NO_CHARTS)}.some(p=>location.pathname.endsWith(p))){{"
        "const l=document.createElement('link');l.rel='modulepreload';"
        f"l.href='{url}';document.head.appendChild(l);"
        "const o=new MutationObserver(()=>{"
        "if(document.querySelector('[data-testid=stElementContainer]')){"
        f"o.disconnect();setTimeout(()=>import('{url}'),0)}}}});"
        "o.observe(document.body,{childList:true,subtree:true})}"
        "</script>"
    ).encode()


def _is_page(path: str) -> bool:
    """A page's path (Streamlit answers it with index.html), not an asset or an endpoint."""
    return "/static/" not in path and "/_stcore/" not in path and "/media/" not in path \
        and "/component/" not in path and "." not in path.rsplit("/", 1)[-1]


class PreloadCharts:
    """Pure ASGI middleware: each page (HTML) gets the chunk's script before `</body>`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        chunk = plotly_chunk() if os.environ.get("INITLAB_DASHBOARD_PRELOAD", "1") != "0" else None
        self.tags = page_script(chunk) if chunk else b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "GET" or not self.tags
                or not _is_page(scope["path"])):
            await self.app(scope, receive, send)
            return
        # Pages come uncompressed (8 kB), so the tags can go in: Streamlit's gzip, inside this
        # middleware, would otherwise compress them first.
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"]
                                      if k.lower() != b"accept-encoding"]}
        start: Message | None = None
        body: list[bytes] = []

        async def send_with_tags(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = MutableHeaders(raw=message["headers"]).get("content-type", "")
                if message["status"] == 200 and content_type.startswith("text/html"):
                    start = message  # held until the whole (small) page is here
                    return
            elif message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                page = b"".join(body).replace(b"</body>", self.tags + b"</body>", 1)
                headers = MutableHeaders(raw=start["headers"])
                headers["content-length"] = str(len(page))
                await send(start)
                await send({"type": "http.response.body", "body": page})
                return
            await send(message)

        await self.app(scope, receive, send_with_tags)
