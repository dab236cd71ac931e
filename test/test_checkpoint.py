"""Checkpoint loader: every model-zoo format loads strictly; every bad file is one clear error."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from hrnet_weights import forward_reference, state_dict

from ros2_mvpose.pose2d.checkpoint import (
    MODEL_ZOO_URL,
    CheckpointError,
    detect_width,
    load_higherhrnet,
    read_state_dict,
)
from ros2_mvpose.pose2d.higherhrnet import HigherHRNet

pytestmark = pytest.mark.shared


@pytest.fixture(autouse=True)
def _two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


def _assert_weights_equal(model: HigherHRNet, sd: dict[str, torch.Tensor]) -> None:
    got = model.state_dict()
    assert list(got) == list(sd)
    for key, value in sd.items():
        assert torch.equal(got[key], value), key


def _prefixed(sd, prefix):
    return OrderedDict((prefix + k, v) for k, v in sd.items())


def _no_counters(sd):
    return OrderedDict((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))


FORMATS = {
    "plain": lambda sd: sd,
    "module_prefix": lambda sd: _prefixed(sd, "module."),
    "sequential_1_prefix": lambda sd: _prefixed(sd, "1."),
    "wrapped_state_dict": lambda sd: {"state_dict": sd, "epoch": 300, "perf": 0.67},
    "wrapped_model": lambda sd: {"model": _prefixed(sd, "1.")},
    "wrapped_module_prefix": lambda sd: {"state_dict": _prefixed(sd, "module."), "best_state_dict": 1},
    "no_num_batches_tracked": _no_counters,
}


@pytest.fixture(scope="module")
def real_ckpt(tmp_path_factory) -> Path:
    """A plain W32 checkpoint with the deterministic weights, written once for this module."""
    path = tmp_path_factory.mktemp("ckpt") / "pose_higher_hrnet_w32_512.pth"
    torch.save(state_dict(32), path)
    return path


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_model_zoo_format_loads_strictly(fmt, tmp_path):
    sd = state_dict(32)
    path = tmp_path / f"ckpt_{fmt}.pth"
    torch.save(FORMATS[fmt](sd), path)
    model = load_higherhrnet(path)
    assert isinstance(model, HigherHRNet) and model.width == 32
    assert not model.training
    _assert_weights_equal(model, sd)


def test_legacy_serialization_format_loads(tmp_path):
    """The 2020 model-zoo files may predate torch's zip format."""
    path = tmp_path / "legacy.pth"
    torch.save(state_dict(32), path, _use_new_zipfile_serialization=False)
    _assert_weights_equal(load_higherhrnet(path), state_dict(32))


def test_loaded_checkpoint_reproduces_the_official_forward(real_ckpt):
    ref = forward_reference(32)
    model = load_higherhrnet(str(real_ckpt), device="cpu")
    with torch.inference_mode():
        out = model(torch.from_numpy(ref["x"]))
    np.testing.assert_allclose(out[0].numpy(), ref["out0_f32"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(out[1].numpy(), ref["out1_f32"], rtol=0, atol=1e-4)


def test_width_48_is_detected_from_the_checkpoint(tmp_path):
    sd = state_dict(48)
    path = tmp_path / "pose_higher_hrnet_w48_640.pth.tar"
    torch.save({"model": _prefixed(sd, "1.")}, path)
    model = load_higherhrnet(path)
    assert model.width == 48
    assert model.final_layers[0].in_channels == 48
    _assert_weights_equal(model, sd)


def test_detect_width_reads_the_transition_shape():
    assert detect_width(state_dict(32)) == 32
    assert detect_width(state_dict(48)) == 48


def test_half_precision_checkpoint_is_loaded_as_float32(tmp_path):
    sd = state_dict(32)
    path = tmp_path / "half.pth"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in sd.items()}, path)
    model = load_higherhrnet(path)
    assert model.conv1.weight.dtype == torch.float32
    torch.testing.assert_close(model.conv1.weight, sd["conv1.weight"], rtol=1e-3, atol=1e-3)


# ----------------------------------------------------------------------------- bad checkpoints


def _assert_clear_error(path: Path, *fragments: str) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        load_higherhrnet(path)
    msg = str(info.value)
    assert str(path) in msg
    assert MODEL_ZOO_URL in msg
    assert "pose_higher_hrnet_w32_512.pth" in msg and "pose_higher_hrnet_w48_640.pth.tar" in msg
    assert "checkpoints/" in msg
    assert "1810 tensors" in msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)
    # never torch's advice to turn the safety check off
    for advice in ("weights_only=False", "`weights_only` set to `False`", "trusted source", "file an issue"):
        assert advice not in msg, msg
    assert isinstance(info.value, ValueError)
    return info.value


def test_missing_file(tmp_path):
    _assert_clear_error(tmp_path / "pose_higher_hrnet_w32_512.pth", "does not exist")


def test_directory_instead_of_file(tmp_path):
    _assert_clear_error(tmp_path, "not a regular file")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    _assert_clear_error(path, "empty")


