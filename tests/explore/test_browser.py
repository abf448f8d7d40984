"""The explorer in a real browser: what the page shows is checked against cnnlab.ops called here.

Each test reads the numbers the page shows (input grid, output grid, sums), computes the expected values
with ``cnnlab.ops`` from the numbers it read and the lab's printed filters, and compares.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("shiny")
pytest.importorskip("playwright")

from playwright.sync_api import Page, expect
from shiny.playwright import controller

from cnnlab import ops
from cnnlab.explore.compute import parse_number

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("explore_browser")]

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
VERTICAL = np.array([[1, 0, -1]] * 3, dtype=np.float64)  # the lab's vertical edge filter


def read_grid(page: Page, grid_id: str) -> np.ndarray:
    rows = page.evaluate(
        """id => Array.from(document.querySelectorAll('#' + id + ' tr'))
                 .map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.textContent))""",
        grid_id,
    )
    return np.array([[parse_number(t) for t in r] for r in rows], dtype=np.float64)


def wait_for_grid(page: Page, grid_id: str, expected: np.ndarray, timeout: float = 20.0) -> None:
    """Wait until grid ``grid_id`` shows ``expected`` (to the 3 decimals the page prints)."""
    deadline = time.monotonic() + timeout
    shown = None
    while time.monotonic() < deadline:
        try:
            shown = read_grid(page, grid_id)
            if shown.shape == expected.shape and np.allclose(shown, expected, rtol=0, atol=5.1e-4):
                return
        except (ValueError, TypeError):
            pass
        page.wait_for_timeout(100)
    raise AssertionError(f"#{grid_id} shows\n{shown}\nexpected\n{np.round(expected, 3)}")


def conv(A: np.ndarray, W: np.ndarray, b: float, pad: int, stride: int) -> np.ndarray:
    Z, _ = ops.conv_forward(A[None, :, :, None], W[:, :, None, None], np.full((1, 1, 1, 1), b),
                            {"pad": pad, "stride": stride})  # fmt: skip
    return Z[0, :, :, 0]


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#conv_step_sum")).to_be_visible(timeout=20000)


def test_filter_pad_stride_change_the_output_as_conv_forward_says(page: Page, explorer_url: str):
    open_app(page, explorer_url)
    A = read_grid(page, "conv_in_grid")
    assert A.shape == (6, 6)
    # the default: the lab's vertical edge filter, pad 1, stride 1
    wait_for_grid(page, "conv_out_grid", conv(A, VERTICAL, 0.0, 1, 1))
    controller.InputSelect(page, "filter").set("sobel_x")
    controller.InputSlider(page, "pad").set("2")
    controller.InputSlider(page, "stride").set("2")
    controller.InputNumeric(page, "bias").set("1.5")
    expected = conv(A, SOBEL_X, 1.5, 2, 2)
    assert expected.shape == (4, 4)
    expect(page.locator("#conv_out_shape_text")).to_have_text("4 × 4")
    expect(page.locator("#conv_pad_shape_text")).to_have_text("10 × 10")
    wait_for_grid(page, "conv_out_grid", expected)
    wait_for_grid(page, "conv_w_grid", SOBEL_X)
    np.testing.assert_array_equal(
        read_grid(page, "conv_pad_grid"), ops.zero_pad(A[None, :, :, None], 2)[0, :, :, 0]
    )
    expect(page.locator("#conv_formula_text")).to_contain_text("⌊(6 − 3 + 2·2) / 2⌋ + 1 = ⌊7 / 2⌋ + 1 = 4")


def test_stepping_the_window_shows_each_sum_of_conv_forward(page: Page, explorer_url: str):
    open_app(page, explorer_url)
    controller.InputSlider(page, "stride").set("2")
    A = read_grid(page, "conv_in_grid")
    Z = conv(A, VERTICAL, 0.0, 1, 2)
    wait_for_grid(page, "conv_out_grid", Z)
    n_W = Z.shape[1]
    for k in [1, 2, 3, 4]:
        page.locator("#win_next").click()
        h, w = divmod(k, n_W)
        expect(page.locator("#conv_step_z")).to_have_text(_fmt_like_page(Z[h, w]))
        expect(page.locator("#conv_step_sum")).to_have_text(_fmt_like_page(Z[h, w]))
    page.locator("#win_prev").click()
    k = 3
    h, w = divmod(k, n_W)
    expect(page.locator("#conv_step_sum")).to_have_text(_fmt_like_page(Z[h, w]))
    # the framed cells on the padded input are the window's rows and columns
    framed = page.evaluate(
        "Array.from(document.querySelectorAll('#conv_pad_grid td.win'))"
        ".map(td => [+td.dataset.r, +td.dataset.c])"
    )
    assert sorted(map(tuple, framed)) == [
        (r, c) for r in range(2 * h, 2 * h + 3) for c in range(2 * w, 2 * w + 3)
    ]
    # quick clicks all count: five in a row land on window 3 + 5 (wrapping past the last one)
    for _ in range(5):
        page.locator("#win_next").click()
    k = (3 + 5) % Z.size
    expect(page.locator("#conv_step_sum")).to_have_text(_fmt_like_page(Z[divmod(k, n_W)]))
    h, w = divmod(k, n_W)
    # and the terms add up to the shown sum
    terms = page.locator("#conv_terms").text_content().split(" + ")
    total = sum(np.prod([parse_number(x) for x in t.split("×")]) for t in terms[:-1]) + parse_number(
        terms[-1]
    )
    assert total == pytest.approx(Z[h, w])


def _fmt_like_page(x: float) -> str:
    from cnnlab.explore.compute import fmt

    return fmt(x, 4)


def test_a_built_in_picture_is_shown_as_an_image_with_the_output_size(page: Page, explorer_url: str):
    open_app(page, explorer_url)
    controller.InputSelect(page, "source").set("cat")
    controller.InputSelect(page, "img_size").set("32")
    expect(page.locator("#conv_in_shape_text")).to_have_text("32 × 32")
    expect(page.locator("#conv_out_shape_text")).to_have_text("32 × 32")
    expect(page.locator("#conv_output img[alt='output']")).to_be_visible()
    controller.InputSlider(page, "pad").set("0")
    expect(page.locator("#conv_out_shape_text")).to_have_text("30 × 30")
    expect(page.locator("#conv_step_sum")).to_be_visible()


def test_pooling_modes_and_backward_pass(page: Page, explorer_url: str):
    open_app(page, explorer_url)
    controller.NavsetBar(page, "tab").set("Pooling")
    expect(page.locator("#pool_in_grid")).to_be_visible()
    A = read_grid(page, "pool_in_grid")
    A4 = A[None, :, :, None]
    hp = {"f": 2, "stride": 2}
    for mode in ("max", "average"):
        controller.InputRadioButtons(page, "pool_mode").set(mode)
        Z, cache = ops.pool_forward(A4, hp, mode)
        wait_for_grid(page, "pool_out_grid", Z[0, :, :, 0])
        window = A[0:2, 0:2]
        local = (
            ops.create_mask_from_window(window) * 1.0 if mode == "max" else ops.distribute_value(1.0, (2, 2))
        )
        wait_for_grid(page, "pool_local_grid", np.asarray(local, dtype=np.float64))
        dA = np.zeros_like(Z)
        dA[0, 0, 0, 0] = 1.0
        wait_for_grid(page, "pool_dprev_grid", ops.pool_backward(dA, cache, mode)[0, :, :, 0])
    controller.InputSlider(page, "pool_f").set("3")
    controller.InputSlider(page, "pool_stride").set("1")
    Z, _ = ops.pool_forward(A4, {"f": 3, "stride": 1}, "average")
    expect(page.locator("#pool_out_shape_text")).to_have_text("4 × 4")
    wait_for_grid(page, "pool_out_grid", Z[0, :, :, 0])


def test_a_corrupt_upload_gets_a_message_and_the_server_keeps_working(
    page: Page, explorer_url: str, tmp_path
):
    from PIL import Image

    open_app(page, explorer_url)
    controller.InputSelect(page, "source").set("upload")
    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 10)
    controller.InputFile(page, "upload").set(bad)
    expect(page.locator("#conv_msg_text")).to_contain_text("holiday.jpg")
    expect(page.locator("#conv_msg_text")).to_contain_text("not a picture")
    good = tmp_path / "ok.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 40, 3), dtype=np.uint8)).save(good)
    controller.InputFile(page, "upload").set(good)
    expect(page.locator("#conv_msg_text")).to_have_count(0)
    expect(page.locator("#conv_in_shape_text")).to_have_text("16 × 16")
    A = read_grid(page, "conv_in_grid")
    wait_for_grid(page, "conv_out_grid", conv(A, VERTICAL, 0.0, 1, 1))


def test_model_tab_without_a_run_says_how_to_get_one(page: Page, explorer_url: str):
    open_app(page, explorer_url)
    controller.NavsetBar(page, "tab").set("Model")
    expect(page.get_by_text("cnnlab explore --run runs/NAME")).to_be_visible()


def test_an_upload_over_10_mb_is_refused_by_the_server_with_a_message(
    page: Page, explorer_url: str, tmp_path
):
    open_app(page, explorer_url)
    controller.InputSelect(page, "source").set("upload")
    big = tmp_path / "huge.png"
    with big.open("wb") as fh:
        fh.truncate(11 * 2**20)
    page.locator("#upload").set_input_files(big)
    expect(page.locator("#upload_progress")).to_contain_text("uploads are limited to 10 MB")
    # nothing reached the app: it still asks for a picture, and it still answers
    expect(page.locator("#conv_msg_text")).to_contain_text("Choose a picture")
    controller.InputSelect(page, "source").set("random")
    expect(page.locator("#conv_out_shape_text")).to_have_text("6 × 6")
