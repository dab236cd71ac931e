"""Calibration readers on broken files: every problem is a CalibrationError naming the file (and
the camera where one is concerned), never another exception; fuzzed with mutated real files."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from ros2_mvpose.cli import main
from ros2_mvpose.geometry import Camera
from ros2_mvpose.geometry.calibration_io import (
    CalibrationError,
    convert_to_rig,
    detect_format,
    read_calibration,
    write_camera_info_yaml,
    write_toml,
)
from ros2_mvpose.geometry.rig import load_rig

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RIG = ROOT / "sample" / "rig.yaml"
SEED = ROOT / ".." / "shared" / "seed_sample" / "calibrations"
SEED_XMLS = sorted(SEED.glob("Camera.00*.xml")) if SEED.is_dir() else []


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def camera() -> Camera:
    K = [[900.0, 0, 640], [0, 905.0, 360], [0, 0, 1]]
    return Camera("cam1", K, [0.1, -0.02, 0.001, 0.0, 0.003], cv2.Rodrigues(np.array([0.1, 0.2, 0.3]))[0],
                  [0.1, 0.2, 3.0], 1280, 720)


def refused(path: Path, *patterns: str, fmt: str = "auto") -> str:
    """Read ``path``; it must raise CalibrationError whose message has the file and ``patterns``."""
    with pytest.raises(CalibrationError) as info:
        convert_to_rig([path], format=fmt)
    text = str(info.value)
    assert str(path) in text, text
    for pat in patterns:
        assert re.search(pat, text), (pat, text)
    return text


def test_rig_yaml_syntax_error_says_so_with_line(tmp_path):
    text = SAMPLE_RIG.read_text(encoding="utf-8").replace(
        "t: [0.0, 0.7831595368145797, 3.8035064269561016]", "t: [0.0, 0.78, 3.8", 1)
    p = write(tmp_path, "rig.yaml", text)
    msg = refused(p, r"not valid YAML, syntax error at line \d+, column \d+")
    assert "unknown calibration format" not in msg
    with pytest.raises(CalibrationError, match="not valid YAML"):
        load_rig(p)
    q = write(tmp_path, "rig_noext", "cameras:\n  - name: [cam1\n")
    refused(q, "neither YAML nor TOML; as YAML: syntax error at line 3")


def test_rig_dist_as_mapping_names_file_and_camera(tmp_path):
    text = SAMPLE_RIG.read_text(encoding="utf-8").replace(
        "dist: [-0.06, 0.02, 0.0004, -0.0003, 0.0]", "dist: {k1: -0.06, k2: 0.02}", 1)
    refused(write(tmp_path, "rig.yaml", text), "camera 'cam1'", "intrinsics dist must be a list of numbers")


def test_camera_info_rows_null(tmp_path):
    cam_yaml = tmp_path / "cam1.yaml"
    write_camera_info_yaml(cam_yaml, camera())
    text = cam_yaml.read_text(encoding="utf-8").replace("rows: 3", "rows: null", 1)
    p = write(tmp_path, "cam1.yaml", text)
    with pytest.raises(CalibrationError, match="camera 'cam1'.*camera_matrix rows and cols") as info:
        read_calibration(p)
    assert str(p) in str(info.value)


def test_toml_rotation_with_four_numbers(tmp_path):
    p = tmp_path / "calibration.toml"
    write_toml(p, [camera()])
    text = re.sub(r"rotation = \[ ([^\]]*) \]", r"rotation = [ \1, 0.5 ]", p.read_text(encoding="utf-8"))
    p.write_text(text, encoding="utf-8")
    refused(p, "camera 'cam1'", "rotation must be 3 numbers .* or a 3x3 matrix, got 4 numbers")


def test_other_broken_content(tmp_path):
    refused(write(tmp_path, "a.toml", "[cam_0]\nmatrix = [1, 2\n"), "not valid TOML")
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"cameras:\n - name: \xff\xfe\n")
    refused(p, "not a text file")
    refused(write(tmp_path, "b.yaml", "cameras: []\n"), "'cameras' must be a non-empty list")
    refused(write(tmp_path, "c.yaml", "image_width: 1e999\nimage_height: 2\ncamera_matrix: {data: [1]}\n"),
            "camera_matrix")


def test_cli_reports_without_traceback(tmp_path, capsys):
    p = write(tmp_path, "rig.yaml", "cameras:\n  - name: cam1\n    pose: {R: [1, 2}\n")
    assert main(["calib", "convert", str(p), "-o", str(tmp_path / "out.yaml")]) == 2
    assert main(["calib", "show", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("not valid YAML, syntax error at line 3") == 2 and "Traceback" not in err


# ---------------------------------------------------------------------------------- fuzzing
_REPLACEMENTS = ["null", "{a: 1}", "[1, 2]", "[[1, 2], [3]]", ".nan", "1e999", "-1", "0", '"x"', "true",
                 "", "[]", "{}", "1e308", "99999999999999999999999", "[1, 2, 3, 4]", "- 1", ":", "[", "}"]
_NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")


def mutate(text: str, rng: np.random.Generator) -> str:
    """Structure-aware and byte-level mutations of a calibration file's text."""
    kind = int(rng.integers(0, 5))
    if kind == 0:  # replace a number with something else
        nums = list(_NUMBER.finditer(text))
        m = nums[int(rng.integers(0, len(nums)))]
        rep = str(rng.choice(_REPLACEMENTS))
        if text.lstrip().startswith("<"):  # XML: keep it XML-ish sometimes
            rep = str(rng.choice(["", "nan", "inf", "1e999", "x", "-", "1 2", "0"]))
        return text[: m.start()] + rep + text[m.end():]
    if kind == 1:  # drop or duplicate a line
        lines = text.splitlines(keepends=True)
        i = int(rng.integers(0, len(lines)))
        return "".join(lines[:i] + ([lines[i]] * 2 if rng.random() < 0.5 else []) + lines[i + 1:])
    if kind == 2:  # truncate
        return text[: int(rng.integers(0, len(text)))]
    if kind == 3:  # delete a token-ish span
        i = int(rng.integers(0, len(text)))
        return text[:i] + text[i + int(rng.integers(1, 12)):]
    b = bytearray(text.encode("utf-8"))  # random bytes
    for _ in range(int(rng.integers(1, 5))):
        b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
    return b.decode("utf-8", errors="replace") if rng.random() < 0.5 else b.decode("latin-1")


