"""The pure-Python OpenCV FileStorage reader against OpenCV's own reader, on files OpenCV wrote."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ros2_mvpose.geometry.opencv_storage import read_opencv_storage
from ros2_mvpose.geometry.rig import CalibrationError


def write_storage(path, rng):
    values = {
        "K": rng.normal(size=(3, 3)),
        "dist": rng.normal(size=(1, 5)).astype(np.float32),
        "size": np.array([[1280, 720]], np.int32),
        "rgb": rng.integers(0, 255, (2, 3, 3)).astype(np.uint8),  # 3 channels: dt "3u"
        "nd": rng.normal(size=7),
        "camera_name": "cam 1",
        "fisheye": 1,
        "scale": 2.5,
    }
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    for k, v in values.items():
        fs.write(k, v)
    fs.startWriteStruct("seq", cv2.FileNode_SEQ)
    for x in (1.0, 2.0, 3.5):
        fs.write("", x)
    fs.endWriteStruct()
    fs.startWriteStruct("nested", cv2.FileNode_MAP)
    fs.write("a", 1.0)
    fs.endWriteStruct()
    fs.release()
    return values


@pytest.mark.parametrize("ext", ["xml", "yaml", "json"])
def test_reads_what_opencv_writes_like_opencv(tmp_path, ext):
    path = tmp_path / f"calib.{ext}"
    values = write_storage(path, np.random.default_rng(len(ext)))
    got = read_opencv_storage(path)
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    try:
        for key in ("K", "dist", "size", "rgb", "nd"):
            expected = np.asarray(fs.getNode(key).mat(), dtype=float)
            np.testing.assert_allclose(got[key].reshape(expected.shape), expected, rtol=1e-6, err_msg=key)
        assert got["rgb"].shape == (2, 3, 3)
        np.testing.assert_allclose(got["K"], values["K"], rtol=1e-12)
    finally:
        fs.release()
    assert got["camera_name"] == "cam 1" and got["fisheye"] == 1.0 and got["scale"] == 2.5
    np.testing.assert_array_equal(got["seq"], [1.0, 2.0, 3.5])
    assert got["nested"] is None  # a mapping that is not a matrix, as OpenCV's FileNode.mat()


@pytest.mark.parametrize("text, match", [
    ("<opencv_storage><K type_id=\"opencv-matrix\"><rows>3</rows><cols>3</cols><dt>d</dt>"
     "<data>1 2 3</data></K></opencv_storage>", "shape \\[3, 3\\] holds 3 values"),
    ("<opencv_storage><K type_id=\"opencv-matrix\"><rows>x</rows></K></opencv_storage>", "numeric rows"),
    ("<opencv_storage><K type_id=\"opencv-matrix\"><rows>1</rows><cols>1</cols><dt>q</dt><data>1</data>"
     "</K></opencv_storage>", "dt 'q'"),
    ("<other/>", "not <opencv_storage>"),
    ("<opencv_storage><K>", "not valid XML"),
    ("%YAML:1.0\n---\nK: !!opencv-matrix\n  rows: 2\n  cols: 2\n  data: [1, 2]\n", "holds 2 values"),
    ("%YAML:1.0\n---\nK: !!opencv-matrix [1, 2]\n", "must be a mapping"),
    ("%YAML:1.0\nK: [1, 2\n", "not valid YAML, syntax error at line"),
    ('{"K": {"type_id": "opencv-matrix", "rows": -1, "cols": 0, "data": []}}', "shape \\[-1, 0\\]"),
    ("[1, 2]", "must hold a mapping"),
    ("<opencv_storage>" + "<a>" * 5000 + "</a>" * 5000 + "</opencv_storage>", "nested too deeply"),
])
def test_malformed_files_name_the_problem(tmp_path, text, match):
    path = tmp_path / "bad.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalibrationError, match=match) as info:
        read_opencv_storage(path)
    assert str(path) in str(info.value)
