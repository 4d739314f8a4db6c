"""Check the built documentation site and one ``tabmtl report``: pages render and nothing
they load is missing.

For the landing page, a gallery page and the API page: the expected title, and every
local image, script, stylesheet and link target exists in the build. Then one
``tabmtl report`` HTML report is generated on the bundled penguins table with tiny
settings (``docs/_build/report/``, seconds) and checked the same way: its title, every
image an embedded PNG that decodes (nothing outside the file). Where Chromium is
installed, each page is also opened headless and screenshotted to
``docs/_build/screenshots/`` (kept as CI artefacts); a screenshot must be a PNG of
non-trivial size with more than a handful of colours (a blank page has one).

Usage: ``python .ci/check_site.py docs/_build/html [--no-report]``
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

PAGES = {
    "index.html": "tabmtl",
    "auto_examples/plot_negative_transfer.html": "Does training together help",
    "api.html": "API reference",
}
ROOT = Path(__file__).resolve().parents[1]
#: The report's title, and its command: penguins, tiny settings, every section drawn.
REPORT_TITLE = "tabmtl report: penguins.parquet"
REPORT_ARGS = [
    "report", "penguins.parquet", "-t", "species", "-t", "sex_male", "-t", "body_mass_g",
    "--cv", "2", "--max-epochs", "4", "--hidden", "8", "--batch-size", "128",
    "--grouping", "--threads", "1", "--quiet", "--out", ".",
]
_PNG = b"\x89PNG\r\n\x1a\n"


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
        if parts.scheme == "data":
            problems += _check_data_url(page, url)
            continue
        if parts.scheme or parts.netloc or not parts.path:
            continue  # external, or an anchor on the same page
        target = (path.parent / unquote(parts.path)).resolve()
        if not target.exists():
            problems.append(f"{page}: missing {url}")
    return problems


def _check_data_url(page: str, url: str) -> list[str]:
    """An embedded image must decode: a PNG of more than a few hundred bytes."""
    head, _, payload = url.partition(",")
    if not head.startswith("data:image/png;base64"):
        return []
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError:
        return [f"{page}: an embedded image is not valid base64"]
    if data[:8] != _PNG or len(data) < 500:
        return [f"{page}: an embedded image is not a PNG ({len(data)} bytes)"]
    return []


def make_report(out: Path) -> tuple[list[str], float]:
    """Run ``tabmtl report`` on penguins into ``out``; problems and seconds taken."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import datasets; X, Y = datasets.load('penguins'); "
         "X.join(Y).to_parquet('penguins.parquet')"],
        cwd=out, env=env, check=True, timeout=120,
    )  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "tabmtl", *REPORT_ARGS], cwd=out, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0 or not (out / "report.html").is_file():
        return [f"tabmtl report failed ({proc.returncode}): {proc.stderr[-2000:]}"], seconds
    listed = next((ln for ln in proc.stdout.splitlines() if ln.startswith("files: ")), "")
    names = {n.strip() for n in listed.removeprefix("files: ").split(",")} | {"report.html"}
    written = {p.name for p in out.iterdir()} - {"penguins.parquet"}
    if names != written:
        return [f"tabmtl report: its files line lists {sorted(names)}, it wrote "
                f"{sorted(written)}"], seconds
    return [], seconds


def _colours(png: Path) -> int | None:
    """How many distinct colours a screenshot has (None without Pillow)."""
    try:
        from PIL import Image
    except ImportError:
        return None
    with Image.open(png) as image:
        found = image.convert("RGB").getcolors(maxcolors=1 << 16)
    return 1 << 16 if found is None else len(found)


def screenshot(browser: str, page: Path, out: Path) -> str | None:
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1280,1600", f"--screenshot={out}", page.as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    if not out.exists() or out.stat().st_size < 20_000:
        return f"{page.name}: screenshot missing or blank ({out})"
    if out.read_bytes()[:8] != _PNG:
        return f"{page.name}: screenshot is not a PNG"
    colours = _colours(out)
    if colours is not None and colours < 50:
        return f"{page.name}: screenshot has {colours} colours: a blank page ({out})"
    return None


def main(root: str, report: bool = True) -> int:
    html = Path(root).resolve()
    pages = {html / page: title for page, title in PAGES.items()}
    problems = [p for page, title in PAGES.items() for p in check_page(html, page, title)]
    if report:
        folder = html.parent / "report"
        made, seconds = make_report(folder)
        problems += made
        print(f"tabmtl report on penguins: {seconds:.0f}s, {folder / 'report.html'}")
        if not made:
            problems += check_page(folder, "report.html", REPORT_TITLE)
            pages[folder / "report.html"] = REPORT_TITLE
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser:
        shots = html.parent / "screenshots"
        for page in pages:
            name = str(page.relative_to(html.parent)).removesuffix(".html")
            name = {"report/report": "report"}.get(name, name).removeprefix("html/")
            problem = screenshot(browser, page, shots / f"{name.replace('/', '_')}.png")
            if problem:
                problems.append(problem)
    for problem in problems:
        print(problem)
    checked = "pages and screenshots" if browser else "pages (no Chromium: no screenshots)"
    print(f"site check: {len(pages)} {checked}, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    raise SystemExit(main(args[0] if args else "docs/_build/html",
                          report="--no-report" not in sys.argv[1:]))
