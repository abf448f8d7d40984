"""Out-of-range values sent straight to the server (``Shiny.setInputValue``, as from the browser console):
each gets a one-line note, the control shows the value used, and another session keeps answering."""

from __future__ import annotations

import pytest

pytest.importorskip("shiny")
pytest.importorskip("playwright")

from playwright.sync_api import Browser, Page, expect
from shiny.playwright import controller

from cnnlab.explore.bounds import BOUNDS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("explore_browser")]

#: (input id, value sent, the note's start). Every input of the Convolution, Conv backward and Pooling tabs.
CONV_BOMBS = [
    ("conv-rand_h", 6000, "rows: 6000 is outside 1 to 16, so 16 is used"),
    ("conv-rand_w", -7, "columns: -7 is outside 1 to 16, so 1 is used"),
    ("conv-pad", 4000, "pad: 4000 is outside 0 to 4, so 4 is used"),
    ("conv-f", 999, "f (filter size): 999 is outside 1 to 7, so 7 is used"),
    ("conv-stride", 0, "stride: 0 is outside 1 to 4, so 1 is used"),
    ("conv-channels", 50, "input channels n_C_prev: 50 is outside 1 to 3, so 3 is used"),
    ("conv-filters", 1e9, "filters n_C: 1e+09 is outside 1 to 4, so 4 is used"),
    ("conv-rand_seed", -5, "seed: -5 is outside"),
    ("conv-filter_seed", 1e30, "filter seed: 1e+30 is outside 0 to 2147483647, so 2147483647 is used"),
    ("conv-sample_seed", "abc", "which sample (seed): 'abc' is not a number"),
    ("conv-img_size", "6000", "Resize to: '6000' is not one of the choices"),
    ("conv-filter", "evil", "Filter 1: 'evil' is not one of the choices"),
    ("conv-bias", 1e308, "bias b (every filter): 1e+308 is outside -1000 to 1000"),
    ("conv-cw0", "1e999", "custom filter entry 1: '1e999' is not a number"),
    ("conv-speed", 1e6, "speed (windows per second): 1e+06 is outside 1 to 10"),
    ("conv-click", {"h": 10**9, "w": 0, "c": 0}, "output cell"),
    ("conv-source", "nope", "Input: 'nope' is not one of the choices"),
]
BACKWARD_BOMBS = [
    ("bwd-dz", "twice", "upstream gradient dZ: 'twice' is not one of the choices"),
    ("bwd-click", "garbage", "output cell garbage is not a cell of dZ"),
]
POOL_BOMBS = [
    ("pool-pool_h", 6000, "rows: 6000 is outside 1 to 16"),
    ("pool-pool_w", 0, "columns: 0 is outside 1 to 16"),
    ("pool-pool_seed", 2**40, "seed: 1.09951e+12 is outside"),
    ("pool-pool_f", 99, "f (window size): 99 is outside 1 to 5"),
    ("pool-pool_stride", -1, "stride: -1 is outside 1 to 4"),
    ("pool-pool_grad", "lots", "upstream gradient dA of the chosen cell: 'lots' is not a number"),
    ("pool-pool_mode", "median", "Mode: 'median' is not one of the choices"),
    ("pool-pool_source", "disk", "Input: 'disk' is not one of the choices"),
    ("pool-click", [1, 2], "output cell (1, 2) is not a cell of Z"),
]


def send(page: Page, input_id: str, value) -> None:
    page.evaluate("([id, v]) => Shiny.setInputValue(id, v, {priority: 'event'})", [input_id, value])


def notes(page: Page, tab: str) -> list[str]:
    return page.locator(f"[id='{tab}-msg'] .input-note").all_text_contents()


def expect_notes(page: Page, tab: str, bombs: list) -> None:
    for _, _, start in bombs:
        expect(page.locator(f"[id='{tab}-msg'] .input-note", has_text=start)).to_have_count(1)
    for text in notes(page, tab):
        assert "\n" not in text.strip() and len(text) < 200  # one line each


def test_out_of_range_values_get_one_line_each_and_another_session_keeps_answering(
    page: Page, browser: Browser, explorer_url: str
):
    page.goto(explorer_url)
    expect(page.locator("#conv-sum")).to_be_visible(timeout=20000)
    assert {name for name, _, _ in CONV_BOMBS} >= {f"conv-{n}" for n in ("rand_h", "pad", "f", "stride")}
    for input_id, value, _ in CONV_BOMBS:
        send(page, input_id, value)
    expect_notes(page, "conv", CONV_BOMBS)
    # the controls show the values used, and the page computed with them
    controller.InputSlider(page, "conv-pad").expect_value("4")
    controller.InputSlider(page, "conv-f").expect_value("7")
    controller.InputNumeric(page, "conv-rand_h").expect_value("16")
    controller.InputNumeric(page, "conv-rand_w").expect_value("1")
    controller.InputSelect(page, "conv-source").expect_selected("random")
    expect(page.locator("#conv-shape_text")).to_have_text(
        "A_prev 16 × 1 × 3, W 7 × 7 × 3 × 4, Z 18 × 3 × 4"
    )  # (16 − 7 + 8) / 1 + 1 = 18, (1 − 7 + 8) / 1 + 1 = 3

    controller.NavsetBar(page, "tab").set("Conv backward")
    for input_id, value, _ in BACKWARD_BOMBS:
        send(page, input_id, value)
    expect_notes(page, "bwd", BACKWARD_BOMBS)
    controller.InputRadioButtons(page, "bwd-dz").expect_selected("cell")

    controller.NavsetBar(page, "tab").set("Pooling")
    for input_id, value, _ in POOL_BOMBS:
        send(page, input_id, value)
    expect_notes(page, "pool", POOL_BOMBS)
    # 16 × 1 rows and columns with f = 5: no window fits, and the message says so in one line
    msg = page.locator("#pool-msg_text")
    expect(msg).to_contain_text("no window fits: f = 5 is larger than the input")
    assert "\n" not in msg.text_content().strip()

    # another session, opened after all that, answers a control change within a second
    other = browser.new_page()
    try:
        other.goto(explorer_url)
        expect(other.locator("#conv-shape_text")).to_contain_text("Z 6 × 6 × 2", timeout=20000)
        controller.InputSlider(other, "conv-stride").set("2")
        expect(other.locator("#conv-shape_text")).to_contain_text("Z 3 × 3 × 2", timeout=1000)
        assert not notes(other, "conv")  # the first session's notes are its own
    finally:
        other.close()


def test_a_typed_value_outside_the_box_s_range_is_replaced_by_the_value_used(page: Page, explorer_url: str):
    page.goto(explorer_url)
    expect(page.locator("#conv-sum")).to_be_visible(timeout=20000)
    rows = controller.InputNumeric(page, "conv-rand_h")
    rows.set("40")
    rows.expect_value("16")
    expect(page.locator("#conv-shape_text")).to_contain_text("A_prev 16 × 6 × 3")
    expect(page.locator("[id='conv-msg'] .input-note")).to_have_text(
        "rows: 40 is outside 1 to 16, so 16 is used"
    )
    rows.set("0")
    rows.expect_value("1")
    expect(page.locator("#conv-shape_text")).to_contain_text("A_prev 1 × 6 × 3")
    rows.set("5")
    expect(page.locator("[id='conv-msg'] .input-note")).to_have_count(0)  # a good value clears the note
    assert BOUNDS["rand_h"].hi == 16
