"""HigherHRNetEstimator end to end: a designed network that maps known image points to known
heatmap peaks (the real correctness check of resize, aggregation, grouping and the map back),
a flip-equivariant network (flip test mechanics), and the real HigherHRNet with the deterministic
reference weights (batching, sizes, flip on/off)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ros2_mvpose.pose2d import CheckpointError, HigherHRNetEstimator
from ros2_mvpose.pose2d.backend import create_backend
from ros2_mvpose.pose2d.transforms import get_multi_scale_size
from ros2_mvpose.skeleton import COCO17_FLIP_INDEX

torch.set_num_threads(1)  # 2 shared cores: more threads oversubscribe
J = 17
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class MarkerNet(nn.Module):
    """Every joint's heatmap = the green channel, every tag = 10 x the red channel (RGB input)."""

    def forward(self, x):
        rgb = x * STD + MEAN  # undo the normalization: RGB in [0, 1]
        g, r = rgb[:, 1:2], rgb[:, 0:1]
        o0 = torch.cat([F.avg_pool2d(g, 4).expand(-1, J, -1, -1),
                        (10 * F.avg_pool2d(r, 4)).expand(-1, J, -1, -1)], 1)
        return [o0.contiguous(), F.avg_pool2d(g, 2).expand(-1, J, -1, -1).contiguous()]


