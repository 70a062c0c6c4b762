"""kymata .nkg expression sets: files written here as kymata 1.0.6 writes them (format 0.5)."""

from __future__ import annotations

import zipfile
from io import TextIOWrapper

import numpy as np
import pytest

from laminarray import LaminarrayError
from laminarray.expression import expression_set
from laminarray.io import read_nkg, write_nkg


def _coo(dense):
    """kymata's COO members of a (channel, latency, transform) block."""
    coords = np.array(np.nonzero(dense), dtype=np.int64)
    return coords.tobytes(order="C"), dense[tuple(coords)].astype(np.float64).tobytes()


def _kymata_nkg(path, kind, blocks, latencies, transforms, layout="", version="0.5"):
    """np + zipfile exactly as kymata 1.0.6's save_expression_set lays the archive out."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_LZMA) as zf:
        zf.writestr("_metadata/format-version.txt", version)
        zf.writestr("_metadata/expression-set-type.txt", kind)
        zf.writestr("/latencies.txt", "\n".join(str(x) for x in latencies))
        zf.writestr("/transforms.txt", "\n".join(transforms))
        zf.writestr("/blocks.txt", "\n".join(blocks))
        zf.writestr("/layout.txt", layout)
        for name, (channels, dense) in blocks.items():
            coords, data = _coo(dense)
            zf.writestr(f"/{name}/channels.txt", "\n".join(str(c) for c in channels))
            zf.writestr(f"/{name}/coo-coords.bytes", coords)
            zf.writestr(f"/{name}/coo-data.bytes", data)
            zf.writestr(f"/{name}/coo-shape.txt", "\n".join(str(x) for x in dense.shape))


def _kymata_load(path):
    """kymata 1.0.6's _load_data_current: member names, dtypes and checks as it reads them."""
    out = {}
    with zipfile.ZipFile(path) as zf:

        def text(name):
            with TextIOWrapper(zf.open(name), encoding="utf-8") as f:
                return [line.strip() for line in f.readlines()]

        assert text("_metadata/format-version.txt") == ["0.5"]
        out["type"] = text("_metadata/expression-set-type.txt")[0]
        latencies = [float(x) for x in text("/latencies.txt")]
        transforms = text("/transforms.txt")
        out["layout"] = text("/layout.txt")
        out["latencies"], out["transforms"] = latencies, transforms
        for block in text("/blocks.txt"):
            channels = text(f"/{block}/channels.txt")
            with zf.open(f"/{block}/coo-coords.bytes") as f:
                coords = np.frombuffer(f.read(), dtype=np.int64).reshape((3, -1))
            with zf.open(f"/{block}/coo-data.bytes") as f:
                data = np.frombuffer(f.read(), dtype=np.float64)
            shape = tuple(int(s) for s in text(f"/{block}/coo-shape.txt"))
            assert shape == (len(channels), len(latencies), len(transforms))
            dense = np.zeros(shape)
            dense[tuple(coords)] = data
            out[block] = (channels, dense)
    return out


@pytest.fixture
def rng():
    return np.random.default_rng(18)


def _sparse_log_p(rng, shape):
    values = -rng.exponential(3.0, shape)
    values[rng.random(shape) < 0.6] = 0.0  # kymata stores only log p != 0
    return values


def test_read_kymata_hexel_set(tmp_path, rng):
    left, right = _sparse_log_p(rng, (4, 3, 2)), _sparse_log_p(rng, (5, 3, 2))
    path = tmp_path / "hexel.nkg"
    blocks = {"left": ([0, 1, 2, 7], left), "right": ([0, 1, 2, 3, 9], right)}
    _kymata_nkg(path, "hexel", blocks, [-0.1, 0.0, 0.1], ["pitch", "loudness"])
    with pytest.raises(LaminarrayError, match="`layer` is required"):
        read_nkg(path)
    es = read_nkg(path, layer="pial")
    assert es["log_p"].dims == ("transform", "layer", "vertex", "latency")
    assert es["layer"].values.tolist() == ["pial"]
    assert es["transform"].values.tolist() == ["pitch", "loudness"]
    np.testing.assert_array_equal(es["latency"], [-0.1, 0.0, 0.1])
    np.testing.assert_array_equal(es["vertex"], np.arange(9))
    assert es["hemi"].values.tolist() == ["lh"] * 4 + ["rh"] * 5
    assert es["hexel"].values.tolist() == [0, 1, 2, 7, 0, 1, 2, 3, 9]
    expected = np.concatenate([left, right]).transpose(2, 0, 1)  # (transform, vertex, latency)
    np.testing.assert_array_equal(es["log_p"].values[:, 0], expected)
    assert es.attrs["nkg_version"] == "0.5"


