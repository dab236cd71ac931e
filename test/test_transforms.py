"""Aligned resize and the map back to image pixels, against values computed by hand from the
official formulas (``../shared/higherhrnet/final_preds.md``)."""

from __future__ import annotations

import numpy as np
import pytest

from ros2_mvpose.pose2d.transforms import (
    affine_matrix,
    get_multi_scale_size,
    heatmap_to_image,
    warp_image,
)

# (width, height, input_size, s, min_scale) -> (w_r, h_r), center, scale  (worked by hand)
CASES = [
    # landscape 640x480: h_r = 512; 512/480*640 = 682.7 -> 704; scale = (704/512*480/200, 2.4)
    ((640, 480, 512, 1.0, 1.0), (704, 512), (320, 240), (3.3, 2.4)),
    # portrait 480x640: w_r = 512; h_r = 704; scale = (2.4, 704/512*480/200)
    ((480, 640, 512, 1.0, 1.0), (512, 704), (240, 320), (2.4, 3.3)),
    # portrait 1080x1920: 512/1080*1920 = 910.2 -> 960; scale = (5.4, 960/512*5.4 = 10.125)
    ((1080, 1920, 512, 1.0, 1.0), (512, 960), (540, 960), (5.4, 10.125)),
    # landscape 1920x1080 at W48's 640: 640/1080*1920 = 1137.8 -> 1152; sx = 1152/640*5.4
    ((1920, 1080, 640, 1.0, 1.0), (1152, 640), (960, 540), (9.72, 5.4)),
    # square 1080x1080
    ((1080, 1080, 512, 1.0, 1.0), (512, 512), (540, 540), (5.4, 5.4)),
    # odd size: centre int(w/2 + 0.5); 512/481*641 = 682.3 -> 704
    ((641, 481, 512, 1.0, 1.0), (704, 512), (321, 241), (704 / 512 * 481 / 200, 2.405)),
    # multi-scale: s=2 with min 1 doubles both sides; s=1 with min 0.5: m = 256, x2
    ((640, 480, 512, 2.0, 1.0), (1408, 1024), (320, 240), (1408 / 1024 * 2.4, 2.4)),
    ((640, 480, 512, 0.5, 0.5), (384, 256), (320, 240), (384 / 256 * 2.4, 2.4)),
    ((640, 480, 512, 1.0, 0.5), (768, 512), (320, 240), (3.6, 2.4)),
]


@pytest.mark.parametrize("args, size, center, scale", CASES)
def test_get_multi_scale_size_hand_computed(args, size, center, scale):
    r = get_multi_scale_size(*args)
    assert r.size == size
    assert r.center == center
    assert r.scale == pytest.approx(scale, rel=1e-12)


def test_isotropic_factor_short_side_to_input_size():
    for w, h in ((640, 480), (480, 640), (1080, 1920), (1920, 1080)):
        r = get_multi_scale_size(w, h, 512)
        assert r.factor == pytest.approx(512 / min(w, h), rel=1e-12)


@pytest.mark.parametrize("w, h", [(640, 480), (480, 640), (1080, 1920), (641, 481)])
def test_affine_matrix_matches_closed_form(w, h):
    r = get_multi_scale_size(w, h, 512)
    m = affine_matrix(r)
    k = r.factor
    want = np.array([[k, 0, r.size[0] / 2 - r.center[0] * k],
                     [0, k, r.size[1] / 2 - r.center[1] * k]])
    np.testing.assert_allclose(m, want, atol=2e-4 * max(w, h))
    pts = np.array([[0.0, 0.0], [w - 1.0, h - 1.0], [123.0, 45.0]])
    mapped = pts @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(mapped, (pts - r.center) * k + np.array(r.size) / 2, atol=1e-3)


def test_heatmap_to_image_hand_computed_landscape_and_portrait():
    # 640x480 -> 704x512, factor 200*3.3/704 = 0.9375 image px per heatmap px
    r = get_multi_scale_size(640, 480, 512)
    xy = np.array([[352.0, 256.0], [0.0, 0.0], [704.0, 512.0], [100.5, 300.25]])
    want = np.array([[320, 240], [320 - 330, 0], [650, 480],
                     [320 + (100.5 - 352) * 0.9375, 240 + (300.25 - 256) * 0.9375]])
    np.testing.assert_allclose(heatmap_to_image(xy, r, r.size), want, atol=1e-9)
    # 480x640 -> 512x704: factor 200*2.4/512 = 0.9375 as well
    r = get_multi_scale_size(480, 640, 512)
    xy = np.array([[256.0, 352.0], [0.0, 0.0], [512.0, 704.0], [100.5, 300.25]])
    want = np.array([[240, 320], [0, 320 - 330], [480, 650],
                     [240 + (100.5 - 256) * 0.9375, 320 + (300.25 - 352) * 0.9375]])
    np.testing.assert_allclose(heatmap_to_image(xy, r, r.size), want, atol=1e-9)
    # 1080x1920 -> 512x960: factor 1080/512; x uses W_hm for both axes
    r = get_multi_scale_size(1080, 1920, 512)
    f = 1080 / 512
    out = heatmap_to_image(np.array([[10.0, 900.0]]), r, r.size)
    np.testing.assert_allclose(out, [[540 + (10 - 256) * f, 960 + (900 - 480) * f]], atol=1e-9)
    # a heatmap of half the size (no projection to the input) doubles the factor
    out = heatmap_to_image(np.array([[128.0, 240.0]]), r, (256, 480))
    np.testing.assert_allclose(out, [[540, 960]], atol=1e-9)


def test_round_trip_image_to_input_to_image():
    rng = np.random.default_rng(0)
    for w, h in ((640, 480), (480, 640), (1080, 1920), (1920, 1080)):
        r = get_multi_scale_size(w, h, 512)
        pts = rng.uniform(0, [w, h], (20, 2))
        inp = (pts - r.center) * r.factor + np.array(r.size) / 2
        np.testing.assert_allclose(heatmap_to_image(inp, r, r.size), pts, atol=1e-9)


@pytest.mark.parametrize("w, h", [(160, 120), (120, 160)])
def test_warp_image_puts_a_pixel_where_the_formula_says(w, h):
    img = np.zeros((h, w, 3), np.uint8)
    x, y = (37, 81) if h > w else (37, 53)
    img[y, x] = (10, 200, 30)
    r = get_multi_scale_size(w, h, 64 * 3)  # factor 192/min(w, h) = 1.6: a 2x2 footprint
    out = warp_image(img, r)
    assert out.shape == (r.size[1], r.size[0], 3)
    ys, xs = np.nonzero(out[..., 1])
    cy = np.average(ys, weights=out[ys, xs, 1].astype(float))
    cx = np.average(xs, weights=out[ys, xs, 1].astype(float))
    want = (np.array([x, y]) - r.center) * r.factor + np.array(r.size) / 2
    np.testing.assert_allclose([cx, cy], want, atol=0.35)
    assert np.all(out[..., 0][out[..., 1] > 0] <= 10)  # channels stay in place (BGR kept)


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="positive"):
        get_multi_scale_size(0, 480, 512)
    with pytest.raises(ValueError, match="positive"):
        get_multi_scale_size(640, 480, 512, scale=0)
    with pytest.raises(ValueError, match="shape"):
        heatmap_to_image(np.zeros((3, 3)), get_multi_scale_size(640, 480, 512), (704, 512))
