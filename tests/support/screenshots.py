"""``make screenshots``: the pages a reader sees, drawn into docs/screenshots/ (the README shows them).

The store is the demo's (the bundled day of 19 trending papers, filed by topic, embedded), with
every paper read by the scripted server instead of the embedded model, so the run is quick and the
same on any machine. Each page is drawn at a desktop and a phone width with the system Chromium.
Run it again whenever a page changes.

    python tests/support/screenshots.py [OUT]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from serving import served  # noqa: E402 - the tests' folder is on the path only now

from papersift.config import LLMSettings, Settings  # noqa: E402
from papersift.demo import run_demo  # noqa: E402
from papersift.enrich.pipeline import enrich_papers  # noqa: E402
from papersift.publish.site import build_site  # noqa: E402
from papersift.search.embeddings import embed_store, get_embedder  # noqa: E402
from papersift.store import Store  # noqa: E402
from papersift.web import create_app  # noqa: E402
from support.llm_server import ScriptedServer  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
APP_PAGES = {  # name: path in the web app
    "home": "/",
    "paper": "/papers/{paper}",
    "search-zh": "/search?q=思维链推理",
    "search-en": "/search?q=sparse+attention",
    "digest": "/digests/{day}",
}
SITE_PAGES = {"site-catalog": "catalog.html", "site-search": "search.html?q=reasoning"}


def enriched_demo(folder: Path) -> Path:
    """The demo's output folder (papers filed by topic, embedded), every paper then read by the
    scripted server and the site built again with the cards."""
    with ScriptedServer() as server:
        llm = LLMSettings(backend="openai", base_url=server.base_url, model="scripted-qwen3", api_key="-", timeout=10)
        settings = Settings(db=folder / "papersift.db", llm=llm)
        run_demo(folder, settings, enrich=0, say=lambda line: None)
        with Store(settings.db) as store:
            enrich_papers(store, settings)
            embed_store(store, get_embedder(settings))  # the translated titles, for Chinese queries
            build_site(store, folder / "site", "zh", settings=settings)
    return folder


def shoot(folder: Path, out: Path) -> list[Path]:
    db = folder / "papersift.db"
    with Store(db) as store:
        paper = next(pid for pid, _ in store.abstracts() if (e := store.enrichment(pid, "zh")) and e.status == "ok")
        day = store.newest_day()
    written = []
    with served(create_app(Settings(db=db))) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        urls = {name: url + path.format(paper=paper, day=day) for name, path in APP_PAGES.items()}
        urls |= {name: (folder / "site").as_uri() + "/" + path for name, path in SITE_PAGES.items()}
        for size, (width, height) in SIZES.items():
            page = browser.new_page(viewport={"width": width, "height": height})
            for name, address in urls.items():
                page.goto(address)
                page.wait_for_load_state("networkidle")
                path = out / f"{name}-{size}.png"
                page.screenshot(path=path)
                written.append(path)
            page.close()
        browser.close()
    return written


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="papersift-screenshots-") as tmp:
        for path in shoot(enriched_demo(Path(tmp)), out):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