def test_read_kymata_sensor_set_with_layout(tmp_path, rng):
    values = _sparse_log_p(rng, (3, 4, 1))
    path = tmp_path / "sensor.nkg"
    layout = "MEG:\tfif-meg\nEEG:\tNone\n"
    blocks = {"scalp": (["MEG0111", "MEG0121", "EEG001"], values)}
    _kymata_nkg(path, "sensor", blocks, [0.0, 0.01, 0.02, 0.03], ["env"], layout)
    es = read_nkg(path)
    assert es["log_p"].dims == ("transform", "channel", "latency")
    np.testing.assert_array_equal(es["log_p"].values[0], values[..., 0])
    assert es.attrs["meg_layout"] == "fif-meg"
    assert "eeg_layout" not in es.attrs


def test_read_version_0_2_p_values(tmp_path):
    """Format 0.2: p-values, one root channel list and /layers.txt, /functions.txt."""
    p = np.ones((2, 2, 1))
    p[1, 0, 0] = 1e-4
    path = tmp_path / "old.nkg"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("_metadata/format-version.txt", "0.2")
        zf.writestr("_metadata/expression-set-type.txt", "sensor")
        zf.writestr("/channels.txt", "A\nB")
        zf.writestr("/latencies.txt", "0.0\n0.1")
        zf.writestr("/functions.txt", "f")
        zf.writestr("/layers.txt", "scalp")
        coords = np.array([[0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 0]], dtype=np.int64)
        zf.writestr("/scalp/coo-coords.bytes", coords.tobytes())
        zf.writestr("/scalp/coo-data.bytes", p[tuple(coords)].tobytes())
        zf.writestr("/scalp/coo-shape.txt", "2\n2\n1")
    es = read_nkg(path)
    np.testing.assert_allclose(es["log_p"].values[0], [[0.0, 0.0], [-4.0, 0.0]])


def test_kymata_reads_what_laminarray_writes_source(tmp_path, rng):
    values = _sparse_log_p(rng, (2, 3, 6, 4))  # transform, layer, vertex, latency
    es = expression_set(values, ["a", "b"], [0.0, 0.05, 0.1, 0.15], hemi=["lh"] * 3 + ["rh"] * 3)
    with pytest.raises(LaminarrayError, match="`layer` is required"):
        write_nkg(es, tmp_path / "x.nkg")
    path = write_nkg(es, tmp_path / "x.nkg", layer="0.500")
    with pytest.raises(LaminarrayError, match="exists"):
        write_nkg(es, path, layer="0.500")
    with zipfile.ZipFile(path) as zf:
        assert all(info.compress_type == zipfile.ZIP_LZMA for info in zf.infolist())
    loaded = _kymata_load(path)
    assert loaded["type"] == "hexel"
    assert loaded["transforms"] == ["a", "b"]
    assert loaded["latencies"] == [0.0, 0.05, 0.1, 0.15]
    channels, dense = loaded["right"]
    assert channels == ["0", "1", "2"]  # per-hemisphere rank without a `hexel` coordinate
    np.testing.assert_array_equal(dense, values[:, 1, 3:].transpose(1, 2, 0))
    back = read_nkg(path, layer="0.500")
    np.testing.assert_array_equal(back["log_p"].values[:, 0], values[:, 1])
    # round trip keeps kymata's ids through the `hexel` coordinate
    again = write_nkg(back, tmp_path / "y.nkg")
    assert _kymata_load(again)["left"][0] == ["0", "1", "2"]


def test_kymata_reads_what_laminarray_writes_sensor(tmp_path, rng):
    values = _sparse_log_p(rng, (1, 5, 3))
    es = expression_set(values, ["env"], [0.0, 0.1, 0.2], channels=[f"MEG{i}" for i in range(5)])
    path = write_nkg(es.assign_attrs(meg_layout="fif-meg"), tmp_path / "s.nkg")
    loaded = _kymata_load(path)
    assert loaded["type"] == "sensor"
    assert loaded["layout"] == ["MEG:\tfif-meg", "EEG:\tNone"]
    np.testing.assert_array_equal(loaded["scalp"][1][..., 0], values[0])
    np.testing.assert_array_equal(read_nkg(path)["log_p"].values, values)
