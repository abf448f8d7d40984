"""The explorer in a real browser: what the page shows is checked against cnnlab.ops called here.

Each test reads the numbers the page shows (input grids, filters, output grids, sums), computes the
expected values with ``cnnlab.ops`` from the numbers it read, and compares; the interactions (hover,
click, step, play) are driven as a student would.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

pytest.importorskip("shiny")
pytest.importorskip("playwright")

from playwright.sync_api import Page, expect
from shiny.playwright import controller

from cnnlab import ops
from cnnlab.explore.compute import fmt, parse_number

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("explore_browser")]

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)


def read_grid(page: Page, grid_id: str) -> np.ndarray:
    rows = page.evaluate(
        """id => Array.from(document.querySelectorAll('[id="' + id + '"] tr'))
                 .map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.textContent))""",
        grid_id,
    )
    return np.array([[parse_number(t) for t in r] for r in rows], dtype=np.float64)


def wait_for(page: Page, read, expected: np.ndarray, what: str, timeout: float = 20.0) -> None:
    """Wait until ``read()`` shows ``expected`` (to the 3 decimals the page prints)."""
    deadline = time.monotonic() + timeout
    shown = None
    while time.monotonic() < deadline:
        try:
            shown = read()
            if shown.shape == expected.shape and np.allclose(shown, expected, rtol=0, atol=5.1e-4):
                return
        except (ValueError, TypeError):
            pass
        page.wait_for_timeout(100)
    raise AssertionError(f"{what} shows\n{shown}\nexpected\n{np.round(expected, 3)}")


def wait_for_grid(page: Page, grid_id: str, expected: np.ndarray, timeout: float = 20.0) -> None:
    wait_for(page, lambda: read_grid(page, grid_id), expected, f"#{grid_id}", timeout)


def read_volume(page: Page, prefix: str, n: int) -> np.ndarray:
    """Maps ``prefix0 .. prefix{n-1}`` stacked on the last axis: ``(n_H, n_W, n)``."""
    return np.stack([read_grid(page, f"{prefix}{k}_grid") for k in range(n)], axis=2)


def read_filters(page: Page, prefix: str, n_C_prev: int, n_C: int) -> np.ndarray:
    """The filter table: ``W (f, f, n_C_prev, n_C)`` from grids ``prefix{k}_{c}``."""
    return np.stack(
        [
            np.stack([read_grid(page, f"{prefix}{k}_{c}") for c in range(n_C)], axis=2)
            for k in range(n_C_prev)
        ],
        axis=2,
    )


def page_layer(page: Page, n_C_prev: int, n_C: int, pad: int):
    """``(A, W, b)`` as the page shows them: the unpadded input read from the padded grids."""
    A_pad = read_volume(page, "conv-in", n_C_prev)
    A = A_pad[pad : A_pad.shape[0] - pad, pad : A_pad.shape[1] - pad] if pad else A_pad
    W = read_filters(page, "conv-w", n_C_prev, n_C)
    return A, W


def settled_layer(page: Page, n_C_prev: int, n_C: int, pad: int, before: np.ndarray | None = None):
    """:func:`page_layer` once the page has redrawn: the filters differ from ``before`` (when given) and
    two reads 300 ms apart agree (on a loaded machine the new filters can arrive after other outputs)."""
    deadline = time.monotonic() + 20.0
    last = None
    while time.monotonic() < deadline:
        try:
            now = page_layer(page, n_C_prev, n_C, pad)
        except (ValueError, TypeError):
            now = None
        changed = now is not None and (
            before is None or now[1].shape != before.shape or not np.array_equal(now[1], before)
        )
        if changed and last is not None and all(np.array_equal(x, y) for x, y in zip(now, last, strict=True)):
            return now
        last = now if changed else None
        page.wait_for_timeout(300)
    raise AssertionError("the page's input and filters did not settle")


def conv(A: np.ndarray, W: np.ndarray, b: float, pad: int, stride: int):
    bias = np.full((1, 1, 1, W.shape[3]), b)
    Z, cache = ops.conv_forward(A[None], W, bias, {"pad": pad, "stride": stride})
    return Z[0], cache


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#conv-sum")).to_be_visible(timeout=20000)


def test_three_channels_two_filters_the_shown_sum_is_conv_forward_s_cell(page: Page, explorer_url: str):
    open_app(page, explorer_url)
    controller.InputSlider(page, "conv-channels").set("3")
    controller.InputSlider(page, "conv-filters").set("2")
    controller.InputSelect(page, "conv-filter").set("sobel_x")
    controller.InputSlider(page, "conv-stride").set("2")
    controller.InputNumeric(page, "conv-bias").set("1.5")
    expect(page.locator("#conv-shape_text")).to_have_text("A_prev 6 × 6 × 3, W 3 × 3 × 3 × 2, Z 3 × 3 × 2")
    A, W = page_layer(page, 3, 2, pad=1)
    for k in range(3):
        np.testing.assert_array_equal(W[:, :, k, 0], SOBEL_X)  # filter 0 is Sobel x in every channel
    Z, _ = conv(A, W, 1.5, 1, 2)
    wait_for(page, lambda: read_volume(page, "conv-out", 2), Z, "Z")
    # choose Z[1, 2, 1] by clicking it; the per-channel partial sums and the total are conv_forward's
    page.locator("[id='conv-out1_grid'] td[data-r='1'][data-c='2']").click()
    expect(page.locator("#conv-cell_head")).to_contain_text("Z[1, 2, 1]")
    expect(page.locator("#conv-z")).to_have_text(fmt(Z[1, 2, 1], 4))
    expect(page.locator("#conv-sum")).to_have_text(fmt(Z[1, 2, 1], 4))
    A_pad = np.pad(A, ((1, 1), (1, 1), (0, 0)))
    window = A_pad[2:5, 4:7, :]
    partials = [float(page.locator(f"#conv-partial{k}").text_content().replace("−", "-")) for k in range(3)]
    np.testing.assert_allclose(partials, [np.sum(window[:, :, k] * W[:, :, k, 1]) for k in range(3)])
    assert sum(partials) + 1.5 == pytest.approx(Z[1, 2, 1])
    # the window grids are the window of every channel
    for k in range(3):
        np.testing.assert_array_equal(read_grid(page, f"conv-win{k}"), window[:, :, k])


def _marked(page: Page, grid_id: str, cls: str) -> list[tuple[int, int]]:
    cells = page.evaluate(
        f"""id => Array.from(document.querySelectorAll('[id="' + id + '"] td.{cls}'))
                 .map(td => [+td.dataset.r, +td.dataset.c])""",
        grid_id,
    )
    return sorted(map(tuple, cells))


def test_hover_links_output_cells_and_windows_both_ways(page: Page, explorer_url: str):
    open_app(page, explorer_url)
    controller.InputSlider(page, "conv-stride").set("2")
    expect(page.locator("#conv-shape_text")).to_contain_text("Z 3 × 3 × 2")
    # hover output cell (1, 2) of filter 1: its window is outlined in every input channel
    page.locator("[id='conv-out1_grid'] td[data-r='1'][data-c='2']").hover()
    want = [(r, c) for r in range(2, 5) for c in range(4, 7)]
    for k in range(3):
        assert _marked(page, f"conv-in{k}_grid", "hl") == want
    # hover padded input cell (4, 4): the output cells whose windows read it, in every filter's map
    page.locator("[id='conv-in0_grid'] td[data-r='4'][data-c='4']").hover()
    covering = [
        (h, w) for h in range(3) for w in range(3) if 2 * h <= 4 < 2 * h + 3 and 2 * w <= 4 < 2 * w + 3
    ]
    assert covering == [(1, 1), (1, 2), (2, 1), (2, 2)]
    for j in range(2):
        assert _marked(page, f"conv-out{j}_grid", "hl") == covering
    # clicking an input cell chooses the first window that reads it
    page.locator("[id='conv-in2_grid'] td[data-r='4'][data-c='4']").click()
    expect(page.locator("#conv-cell_head")).to_contain_text("Z[1, 1, 0]")
    assert _marked(page, "conv-in1_grid", "win") == [(r, c) for r in range(2, 5) for c in range(2, 5)]


def test_step_and_play_move_the_window(page: Page, explorer_url: str):
    open_app(page, explorer_url)
    controller.InputSlider(page, "conv-channels").set("1")
    controller.InputSlider(page, "conv-filters").set("1")
    expect(page.locator("#conv-shape_text")).to_contain_text("Z 6 × 6 × 1")
    A, W = page_layer(page, 1, 1, pad=1)
    Z, _ = conv(A, W, 0.0, 1, 1)
    head = page.locator("#conv-cell_head")
    for _ in range(4):  # quick clicks all count
        page.locator("#conv-next").click()
    expect(head).to_contain_text("Window 5 of 36")
    expect(page.locator("#conv-sum")).to_have_text(fmt(Z[0, 4, 0], 4))
    page.locator("#conv-prev").click()
    expect(head).to_contain_text("Window 4 of 36")
    for _ in range(4):
        page.locator("#conv-prev").click()
    expect(head).to_contain_text("Window 36 of 36")  # wraps around
    expect(page.locator("#conv-sum")).to_have_text(fmt(Z[5, 5, 0], 4))
    controller.InputSlider(page, "conv-speed").set("10")
    page.locator("#conv-play").click()
    expect(page.locator("#conv-play")).to_contain_text("pause")
    expect(head).to_contain_text(re.compile(r"Window ([3-9]|[1-3]\d) of 36"))  # it moved on by itself
    page.locator("#conv-play").click()
    expect(page.locator("#conv-play")).to_contain_text("play")
    page.wait_for_timeout(300)
    paused = head.text_content()
    page.wait_for_timeout(700)
    assert head.text_content() == paused  # and stopped
    k = int(re.search(r"Window (\d+)", paused).group(1)) - 1
    expect(page.locator("#conv-sum")).to_have_text(fmt(Z[k // 6, k % 6, 0], 4))


def test_the_output_size_formula_follows_f_pad_stride_and_marks_impossible_settings(
    page: Page, explorer_url: str
):
    open_app(page, explorer_url)
    controller.InputNumeric(page, "conv-rand_h").set("4")
    controller.InputSlider(page, "conv-pad").set("2")
    controller.InputSlider(page, "conv-stride").set("3")
    expect(page.locator("#conv-formula_text")).to_contain_text("⌊(4 − 3 + 2·2) / 3⌋ + 1 = ⌊5 / 3⌋ + 1 = 2")
    expect(page.locator("#conv-formula_text")).to_contain_text("the last 2 of the 8 padded rows are not read")
    controller.InputSelect(page, "conv-filter").set("blur")
    controller.InputSlider(page, "conv-pad").set("0")
    controller.InputSlider(page, "conv-f").set("5")
    expect(page.locator("#conv-impossible")).to_contain_text("impossible")
    msg = page.locator("#conv-msg_text")
    expect(msg).to_contain_text("no window fits: f = 5 is larger than the padded input (4 + 2·0 = 4)")
    assert "\n" not in msg.text_content().strip()
    controller.InputSlider(page, "conv-pad").set("1")
    expect(msg).to_have_count(0)
    expect(page.locator("#conv-shape_check")).to_have_text(
        "1 × 2 × 2"
    )  # (4 − 5 + 2) // 3 + 1, (6 − 5 + 2) // 3 + 1


def test_backward_shows_conv_backward_s_dA_prev_dW_and_db(page: Page, explorer_url: str):
    open_app(page, explorer_url)
    controller.InputSlider(page, "conv-stride").set("2")
    expect(page.locator("#conv-shape_text")).to_contain_text("Z 3 × 3 × 2")
    _, before = settled_layer(page, 3, 2, pad=1)
    controller.InputSelect(page, "conv-filter").set("random")
    A, W = settled_layer(page, 3, 2, pad=1, before=before)
    _, cache = conv(A, W, 0.0, 1, 2)
    page.locator("[id='conv-out1_grid'] td[data-r='2'][data-c='1']").click()
    expect(page.locator("#conv-cell_head")).to_contain_text("Z[2, 1, 1]")
    controller.NavsetBar(page, "tab").set("Conv backward")
    dZ = np.zeros((1, 3, 3, 2))
    dZ[0, 2, 1, 1] = 1.0
    dA, dW, db = ops.conv_backward(dZ, cache)
    wait_for(page, lambda: read_filters(page, "bwd-dw", 3, 2), dW, "dW")
    wait_for(page, lambda: read_volume(page, "bwd-da", 3), dA[0], "dA_prev")
    wait_for_grid(page, "bwd-db", db.reshape(1, -1))
    # the filled-in formulas name the window and show the contributions
    expect(page.get_by_text("1. dA_prev_pad[4:7, 2:5, :] += W[:, :, :, 1] × dZ[2, 1, 1]")).to_be_visible()
    for k in range(3):
        np.testing.assert_array_equal(read_grid(page, f"bwd-dw_part{k}"), dW[:, :, k, 1])
        np.testing.assert_array_equal(read_grid(page, f"bwd-da_part{k}"), W[:, :, k, 1])
    # all ones: dZ = 1 everywhere
    controller.InputRadioButtons(page, "bwd-dz").set("ones")
    dA, dW, db = ops.conv_backward(np.ones((1, 3, 3, 2)), cache)
    wait_for(page, lambda: read_filters(page, "bwd-dw", 3, 2), dW, "dW")
    wait_for(page, lambda: read_volume(page, "bwd-da", 3), dA[0], "dA_prev")
    expect(page.locator("#bwd-db_total")).to_have_text("9")
    # clicking a dZ cell chooses it (for both tabs), and hovering it outlines what it reaches in dA_prev
    page.locator("[id='bwd-dz0_grid'] td[data-r='0'][data-c='0']").click()
    expect(page.locator("#bwd-dz_value")).to_have_text("1")
    expect(page.get_by_text("1. dA_prev_pad[0:3, 0:3, :] += W[:, :, :, 0] × dZ[0, 0, 0]")).to_be_visible()
    page.locator("[id='bwd-dz0_grid'] td[data-r='0'][data-c='0']").hover()
    assert _marked(page, "bwd-da0_grid", "hl") == [(r, c) for r in range(2) for c in range(2)]


def test_a_built_in_rgb_picture_is_three_channels_shown_as_pictures(page: Page, explorer_url: str):
    open_app(page, explorer_url)
    controller.InputSelect(page, "conv-source").set("cat")
    controller.InputSelect(page, "conv-img_size").set("32")
    expect(page.locator("#conv-shape_text")).to_have_text(
        "A_prev 32 × 32 × 3, W 3 × 3 × 3 × 2, Z 32 × 32 × 2"
    )
    expect(page.locator("[id='conv-out0'] img")).to_be_visible()
    # a click on the picture of Z chooses the cell under the pointer
    box = page.locator("[id='conv-out1'] .pix").bounding_box()
    page.mouse.click(box["x"] + box["width"] * (10.5 / 32), box["y"] + box["height"] * (20.5 / 32))
    expect(page.locator("#conv-cell_head")).to_contain_text("Z[20, 10, 1]")
    # hovering the picture of Z outlines the window on each channel's picture (padded: 34 × 34)
    page.mouse.move(box["x"] + box["width"] * (3.5 / 32), box["y"] + box["height"] * (7.5 / 32))
    for k in range(3):
        hl = page.locator(f"[id='conv-in{k}'] .box.hl")
        expect(hl).to_have_count(1)
        style = hl.get_attribute("style")
        for prop, cells in (("left", 3), ("top", 7), ("width", 3), ("height", 3)):
            shown = float(re.search(rf"(?:^|;|\s){prop}:\s*([\d.]+)%", style).group(1))
            assert shown == pytest.approx(100 * cells / 34, abs=1e-3), (prop, style)
    controller.InputSlider(page, "conv-pad").set("0")
    expect(page.locator("#conv-shape_text")).to_contain_text("Z 30 × 30 × 2")


def test_pooling_modes_backward_pass_and_linking(page: Page, explorer_url: str):
    open_app(page, explorer_url)
    controller.NavsetBar(page, "tab").set("Pooling")
    expect(page.locator("[id='pool-in_grid']")).to_be_visible()
    A = read_grid(page, "pool-in_grid")
    A4 = A[None, :, :, None]
    hp = {"f": 2, "stride": 2}
    for mode in ("max", "average"):
        controller.InputRadioButtons(page, "pool-pool_mode").set(mode)
        Z, cache = ops.pool_forward(A4, hp, mode)
        wait_for_grid(page, "pool-out_grid", Z[0, :, :, 0])
    # click output cell (1, 2): its window is framed, and the backward pass goes through it
    page.locator("[id='pool-out_grid'] td[data-r='1'][data-c='2']").click()
    window = A[2:4, 4:6]
    wait_for_grid(page, "pool-win", window)
    wait_for_grid(page, "pool-local", np.asarray(ops.distribute_value(1.0, (2, 2)), dtype=np.float64))
    dA = np.zeros_like(Z)
    dA[0, 1, 2, 0] = 1.0
    wait_for_grid(page, "pool-dprev", ops.pool_backward(dA, cache, "average")[0, :, :, 0])
    assert _marked(page, "pool-in_grid", "win") == [(r, c) for r in range(2, 4) for c in range(4, 6)]
    page.locator("[id='pool-in_grid'] td[data-r='5'][data-c='0']").hover()
    assert _marked(page, "pool-out_grid", "hl") == [(2, 0)]
    page.locator("#pool-next").click()
    expect(page.locator("#pool-cell_value")).to_have_text(fmt(Z[0, 2, 0, 0], 4))
    controller.InputSlider(page, "pool-pool_f").set("3")
    controller.InputSlider(page, "pool-pool_stride").set("1")
    Z, _ = ops.pool_forward(A4, {"f": 3, "stride": 1}, "average")
    expect(page.locator("#pool-shape_text")).to_have_text("A_prev 6 × 6, Z 4 × 4")
    wait_for_grid(page, "pool-out_grid", Z[0, :, :, 0])


def test_a_corrupt_upload_gets_a_message_and_a_good_one_is_used(page: Page, explorer_url: str, tmp_path):
    from PIL import Image

    from cnnlab.data import load_image

    open_app(page, explorer_url)
    controller.InputSelect(page, "conv-source").set("upload")
    expect(page.locator("#conv-msg_text")).to_contain_text("Choose a picture")
    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 10)
    controller.InputFile(page, "conv-upload").set(bad)
    msg = page.locator("#conv-msg_text")
    expect(msg).to_contain_text("holiday.jpg")
    expect(msg).to_contain_text("not a picture")
    assert "\n" not in msg.text_content().strip()
    good = tmp_path / "ok.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 40, 3), dtype=np.uint8)).save(good)
    controller.InputFile(page, "conv-upload").set(good)
    expect(page.locator("#conv-msg_text")).to_have_count(0)
    controller.InputSelect(page, "conv-img_size").set("8")
    expect(page.locator("#conv-shape_text")).to_contain_text("A_prev 8 × 8 × 3")
    expected = load_image(good, 8).astype(np.float64)
    wait_for(page, lambda: page_layer(page, 3, 2, pad=1)[0], expected, "the uploaded picture")


def test_model_tab_without_a_run_says_how_to_get_one(page: Page, explorer_url: str):
    open_app(page, explorer_url)
    controller.NavsetBar(page, "tab").set("Model")
    expect(page.get_by_text("cnnlab explore --run runs/NAME")).to_be_visible()


def test_an_upload_over_10_mb_is_refused_by_the_server_with_a_message(
    page: Page, explorer_url: str, tmp_path
):
    open_app(page, explorer_url)
    controller.InputSelect(page, "conv-source").set("upload")
    big = tmp_path / "huge.png"
    with big.open("wb") as fh:
        fh.truncate(11 * 2**20)
    page.locator("#conv-upload").set_input_files(big)
    expect(page.locator("#conv-upload_progress")).to_contain_text("uploads are limited to 10 MB")
    # nothing reached the app: it still asks for a picture, and it still answers
    expect(page.locator("#conv-msg_text")).to_contain_text("Choose a picture")
    controller.InputSelect(page, "conv-source").set("random")
    expect(page.locator("#conv-shape_text")).to_contain_text("Z 6 × 6 × 2")
