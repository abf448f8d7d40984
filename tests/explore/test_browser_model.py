"""The explorer's Model tab in a real browser, on a tiny run trained here by the NumPy trainer.

The probabilities the page shows are compared with the same run's predictor loaded in the test.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("shiny")
pytest.importorskip("playwright")

from playwright.sync_api import Page, expect
from shiny.playwright import controller

from tests.explore.conftest import start_explorer, stop

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("explore_browser")]


def _tiny_run(root: Path) -> Path:
    """Train the ``cnn`` model at 16x16 for 2 epochs on 16 built-in pictures per class (about a second)."""
    from PIL import Image

    from cnnlab.data import synth
    from cnnlab.recipes import Recipe
    from cnnlab.training import TrainSettings

    try:
        from cnnlab.nn.trainer import train
    except ImportError as exc:  # pragma: no cover - the trainer is another part of the project
        pytest.skip(f"the NumPy trainer is not available: {exc}")
    data = root / "data"
    for label, name in enumerate(("cats", "dogs")):
        (data / name).mkdir(parents=True)
        for i in range(16):
            Image.fromarray(synth.render(label, 100 + i, size=16)).save(data / name / f"{i}.png")
    recipe = Recipe(name="tiny", epochs=2, batch_size=8, lr=3e-3, optimizer="adamw", weight_decay=0.0,
                    schedule="constant", augment=False, dropout=0.0, val_fraction=0.25, label_smoothing=0.0,
                    tta_flip=False, seed=3)  # fmt: skip
    settings = TrainSettings(backend="numpy", model="cnn", recipe=recipe, image_size=16, data=str(data),
                             out=root / "run")  # fmt: skip
    return train(settings).path


@pytest.fixture(scope="module")
def model_explorer(tmp_path_factory) -> tuple[str, Path]:
    run = _tiny_run(tmp_path_factory.mktemp("explore-model"))
    proc, url = start_explorer("--run", str(run))
    yield url, run
    stop(proc)


def test_model_tab_shows_curves_feature_maps_and_the_models_probabilities(page: Page, model_explorer):
    from cnnlab.data import synth
    from cnnlab.runs.predictor import load_predictor

    url, run = model_explorer
    page.goto(url)
    controller.NavsetBar(page, "tab").set("Model")
    controller.InputSelect(page, "m_source").set("dog")
    controller.InputNumeric(page, "m_seed").set("3")
    predictor = load_predictor(run)
    p = predictor.predict_proba(synth.render(1, 3, size=predictor.image_size)[None])[0]
    for name, prob in zip(predictor.classes, p, strict=True):
        cell = page.locator(f"#model_proba_table tr[data-class='{name}'] td.p")
        expect(cell).to_have_text(re.compile(r"[\d.]+%"))
        expect(cell).to_have_text(f"{round(100 * prob, 1):g}%".replace("-", "−"))
    expect(page.locator("#model_curves img[alt='training curves']")).to_be_visible()
    expect(page.locator("#model_maps img[alt='feature maps']")).to_be_visible()
    assert np.isclose(p.sum(), 1.0)
