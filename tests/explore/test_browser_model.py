"""The explorer's Model tab in a real browser, on a tiny run trained here by the NumPy trainer.

The probabilities the page shows are compared with the same run's predictor loaded in the test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("shiny")
pytest.importorskip("playwright")

from playwright.sync_api import Page, expect
from shiny.playwright import controller

from tests.explore.conftest import OVERFLOW_JS, start_explorer, stop

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


def _shown_percent(page: Page, name: str, col: str) -> float:
    text = page.locator(f"#model_proba_table tr[data-class='{name}'] td.{col}").text_content()
    return float(text.strip().rstrip("%").replace("−", "-"))


def test_picking_a_test_image_of_the_run_shows_its_logits_softmax_and_probabilities(
    page: Page, model_explorer
):
    from cnnlab.data import normalize
    from cnnlab.runs import RunDir
    from cnnlab.runs.evaluate import load_run_data
    from cnnlab.runs.predictor import load_predictor

    url, run = model_explorer
    page.goto(url)
    controller.NavsetBar(page, "tab").set("Model")
    predictor = load_predictor(run)
    test = load_run_data(RunDir.open(run)).test
    proba = predictor.predict_proba(test.images)
    pred = proba.argmax(axis=1)
    # the picker lists the run's test images, mistakes first
    options = page.locator("#model-m_pick option")
    expect(options).to_have_count(len(test.labels))
    values = [int(v) for v in options.evaluate_all("os => os.map(o => o.value)")]
    wrong = [bool(pred[i] != test.labels[i]) for i in values]
    assert wrong == sorted(wrong, reverse=True)
    # only the dogs, then the second of them
    controller.InputSelect(page, "model-m_class").set(str(predictor.classes.index("dogs")))
    expect(options).to_have_count(int(np.sum(test.labels == 1)))
    i = int(options.nth(1).get_attribute("value"))
    assert test.labels[i] == 1
    controller.InputSelect(page, "model-m_pick").set(str(i))
    expect(page.locator("#model-pic_label")).to_contain_text(f"test image #{i}")
    z = predictor.model.forward(normalize(test.images[i : i + 1]).astype(np.float32))[0].astype(np.float64)
    softmax = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    for k, name in enumerate(predictor.classes):
        expect(page.locator(f"#model_proba_table tr[data-class='{name}'] td.p")).to_have_text(
            f"{round(100 * proba[i, k], 1):g}%".replace("-", "−")
        )
        assert _shown_percent(page, name, "sm") == pytest.approx(100 * softmax[k], abs=0.051)
        shown_z = float(page.locator(f"#model_proba_table tr[data-class='{name}'] td.logit").text_content()
                        .replace("−", "-"))  # fmt: skip
        assert shown_z == pytest.approx(z[k], abs=5.1e-4)
    expect(page.locator("#model-curves img[alt='training curves']")).to_be_visible()
    expect(page.locator("#model-explain_img")).to_be_visible()
    controller.InputRadioButtons(page, "model-m_mode").set("gradcam")
    expect(page.locator("#model-explain_img[alt='gradcam']")).to_be_visible()
    # the probability bars fit their card
    card = page.locator("#model_proba_table").bounding_box()
    for bar in page.locator("#model_proba_table .bar").all():
        b = bar.bounding_box()
        assert b["x"] + b["width"] <= card["x"] + card["width"] + 0.5


def test_clicking_a_feature_map_shows_the_filter_that_made_it(page: Page, model_explorer):
    from cnnlab.nn.layers import Conv2D
    from cnnlab.runs.predictor import load_predictor

    url, run = model_explorer
    page.goto(url)
    controller.NavsetBar(page, "tab").set("Model")
    predictor = load_predictor(run)
    convs = [layer for layer in predictor.model.layers if isinstance(layer, Conv2D)]
    maps = page.locator("#model-layer1 img.fm")
    expect(maps).to_have_count(convs[1].out_channels)  # every channel of conv2
    maps.nth(3).click()
    expect(page.locator("#model-filter_title")).to_contain_text("conv2 channel 3")
    W = np.asarray(convs[1].params["weight"], dtype=np.float64)[:, :, :, 3]
    for k in range(W.shape[2]):
        rows = page.evaluate(
            "id => Array.from(document.querySelectorAll('[id=\"' + id + '\"] tr'))"
            ".map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.textContent))",
            f"model-filt{k}",
        )
        shown = np.array([[float(t.replace("−", "-")) for t in r] for r in rows])
        np.testing.assert_allclose(shown, W[:, :, k], rtol=0, atol=5.1e-3)


def test_an_uploaded_picture_is_predicted_like_the_predictor_does(page: Page, model_explorer, tmp_path):
    from PIL import Image

    from cnnlab.data import load_image
    from cnnlab.runs.predictor import load_predictor

    url, run = model_explorer
    page.goto(url)
    controller.NavsetBar(page, "tab").set("Model")
    controller.InputRadioButtons(page, "model-m_source").set("upload")
    expect(page.locator("#model-msg_text")).to_contain_text("Choose a picture")
    path = tmp_path / "mine.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 255, (30, 45, 3), dtype=np.uint8)).save(path)
    controller.InputFile(page, "model-m_upload").set(path)
    expect(page.locator("#model-pic_label")).to_have_text("mine.png")
    predictor = load_predictor(run)
    p = predictor.predict_proba(load_image(path, predictor.image_size)[None])[0]
    for k, name in enumerate(predictor.classes):
        expect(page.locator(f"#model_proba_table tr[data-class='{name}'] td.p")).to_have_text(
            f"{round(100 * p[k], 1):g}%".replace("-", "−")
        )
    assert np.isclose(p.sum(), 1.0)


def test_no_tab_overflows_at_1400_by_1000(page: Page, model_explorer):
    url, _ = model_explorer
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(url)
    expect(page.locator("#conv-sum")).to_be_visible()
    for tab, ready in (("Convolution", "#conv-sum"), ("Conv backward", "#bwd-db_total"),
                       ("Pooling", "#pool-cell_value"), ("Model", "#model_proba_table")):  # fmt: skip
        controller.NavsetBar(page, "tab").set(tab)
        expect(page.locator(ready)).to_be_visible()
        page.wait_for_timeout(300)
        assert page.evaluate(OVERFLOW_JS) == [], tab
