"""Check the built documentation site: pages render and nothing they load is missing.

For the landing page and a gallery page: the expected title, and every local image,
script, stylesheet and link target exists in the build. Where Chromium is installed, each
page is also opened headless and screenshotted to ``docs/_build/screenshots/`` (kept as
CI artefacts), and a screenshot must be a PNG of non-trivial size.

Usage: ``python .ci/check_site.py docs/_build/html``
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

PAGES = {
    "index.html": "tabmtl",
    "auto_examples/plot_negative_transfer.html": "Does training together help",
    "api.html": "API reference",
}


class _Resources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.urls: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "title":
            self._in_title = True
        for key in ("src", "href"):
            if attrs.get(key) and not (tag == "a" and key == "href" and "#" in attrs[key][:1]):
                self.urls.append(attrs[key])

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def check_page(root: Path, page: str, title: str) -> list[str]:
    path = root / page
    parser = _Resources()
    parser.feed(path.read_text(encoding="utf-8"))
    problems = [] if title in parser.title else [f"{page}: title {parser.title!r}"]
    for url in parser.urls:
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path:
            continue  # external, or an anchor on the same page
        target = (path.parent / unquote(parts.path)).resolve()
        if not target.exists():
            problems.append(f"{page}: missing {url}")
    return problems


def screenshot(browser: str, page: Path, out: Path) -> str | None:
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1280,1600", f"--screenshot={out}", page.as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    if not out.exists() or out.stat().st_size < 20_000:
        return f"{page.name}: screenshot missing or blank ({out})"
    if out.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        return f"{page.name}: screenshot is not a PNG"
    return None


def main(root: str) -> int:
    html = Path(root).resolve()
    problems = [p for page, title in PAGES.items() for p in check_page(html, page, title)]
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser:
        shots = html.parent / "screenshots"
        for page in PAGES:
            name = page.replace("/", "_").removesuffix(".html") + ".png"
            problem = screenshot(browser, html / page, shots / name)
            if problem:
                problems.append(problem)
    for problem in problems:
        print(problem)
    checked = "pages and screenshots" if browser else "pages (no Chromium: no screenshots)"
    print(f"site check: {len(PAGES)} {checked}, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html"))
