"""The playground page (``barenet export RUN --format html``) in a real headless Chromium.

The page's own controls load embedded test digits and a drawn stroke (Selenium ActionChains);
its probabilities must match barenet's prediction for the same 28 x 28 input to 1e-4, its
28 x 28 input must equal what ``barenet predict`` makes of the pad saved as a PNG, a
screenshot must show a non-blank drawing, input and probabilities, and the console must stay
free of errors. Without Chromium + chromedriver these tests skip, unless
BARENET_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser fails them (tests/browser.py).
"""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest

from barenet.cli import main
from barenet.data.images import load_image
from barenet.data.preprocess import flatten
from barenet.run.exports import inference_parts, sample_digits
from barenet.train.trainer import predict_proba_batched
from browser import require

pytestmark = pytest.mark.slow  # a real browser, and a training run per module


def _browser_or_skip():
    """(chromium, chromedriver), or a skip (a failure under BARENET_REQUIRE_BROWSER=1)."""
    chromium, driver = require("chromium"), require("chromedriver")
    pytest.importorskip("selenium")
    return chromium, driver


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pg") / "run"
    assert main(["train", "--per-class", "30", "--layers", "24", "12", "--epochs", "1",
                 "--batch-size", "32", "--normalize", "standardize", "--quiet", "--out", str(out)]) == 0
    assert main(["export", str(out), "--format", "html", "-o", str(out / "page.html"), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def browser():
    chromium, driver = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1100", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()


@pytest.fixture
def page(browser, run):
    browser.get((run / "page.html").resolve().as_uri())
    return browser


def _page_state(browser):
    state = browser.execute_script("return window.barenetPlayground")
    shown = browser.find_elements("css selector", "#probabilities .prob")
    values = [e.get_attribute("data-value") for e in shown]
    return state, np.array([float(v) for v in values]) if all(values) else None


def _barenet(run, pixels):
    model, _, normalizer, _ = inference_parts(run)
    proba = predict_proba_batched(model, flatten(np.asarray(pixels, np.uint8).reshape(1, 28, 28)), normalizer)
    return proba[0]


def _barenet_hidden(run, pixels):
    """Each hidden layer's output for one prepared digit, through barenet's own layers."""
    model, _, normalizer, _ = inference_parts(run)
    out = normalizer.transform(flatten(np.asarray(pixels, np.uint8).reshape(1, 28, 28)))
    hidden = []
    for layer in model.layers[:-2]:
        out = layer.forward(out)
        if type(layer).__name__ == "ActivationLayer":
            hidden.append(out[0].copy())
    return hidden


def _assert_no_console_errors(browser):
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def test_the_page_is_self_contained(run):
    text = (run / "page.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "BARENET_" not in text  # every template marker was filled
    data = json.loads(re.search(r'id="barenet-model">(.*?)</script>', text, re.S).group(1))
    assert [layer["n_out"] for layer in data["layers"]] == [24, 12, 10]
    assert len(data["samples"]) == 10 and data["normalizer"]["method"] == "standardize"


def test_the_report_links_the_playground_written_with_it(run, tmp_path):
    report = (run / "report.html").read_text()
    assert 'href="playground.html"' in report
    assert (run / "playground.html").read_text() == (run / "page.html").read_text()
    other = tmp_path / "d8"  # 8 x 8 digits: no playground, no link
    assert main(["train", "--dataset", "digits8", "--layers", "8", "--epochs", "1", "--quiet",
                 "--out", str(other)]) == 0
    assert not (other / "playground.html").exists()
    assert "playground" not in (other / "report.html").read_text()
    assert main(["export", str(other), "--format", "html"]) == 2


def test_sample_buttons_match_barenet(run, page):
    samples, labels = sample_digits(inference_parts(run)[1])
    buttons = page.find_elements("css selector", "#samples button")
    assert [b.text for b in buttons] == labels
    for k in (0, 3, len(buttons) - 1):
        buttons[k].click()
        state, shown = _page_state(page)
        assert state["input"] == samples[k].reshape(-1).tolist()
        want = _barenet(run, samples[k])
        np.testing.assert_allclose(state["probabilities"], want, atol=1e-4, rtol=0)
        np.testing.assert_allclose(shown, want, atol=1e-4, rtol=0)
        hidden = _barenet_hidden(run, samples[k])
        assert [len(h) for h in state["hidden"]] == [24, 12]
        for shown_layer, want_layer in zip(state["hidden"], hidden, strict=True):
            np.testing.assert_allclose(shown_layer, want_layer, atol=1e-4, rtol=0)
    _assert_no_console_errors(page)


def test_a_drawn_stroke_is_preprocessed_as_barenet_predict_does(run, page, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    page.find_element("id", "clear").click()
    state, shown = _page_state(page)
    assert state["input"] is None and state["probabilities"] is None and shown is None
    pad = page.find_element("id", "pad")
    chain = ActionChains(page).move_to_element_with_offset(pad, -40, -90).click_and_hold()
    for dx, dy in ((30, -10), (30, 10), (10, 40), (-30, 50), (-30, 40), (60, 0)):  # a "2"
        chain = chain.move_by_offset(dx, dy)
    chain.release().perform()
    page.execute_script("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    state, shown = _page_state(page)
    assert state["input"] is not None and state["source"] == "drawn"
    png = page.execute_script("return document.getElementById('pad').toDataURL('image/png')")
    drawing = tmp_path / "drawn.png"
    drawing.write_bytes(base64.b64decode(png.split(",", 1)[1]))
    expected = load_image(drawing)  # what `barenet predict drawn.png` feeds the net
    got = np.array(state["input"], dtype=np.uint8).reshape(28, 28)
    np.testing.assert_array_equal(got, expected)
    want = _barenet(run, got)
    np.testing.assert_allclose(state["probabilities"], want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(shown, want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(state["probabilities"], _barenet(run, expected), atol=1e-4, rtol=0)
    _assert_no_console_errors(page)


def test_the_screenshot_shows_a_working_page(run, page, tmp_path):
    from PIL import Image

    page.find_elements("css selector", "#samples button")[1].click()
    shot = Image.open(io.BytesIO(page.get_screenshot_as_png())).convert("RGB")
    shot.save(tmp_path / "playground.png")

    def region(element_id):
        e = page.find_element("id", element_id)
        r = e.rect
        assert e.is_displayed() and r["width"] > 20 and r["height"] > 20, element_id
        box = (int(r["x"]), int(r["y"]), int(r["x"] + r["width"]), int(r["y"] + r["height"]))
        return np.asarray(shot.crop(box), dtype=float)

    for element_id in ("pad", "input", "probabilities", "layers", "weights"):
        assert region(element_id).std() > 5, f"{element_id} looks blank"
    values = [e.text for e in page.find_elements("css selector", "#probabilities .prob")]
    assert len(values) == 10 and all(re.fullmatch(r"[01]\.\d{4}", v) for v in values)
    assert page.find_element("id", "prediction").text in [str(d) for d in range(10)]
    _assert_no_console_errors(page)


def _random_digit_images(rng, count):
    """Grayscale images of many sizes: strokes of random width on dark or light backgrounds,
    some far smaller than 20 pixels (upscaled), some wide or tall (one resize pass only)."""
    images = []
    for k in range(count):
        h, w = int(rng.integers(8, 300)), int(rng.integers(8, 300))
        if k % 5 == 0:
            w = h  # square: both passes, same factor
        yy, xx = np.mgrid[0:h, 0:w]
        g = np.zeros((h, w))
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
            ry, rx = rng.uniform(0.05, 0.35) * h, rng.uniform(0.05, 0.35) * w
            ring = np.abs(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 - 1)
            g = np.maximum(g, np.clip(1 - ring / rng.uniform(0.2, 0.8), 0, 1))
        g = np.round(g * rng.uniform(60, 255) + rng.uniform(0, 30))
        if k % 3 == 1:
            g = 255 - g  # dark ink on paper
        images.append(np.clip(g, 0, 255).astype(np.uint8))
    return images


def test_the_javascript_preprocessing_is_mnist_style_exactly(page):
    from barenet.data.images import mnist_style
    from barenet.errors import DataError

    for g in _random_digit_images(np.random.default_rng(7), 60):
        got = page.execute_script("return window.barenetPlayground.mnistStyle(arguments[0], "
                                  "arguments[1], arguments[2])", g.reshape(-1).tolist(), *g.shape)
        try:
            want = mnist_style(g).reshape(-1).tolist()
        except DataError:
            want = None
        assert got == want, g.shape


@pytest.mark.parametrize("kind", ["every activation, standardize", "one sigmoid unit, max",
                                  "batch normalization"])
def test_every_activation_and_a_one_unit_output_in_the_browser(browser, kind, tmp_path):
    from barenet.data import load_dataset
    from barenet.data.preprocess import Normalizer, select_digits
    from barenet.export.playground import playground_html
    from barenet.nn.model import MLP

    ds = load_dataset("mnist")
    if kind.startswith("every"):
        model = MLP([784, 12, 10, 9, 8, 7, 10], hidden=["relu", "leaky_relu", "sigmoid", "tanh", "identity"],
                    init="xavier", seed=5)
        normalizer, classes = Normalizer("standardize").fit(ds.x_train[:2000]), [str(d) for d in range(10)]
        x, y = ds.x_test[:10], ds.y_test[:10]
    elif kind == "batch normalization":  # folded into each Dense layer for the page
        model = MLP([784, 12, 10, 10], batch_norm=True, noise=0.3, seed=4)
        normalizer, classes = Normalizer("255"), [str(d) for d in range(10)]
        x, y = ds.x_test[:6], ds.y_test[:6]
        rng = np.random.default_rng(0)
        for name, array in model.statistics().items():  # as if trained: away from 0 and 1
            variance = name.endswith("var")
            array[...] = rng.uniform(0.5, 2.0, array.shape) if variance else rng.normal(size=array.shape)
        for p in model.params():
            if p.name.endswith(("gamma", "beta")):
                p.value[...] = rng.uniform(0.5, 1.5, p.value.shape)
    else:
        model = MLP([784, 9, 1], hidden="tanh", output="sigmoid", seed=2)
        normalizer, classes = Normalizer("max"), ["3", "8"]
        x, y = select_digits(ds.x_test, ds.y_test, 3, 8)
        x, y = x[:4], y[:4]
    path = tmp_path / "page.html"
    path.write_text(playground_html(model, normalizer, classes, x, [classes[i] for i in y]))
    browser.get(path.as_uri())
    want = predict_proba_batched(model, flatten(x), normalizer)
    if want.shape[1] == 1:
        want = np.hstack([1 - want, want])
    for k, button in enumerate(browser.find_elements("css selector", "#samples button")):
        button.click()
        state, shown = _page_state(browser)
        np.testing.assert_allclose(shown, want[k], atol=1e-4, rtol=0)
        assert len(state["hidden"]) == len(model.hidden)
    assert k == len(x) - 1
    _assert_no_console_errors(browser)