def sources(tmp_path: Path) -> list[Path]:
    out = [SAMPLE_RIG]
    write_camera_info_yaml(tmp_path / "cam_info.yaml", camera())
    write_toml(tmp_path / "calibration.toml", [camera(), camera().with_name("cam2")])
    fs = cv2.FileStorage(str(tmp_path / "opencv.yaml"), cv2.FILE_STORAGE_WRITE)
    c = camera()
    for key, value in (("camera_matrix", np.array(c.K)), ("distortion_coefficients", np.array(c.dist)),
                       ("rvec", cv2.Rodrigues(np.array(c.R))[0]), ("tvec", np.array(c.t))):
        fs.write(key, value)
    fs.write("image_width", 1280)
    fs.write("image_height", 720)
    fs.release()
    out += [tmp_path / "cam_info.yaml", tmp_path / "calibration.toml", tmp_path / "opencv.yaml"]
    return out + SEED_XMLS[:2]


@pytest.mark.parametrize("index", range(6))
def test_fuzz_mutated_real_files_only_calibration_error(tmp_path, index):
    files = sources(tmp_path)
    if index >= len(files):
        pytest.skip(f"seed sample calibrations not found in {SEED}")
    src = files[index]
    text = src.read_text(encoding="utf-8")
    read_calibration(src)  # the unmutated file reads
    rng = np.random.default_rng(index)
    n_ok = n_err = 0
    trials = 100 if src == SAMPLE_RIG else 250  # the 5-camera rig is slow to parse
    for trial in range(trials):
        mutated = text
        for _ in range(int(rng.integers(1, 3))):
            mutated = mutate(mutated, rng) or mutated
        p = tmp_path / f"m{trial}{src.suffix}"
        p.write_bytes(mutated.encode("utf-8", errors="surrogateescape") if rng.random() < 0.9
                      else mutated.encode("latin-1", errors="replace"))
        try:
            detect_format(p)
            if src != SAMPLE_RIG:
                read_calibration(p)
            # a camera_info YAML holds no pose: the TOML gives it
            convert_to_rig([tmp_path / "calibration.toml", p] if "cam_info" in src.name else [p])
            n_ok += 1
        except CalibrationError as exc:
            assert str(p) in str(exc), str(exc)
            n_err += 1
        p.unlink()
    assert n_err > trials // 5 and n_ok > 5, (n_ok, n_err)


def test_fuzz_cli_never_a_traceback(tmp_path, capsys):
    rng = np.random.default_rng(99)
    src = tmp_path / "rig.yaml"
    shutil.copy(SAMPLE_RIG, src)
    text = src.read_text(encoding="utf-8")
    for trial in range(20):
        p = tmp_path / f"r{trial}.yaml"
        p.write_text(mutate(text, rng), encoding="utf-8")
        code = main(["calib", "convert", str(p), "-o", str(tmp_path / "out.yaml")])
        err = capsys.readouterr().err
        assert code in (0, 2) and "Traceback" not in err
        assert (code == 0) == (err == ""), err
