"""The page compiler against string.Template: wsgiapp's routes that fill a page in per request, timed
with its own render and with Template.substitute in its place, side by side in the same rounds."""

from string import Template

import wsgiapp
from bench.cases import APPS
from bench.cases import CASES
from bench.cases import Case
from bench.cases import WrongAnswer
from bench.cases import build_environ
from bench.cases import load
from bench.cases import respond
from bench.inprocess import calibrate
from bench.inprocess import time_batch
from bench.report import side_by_side
from bench.report import table

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ROUTES = [
    next(case for case in CASES if case.label == "GET /getcookie"),
    Case("POST /setcookie, blank name (400)", "POST", "/setcookie", FORM, "nm=+"),
    Case("GET /nowhere (404)", "GET", "/nowhere", {}, ""),
]


def as_template(page: wsgiapp.Page) -> Template:
    """The compiled page as one string.Template, its constants already in: Template at its best."""
    parts = [page.texts[0].replace("$", "$$")]
    for name, text in zip(page.names, page.texts[1:], strict=True):
        parts += ["${" + name + "}", text.replace("$", "$$")]
    return Template("".join(parts))


def substitute(page: wsgiapp.Page, **values: str) -> bytes:
    return TEMPLATES[id(page)].substitute(wsgiapp.escape_all(values)).encode()


PAGES = (wsgiapp.INDEX_PAGE, wsgiapp.WELCOME_PAGE, wsgiapp.MESSAGE_PAGE)
TEMPLATES = {id(page): as_template(page) for page in PAGES}
RENDERERS = {"compiled": wsgiapp.render, "Template": substitute}


def run(rounds: int, batch_seconds: float) -> dict[tuple[str, str], list[float]]:
    app = load(APPS["wsgiapp"])
    environs = {case.label: build_environ(case) for case in ROUTES}
    for case in ROUTES:
        pages = set()
        for renderer in RENDERERS.values():
            wsgiapp.render = renderer
            answer = respond(app, *environs[case.label])
            pages.add((answer.status, tuple(answer.headers), answer.body))
        if len(pages) != 1:
            raise WrongAnswer(f"{case.label}: the two renderers give different answers")
    calls = {case.label: calibrate(app, *environs[case.label], batch_seconds) for case in ROUTES}
    samples: dict[tuple[str, str], list[float]] = {}
    try:
        for _ in range(rounds):
            for case in ROUTES:
                for label, renderer in RENDERERS.items():
                    wsgiapp.render = renderer
                    timed = time_batch(app, *environs[case.label], calls[case.label])
                    samples.setdefault((case.label, label), []).append(timed)
    finally:
        wsgiapp.render = RENDERERS["compiled"]
    return samples


def report(samples: dict[tuple[str, str], list[float]], rounds: int) -> str:
    lines = [
        f"The page compiler against string.Template, in process: µs per call, median of {rounds} rounds;",
        "the difference and the ratio are medians over the rounds of the pairs timed side by side.",
        "",
    ]
    rows = [
        side_by_side(case.label, samples[(case.label, "compiled")], samples[(case.label, "Template")])
        for case in ROUTES
    ]
    lines += table(["route", "compiled", "Template", "difference", "Template / compiled"], rows, labels=1)
    return "\n".join(lines)
