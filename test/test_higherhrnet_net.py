"""HigherHRNet network: official state_dict layout and forward against the official references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hrnet_weights import forward_reference, manifest, state_dict

from ros2_mvpose.pose2d.higherhrnet import HigherHRNet

pytestmark = pytest.mark.shared


@pytest.fixture(autouse=True)
def _two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def det_net():
    """``det_net(width)``: the network with the deterministic weights, built once per width."""
    nets: dict[int, HigherHRNet] = {}

    def get(width: int) -> HigherHRNet:
        if width not in nets:
            net = HigherHRNet(width)
            net.load_state_dict(state_dict(width), strict=True)
            nets[width] = net.eval()
        return nets[width]

    return get


@pytest.mark.parametrize("width", [32, 48])
def test_state_dict_keys_shapes_and_order_equal_official_manifest(width):
    with torch.device("meta"):
        net = HigherHRNet(width)
    got = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    assert got == manifest(width)
    assert len(got) == 1810


def test_parameter_counts_match_official():
    with torch.device("meta"):
        counts = {w: sum(p.numel() for p in HigherHRNet(w).parameters()) for w in (32, 48)}
    assert counts == {32: 28_645_331, 48: 63_827_139}


@pytest.mark.parametrize("width", [32, 48])
def test_forward_matches_official_reference_float32(width, det_net):
    ref = forward_reference(width)
    net = det_net(width)
    with torch.inference_mode():
        out = net(torch.from_numpy(ref["x"]))
    assert isinstance(out, list) and len(out) == 2
    assert out[0].shape == (1, 34, 64, 64) and out[1].shape == (1, 17, 128, 128)
    np.testing.assert_allclose(out[0].numpy(), ref["out0_f32"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(out[1].numpy(), ref["out1_f32"], rtol=0, atol=1e-4)


def test_forward_matches_official_reference_float64():
    ref = forward_reference(32)
    net = HigherHRNet(32)
    net.load_state_dict(state_dict(32), strict=True)
    net = net.double().eval()
    with torch.inference_mode():
        out = net(torch.from_numpy(ref["x"]).double())
    np.testing.assert_allclose(out[0].numpy(), ref["out0_f64"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(out[1].numpy(), ref["out1_f64"], rtol=0, atol=1e-8)


def test_batch_is_independent_per_sample_and_non_square_shapes(det_net):
    net = det_net(32)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, 128, 192, generator=g)
    with torch.inference_mode():
        batched = net(x)
        single = [net(x[i:i + 1]) for i in range(3)]
    assert batched[0].shape == (3, 34, 32, 48)
    assert batched[1].shape == (3, 17, 64, 96)
    for stage in range(2):
        ref = torch.cat([s[stage] for s in single])
        torch.testing.assert_close(batched[stage], ref, rtol=0, atol=1e-4)
    # Different images give different outputs (no cross-sample leakage, no constant output).
    assert (batched[1][0] - batched[1][1]).abs().max() > 0.1


def test_channels_last_gives_the_same_output():
    ref = forward_reference(32)
    net = HigherHRNet(32)
    net.load_state_dict(state_dict(32), strict=True)
    net = net.eval().to(memory_format=torch.channels_last)
    x = torch.from_numpy(ref["x"]).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        out = net(x)
    np.testing.assert_allclose(out[0].numpy(), ref["out0_f32"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(out[1].numpy(), ref["out1_f32"], rtol=0, atol=1e-4)


def test_eval_forward_does_not_change_the_weights(det_net):
    net = det_net(32)
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    with torch.no_grad():
        net(torch.randn(1, 3, 64, 64))
    after = net.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())


@pytest.mark.parametrize("width", [0, 18, "32", None])
def test_unsupported_width_is_a_clear_value_error(width):
    with pytest.raises(ValueError, match="width must be one of"):
        HigherHRNet(width)