def test_truncated_download(real_ckpt, tmp_path):
    data = real_ckpt.read_bytes()
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[: len(data) // 2])
    _assert_clear_error(path, "not a readable PyTorch checkpoint", "truncated")


def test_random_bytes(tmp_path):
    path = tmp_path / "random.pth"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _assert_clear_error(path, "not a readable PyTorch checkpoint")


def test_text_file(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("<html>Google Drive - Virus scan warning</html>\n")
    _assert_clear_error(path, "not a readable PyTorch checkpoint")


class _Exploit:
    """Unpickling this would create a marker file (arbitrary code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class _System:
    """Unpickling this would run a shell command (``os.system``) that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _legacy_save(obj, path):
    torch.save(obj, path, _use_new_zipfile_serialization=False)


def _pickler(protocol: int):
    def save(obj, path):
        path.write_bytes(pickle.dumps(obj, protocol=protocol))

    return save


SAVERS = {
    **{f"pickle_protocol_{n}": _pickler(n) for n in (0, 1, 2, 4, 5)},
    "torch_zip": torch.save,
    "torch_legacy": _legacy_save,
}


@pytest.mark.parametrize("saver", sorted(SAVERS))
@pytest.mark.parametrize("payload", ["open", "system"])
def test_malicious_pickle_is_refused_as_unsafe_without_running_code(tmp_path, saver, payload):
    marker = tmp_path / "pwned"
    evil = _Exploit(marker) if payload == "open" else _System(marker)
    path = tmp_path / f"{saver}.pth"
    SAVERS[saver]({"bn1.bias": torch.zeros(2), "x": evil}, path)
    err = _assert_clear_error(path, "refused as unsafe", "can run arbitrary code", "state_dict()")
    msg = str(err)
    assert ("open" if payload == "open" else "system") in msg  # what loading it would import
    assert "truncated" not in msg and "corrupt" not in msg
    assert not marker.exists(), f"unpickling {saver} executed code"


def test_hand_written_pickle_calling_a_builtin_is_refused(tmp_path):
    """getattr(object, '__subclasses__')() style gadget, protocol 0 written by hand."""
    path = tmp_path / "gadget.pth"
    path.write_bytes(b"cbuiltins\ngetattr\n(cbuiltins\nobject\nS'__subclasses__'\ntR.")
    _assert_clear_error(path, "refused as unsafe", "builtins.getattr")


def test_truncated_malicious_pickle_is_only_unreadable(tmp_path):
    """A pickle cut short never completes: it cannot run anything and reads as corrupt."""
    path = tmp_path / "cut.pth"
    path.write_bytes(pickle.dumps({"x": _System(tmp_path / "m")}, protocol=2)[:-3])
    _assert_clear_error(path, "not a readable PyTorch checkpoint")


def test_pickle_of_a_non_dict_object(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(3), torch.ones(2)], path)
    _assert_clear_error(path, "holds a list, not a state dict")


def test_dict_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "meta.pth"
    torch.save({"epoch": 140, "perf_indicator": 0.67}, path)
    _assert_clear_error(path, "not a state dict of tensors", "'epoch'")


def test_state_dict_of_a_different_model(tmp_path):
    g = torch.Generator().manual_seed(0)
    resnet_like = OrderedDict([
        ("conv1.weight", torch.randn(64, 3, 7, 7, generator=g)),
        ("bn1.weight", torch.ones(64)), ("bn1.bias", torch.zeros(64)),
        ("bn1.running_mean", torch.zeros(64)), ("bn1.running_var", torch.ones(64)),
        ("layer1.0.conv1.weight", torch.randn(64, 64, 3, 3, generator=g)),
        ("fc.weight", torch.randn(1000, 512, generator=g)), ("fc.bias", torch.zeros(1000)),
    ])
    path = tmp_path / "resnet18.pth"
    torch.save(resnet_like, path)
    _assert_clear_error(path, "not a HigherHRNet state dict", "its 8 keys are conv1.weight, bn1.weight")


def test_one_tensor_with_the_wrong_shape(tmp_path):
    sd = state_dict(32)
    sd["final_layers.1.weight"] = torch.zeros(14, 32, 1, 1)  # e.g. a CrowdPose (14-joint) head
    path = tmp_path / "wrong_shape.pth"
    torch.save(sd, path)
    _assert_clear_error(path, "wrong shape", "final_layers.1.weight [14, 32, 1, 1]", "[17, 32, 1, 1]")


def test_missing_keys(tmp_path):
    sd = state_dict(32)
    del sd["deconv_layers.0.4.0.conv2.weight"]
    del sd["stage4.2.fuse_layers.0.3.1.running_var"]
    path = tmp_path / "missing.pth"
    torch.save(sd, path)
    _assert_clear_error(path, "2 missing keys", "deconv_layers.0.4.0.conv2.weight")


def test_unexpected_keys(tmp_path):
    sd = state_dict(32)
    sd["stage4.2.fuse_layers.1.0.0.0.weight"] = torch.zeros(64, 32, 3, 3)  # multi-scale stage 4
    path = tmp_path / "unexpected.pth"
    torch.save(sd, path)
    _assert_clear_error(path, "1 unexpected keys", "stage4.2.fuse_layers.1.0.0.0.weight")


def test_unsupported_width(tmp_path):
    path = tmp_path / "w18.pth"
    torch.save({"transition1.0.0.weight": torch.zeros(18, 256, 3, 3)}, path)
    _assert_clear_error(path, "unsupported width")


def test_non_finite_weights(tmp_path):
    sd = state_dict(32)
    sd["layer1.0.conv2.weight"] = torch.full((64, 64, 3, 3), float("nan"))
    path = tmp_path / "nan.pth"
    torch.save(sd, path)
    _assert_clear_error(path, "NaN/Inf", "layer1.0.conv2.weight")


def test_read_state_dict_normalizes_keys(tmp_path):
    path = tmp_path / "nested.pth"
    torch.save({"state_dict": {"module.conv1.weight": torch.ones(2), "module.bn1.bias": torch.zeros(2)}},
               path)
    sd = read_state_dict(path)
    assert list(sd) == ["conv1.weight", "bn1.bias"]
    assert torch.equal(sd["conv1.weight"], torch.ones(2))
