"""Turn the page's view model into HTML with Jinja2 (autoescaped); charts are trusted SVG text."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from fusionbridge.page.states import legend
from fusionbridge.page.view import PageView

REFRESH_S = 60


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("fusionbridge.page", "templates"),
        autoescape=select_autoescape(["html", "htm", "xml", "css"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _css() -> Markup:
    environment = _environment()
    if environment.loader is None:
        raise RuntimeError("the page templates are not installed")
    source, _, _ = environment.loader.get_source(environment, "page.css")
    return Markup(source)  # noqa: S704 - our own stylesheet, shipped in the package


def render_page(view: PageView) -> str:
    """The page's HTML; the SVG charts were escaped where they were drawn (page.svg)."""
    rows = tuple(replace(row, chart=Markup(row.chart)) for row in view.rows)  # noqa: S704
    plants = tuple(
        replace(p, chart=Markup(p.chart) if p.chart else None)  # noqa: S704
        for p in view.plants
    )
    template = _environment().get_template("page.html")
    return template.render(
        view=replace(view, rows=rows, plants=plants),
        css=_css(),
        legend=legend(),
        refresh_s=REFRESH_S,
    )
