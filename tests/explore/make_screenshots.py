"""Write the README's screenshots of each explorer tab at 1400 x 1000 into docs/images/.

Usage: .venv/bin/python tests/explore/make_screenshots.py RUN_DIR [OUT_DIR]
(RUN_DIR: a run from ``cnnlab train``, for the Model tab). Uses Debian's Chromium, as the browser tests.
Prints, for each tab, any card whose content is wider than the card (there should be none).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.explore.conftest import CHROMIUM_ARGS, OVERFLOW_JS, find_chromium, start_explorer, stop


def _tab(page: Page, name: str) -> None:
    page.locator(f"a.nav-link:text-is('{name}')").click()
    page.wait_for_timeout(2500)


def main(run_dir: str, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    proc, url = start_explorer("--run", run_dir)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.locator("#conv-sum").wait_for()
            page.locator("[id='conv-out1_grid'] td[data-r='2'][data-c='3']").click()
            page.wait_for_timeout(1500)
            page.locator("[id='conv-out1_grid'] td[data-r='4'][data-c='1']").hover()
            shots = {"explore-conv.png": None, "explore-backward.png": "Conv backward",
                     "explore-pool.png": "Pooling", "explore-model.png": "Model"}  # fmt: skip
            for name, tab in shots.items():
                if tab:
                    _tab(page, tab)
                if tab == "Pooling":
                    page.locator("[id='pool-out_grid'] td[data-r='1'][data-c='1']").click()
                    page.wait_for_timeout(1000)
                if tab == "Model":
                    page.locator("#model-layer0 img.fm").nth(5).click()
                    page.wait_for_timeout(1500)
                bad = page.evaluate(OVERFLOW_JS)
                print(name, "overflow:", bad or "none")
                page.screenshot(path=str(out / name))
            browser.close()
    finally:
        stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs/images")))