def marker_image(w, h, centers, reds, sigma=6.0):
    """BGR image with a green Gaussian (peak 255) and a red disk per marker."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    green = np.zeros((h, w))
    red = np.zeros((h, w))
    for (cx, cy), rv in zip(centers, reds):
        d2 = (xs - cx) ** 2 + (ys - cy) ** 2
        green = np.maximum(green, 255 * np.exp(-d2 / (2 * sigma ** 2)))
        red[d2 <= (3 * sigma) ** 2] = rv
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 1] = np.round(green)
    img[..., 2] = red  # BGR: red is channel 2
    return img


def marker_set(input_size):
    """Non-square images with markers placed on integer input-pixel positions."""
    images, truths = [], []
    for w, h in ((640, 480), (480, 640), (1080, 1920)):
        r = get_multi_scale_size(w, h, input_size)
        k = r.factor
        inp = [(round(r.size[0] * fx), round(r.size[1] * fy))
               for fx, fy in ((0.25, 0.3), (0.6, 0.5), (0.8, 0.8))]
        pts = [((x - r.size[0] / 2) / k + r.center[0], (y - r.size[1] / 2) / k + r.center[1])
               for x, y in inp]
        images.append(marker_image(w, h, pts, (40, 120, 200), sigma=6.0 / k * 0.5))
        truths.append((np.array(pts), k))
    return images, truths


@pytest.mark.parametrize("flip", [True, False])
def test_designed_network_maps_known_points_back_to_image_pixels(flip):
    est = HigherHRNetEstimator(MarkerNet(), input_size=256, flip_test=flip)
    images, truths = marker_set(256)
    out = est.predict_full(images)
    assert set(out.timings) == {"pre", "net", "post", "group"}
    for res, (pts, k) in zip(out.results, truths):
        assert res.keypoints.shape == (3, J, 3)
        assert res.tags.shape == (3, J, 2 if flip else 1)
        # one person per marker, all 17 joints on it, high score
        order = np.argsort(res.keypoints[:, 0, 0])
        kp = res.keypoints[order]
        assert np.all(kp[:, :, 2] > 0.6)  # avg-pooling lowers the peak a little
        # official mapping: heatmap argmax (= input pixel of the marker) + 0.5 +- 0.25, then
        # X = cx + (x - W/2) / k: the official half heatmap pixel bias of +0.5/k image pixels
        want = pts[:, None, :] + 0.5 / k
        err = np.abs(kp[:, :, :2] - want)
        assert err.max() <= 0.25 / k + 1e-3, err.max()
        np.testing.assert_allclose(res.person_scores[order], kp[:, :, 2].mean(1), atol=1e-6)
        # tags: 10 x red of the marker (40, 120, 200 / 255)
        np.testing.assert_allclose(res.tags[order][:, :, 0],
                                   np.repeat([[400 / 255], [1200 / 255], [2000 / 255]], J, 1),
                                   atol=0.05)
    assert [len(p) for p in est.predict(images)] == [3, 3, 3]


def test_designed_network_multi_scale():
    est = HigherHRNetEstimator(MarkerNet(), input_size=256, scales=(1.0, 0.5))
    images, truths = marker_set(256)
    maps = est.compute_maps(images[:1])
    heat, tags, res_min = maps[0]
    base = get_multi_scale_size(640, 480, 256, 1.0, 0.5)
    assert heat.shape == (J, base.size[1], base.size[0]) and tags.shape[-1] == 2
    assert res_min == get_multi_scale_size(640, 480, 256, 0.5, 0.5)
    res = est.predict_full(images).results
    for r, (pts, _) in zip(res, truths):
        kp = r.keypoints[np.argsort(r.keypoints[:, 0, 0])]
        assert len(kp) == 3
        base_k = get_multi_scale_size(640, 480, 256, 1.0, 0.5).factor
        # the designed net pools to 1/8 of the input at scale 0.5 (coarse): within 4 heatmap px
        assert np.abs(kp[:, :, :2] - pts[:, None, :]).max() < 4.0 / base_k


class Equivariant(nn.Module):
    """N(x) = (g(x) + P flip g(flip x)) / 2: exactly COCO flip-equivariant for any g."""

    def __init__(self, symmetric=True):
        super().__init__()
        torch.manual_seed(0)
        self.c0 = nn.Conv2d(3, 2 * J, 5, stride=4, padding=2)
        self.c1 = nn.Conv2d(3, J, 3, stride=2, padding=1)
        self.symmetric = symmetric
        self.perm = list(COCO17_FLIP_INDEX)

    def g(self, x):
        return [self.c0(x), self.c1(x)]

    def forward(self, x):
        a = self.g(x)
        if not self.symmetric:
            return a
        b = self.g(torch.flip(x, [3]))
        p0 = self.perm + [J + i for i in self.perm]
        return [(a[0] + torch.flip(b[0], [3])[:, p0]) / 2, (a[1] + torch.flip(b[1], [3])[:, self.perm]) / 2]


def test_flip_test_with_equivariant_network_equals_no_flip():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (96, 128, 3), np.uint8)]
    flip = HigherHRNetEstimator(Equivariant(), input_size=64).compute_maps(images)[0]
    plain = HigherHRNetEstimator(Equivariant(), input_size=64, flip_test=False).compute_maps(images)[0]
    assert flip[1].shape[-1] == 2 and plain[1].shape[-1] == 1
    np.testing.assert_allclose(flip[1][..., 0], flip[1][..., 1], atol=1e-5)
    np.testing.assert_allclose(flip[0], plain[0], atol=1e-5)
    np.testing.assert_allclose(flip[1][..., :1], plain[1], atol=1e-5)
    # a network that is not flip-equivariant gives different flipped tags (the check can fail)
    other = HigherHRNetEstimator(Equivariant(symmetric=False), input_size=64).compute_maps(images)[0]
    assert np.abs(other[1][..., 0] - other[1][..., 1]).max() > 1e-2


@pytest.fixture(scope="module")
def hrnet():
    from hrnet_weights import state_dict

    from ros2_mvpose.pose2d import HigherHRNet

    model = HigherHRNet(32)
    model.load_state_dict(state_dict(32))
    return model.eval()


def test_real_network_batch_equals_one_by_one(hrnet):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (96, 128, 3), np.uint8) for _ in range(2)]
    images.append(rng.integers(0, 256, (128, 96, 3), np.uint8))
    est = HigherHRNetEstimator(hrnet, input_size=64, detection_threshold=1.5, max_people=2)
    batch = est.predict_full(images)
    maps = est.compute_maps(images)
    assert len(batch.results) == 3
    for i, img in enumerate(images):
        one = est.predict_full([img]).results[0]
        one_map = est.compute_maps([img])[0]
        np.testing.assert_allclose(maps[i][0], one_map[0], atol=1e-4)
        np.testing.assert_allclose(maps[i][1], one_map[1], atol=1e-4)
        assert batch.results[i].keypoints.shape == one.keypoints.shape
        np.testing.assert_allclose(batch.results[i].keypoints, one.keypoints, atol=1e-3)
    # shapes: base size of each image, tags with 2 dims under flip test
    assert maps[0][0].shape == (J, 64, 128) and maps[2][0].shape == (J, 128, 64)
    assert maps[0][1].shape == (J, 64, 128, 2)
    noflip = HigherHRNetEstimator(hrnet, input_size=64, flip_test=False,
                                  detection_threshold=1.5, max_people=2)
    assert noflip.compute_maps(images[:1])[0][1].shape == (J, 64, 128, 1)
    for r in noflip.predict(images):
        assert r.ndim == 3 and r.shape[1:] == (J, 3) and r.dtype == np.float32


def test_empty_set_and_backend_registry(hrnet):
    est = create_backend("higherhrnet", checkpoint=hrnet, input_size=64)
    assert isinstance(est, HigherHRNetEstimator) and est.name == "higherhrnet"
    assert est.predict([]) == []
    assert est.predict_full([]).results == []


def test_bad_arguments_raise_value_error(tmp_path):
    net = MarkerNet()
    est = HigherHRNetEstimator(net, input_size=64)
    with pytest.raises(ValueError, match="uint8"):
        est.predict([np.zeros((10, 10, 3), np.float32)])
    with pytest.raises(ValueError, match="shape"):
        est.predict([np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError, match="list"):
        est.predict(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="half"):
        HigherHRNetEstimator(net, device="cpu", half=True)
    with pytest.raises(ValueError, match="1.0"):
        HigherHRNetEstimator(net, scales=(0.5, 2.0))
    with pytest.raises(ValueError, match="device"):
        HigherHRNetEstimator(net, device="tpu")
    with pytest.raises(ValueError, match="runtime"):
        HigherHRNetEstimator(net, runtime="tensorrt")
    with pytest.raises(CheckpointError, match="missing.pth"):
        HigherHRNetEstimator(tmp_path / "missing.pth")


def test_onnxruntime_path_matches_torch():
    pytest.importorskip("onnx", reason="runtime='onnxruntime' export needs the onnx package")
    pytest.importorskip("onnxruntime", reason="runtime='onnxruntime' needs onnxruntime")
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (96, 128, 3), np.uint8) for _ in range(2)]
    images.append(rng.integers(0, 256, (128, 96, 3), np.uint8))
    net = Equivariant(symmetric=False)
    ref = HigherHRNetEstimator(net, input_size=64).compute_maps(images)
    got = HigherHRNetEstimator(net, input_size=64, runtime="onnxruntime").compute_maps(images)
    for (h0, t0, _), (h1, t1, _) in zip(ref, got):
        np.testing.assert_allclose(h1, h0, atol=1e-5)
        np.testing.assert_allclose(t1, t0, atol=1e-5)


@pytest.mark.parametrize("flip", [True, False])
def test_grouping_with_bounds_from_the_network_outputs_equals_plain_grouping(flip):
    """The estimator's grouping takes block bounds from the low-resolution outputs; they bound
    every pixel of the final maps and give exactly the plain parse_heatmaps result."""
    from ros2_mvpose.pose2d.grouping import block_bounds, parse_heatmaps

    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (96, 128, 3), np.uint8),
              rng.integers(0, 256, (160, 96, 3), np.uint8)]
    for net, thr in ((Equivariant(symmetric=False), 0.05), (MarkerNet(), 0.1)):
        est = HigherHRNetEstimator(net, input_size=64, flip_test=flip, detection_threshold=thr)
        imgs = images if isinstance(net, Equivariant) else marker_set(64)[0]
        maps, _, _ = est._compute_maps(imgs)
        n_people = 0
        for heat, tags, low in maps:
            b = low.bounds(heat.shape)
            exact = block_bounds(heat, tags)
            assert np.all(b.tag_min <= exact.tag_min) and np.all(b.tag_max >= exact.tag_max)
            got = est.group(heat, tags, low)
            want = parse_heatmaps(heat, tags, **est.parse_params)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
            n_people += len(got[0])
        assert n_people > 0
    # several scales: the maps are not 2x upsamplings of one output, no bounds (plain grouping)
    multi = HigherHRNetEstimator(MarkerNet(), input_size=64, scales=(1.0, 0.5))
    maps, _, _ = multi._compute_maps(marker_set(64)[0][:1])
    assert maps[0][2] is None
