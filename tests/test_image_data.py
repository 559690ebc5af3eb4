"""Image data: layout and levels, dequantization, image folders, grids, dead leaves, textures,
digits, and the MNIST / CIFAR-10 readers on tiny files written here in the real formats."""

import gzip
import math
import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

from thermodiff.data import deadleaves, digits, textures
from thermodiff.data.images import as_images, dequantize, load_image_folder, make_grid, save_png
from thermodiff.data.normalize import DataError
from thermodiff.data.standard import load_cifar10, load_mnist, read_cifar_batch


# ---- layout, levels, dequantization -------------------------------------------------------------

def test_as_images_layout_and_levels():
    grey = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    x, levels = as_images(grey, "grey")
    assert x.shape == (2, 1, 3, 5) and x.dtype == np.float64 and levels == 256
    assert np.array_equal(x[:, 0], grey)
    rgb = np.random.default_rng(0).random((4, 3, 6, 6))
    x, levels = as_images(rgb, "rgb")
    assert levels is None and np.array_equal(x, rgb)
    x, levels = as_images(np.array([[[0, 16]]]), "digits", levels=17)
    assert levels == 17 and x.shape == (1, 1, 1, 2)


@pytest.mark.parametrize(
    "array, levels, message",
    [
        (np.zeros((2, 6, 6, 3)), None, "channels-last\\? use x.transpose\\(0, 3, 1, 2\\)"),
        (np.zeros((2, 2, 6, 6)), None, "C in \\(1, 3\\)"),
        (np.zeros((6, 6)), None, "expected images of shape"),
        (np.zeros((0, 1, 4, 4)), None, "empty"),
        (np.full((1, 1, 2, 2), np.nan), None, "NaN or infinite"),
        (np.array([[[0, 17]]]), 17, "integer in 0..16"),
        (np.array([[[0.5, 1.0]]]), 17, "integer in 0..16"),
        (np.array([[["a"]]]), None, "expected numbers"),
    ],
)
def test_as_images_refuses_with_one_clear_message(array, levels, message):
    with pytest.raises(DataError, match=message):
        as_images(array, "x", levels=levels)


def test_dequantize_adds_one_uniform_per_value():
    n = 200_000
    x = np.random.default_rng(1).integers(0, 17, size=(n, 1, 1, 1)).astype(np.float64)
    y = dequantize(x, 17, np.random.default_rng(2))
    u = (y - x).ravel()
    assert u.min() >= 0.0 and u.max() < 1.0 and y.max() < 17
    # U[0, 1): mean 1/2, variance 1/12; five standard errors of each estimate
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n), u.mean()
    # the sample variance has variance (mu_4 - sigma^4) / n = (1/80 - 1/144) / n = 1 / (180 n)
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / n), u.var()
    assert np.array_equal(y, dequantize(x, 17, np.random.default_rng(2)))  # same seed, same result
    assert not np.shares_memory(y, x)
    with pytest.raises(DataError, match="integer in 0..16"):
        dequantize(x + 0.5, 17, np.random.default_rng(0))


# ---- image folders, grids, PNG -------------------------------------------------------------------

def _grey(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w), dtype=np.uint8)


def test_image_folder_grey_round_trip_and_centre_crop(tmp_path):
    square, wide = _grey(6, 6, 0), _grey(6, 10, 1)
    Image.fromarray(square).save(tmp_path / "a.png")
    Image.fromarray(wide).save(tmp_path / "b.PNG")  # extensions are case-insensitive
    Image.fromarray(np.stack([square] * 3, -1)).save(tmp_path / "c.png")  # RGB with R = G = B counts as grey
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    Image.fromarray(_grey(6, 6, 2)).save(tmp_path / "sub" / "ignored.png")  # not searched
    x = load_image_folder(tmp_path, 6)
    assert x.dtype == np.uint8 and x.shape == (3, 1, 6, 6)
    assert np.array_equal(x[0, 0], square)  # same size: exact
    assert np.array_equal(x[1, 0], wide[:, 2:8])  # the centred 6 x 6 square of a 6 x 10 picture
    assert np.array_equal(x[2, 0], square)


def test_image_folder_mixed_goes_to_rgb_and_random_crops_are_seeded(tmp_path):
    Image.fromarray(_grey(12, 20, 0)).save(tmp_path / "a.png")
    colour = np.random.default_rng(1).integers(0, 256, size=(9, 15, 3), dtype=np.uint8)
    Image.fromarray(colour).save(tmp_path / "b.jpg", quality=95)
    Image.fromarray(colour).save(tmp_path / "c.jpeg")
    x = load_image_folder(tmp_path, 8)
    assert x.dtype == np.uint8 and x.shape == (3, 3, 8, 8)
    assert np.array_equal(x[0, 0], x[0, 1]) and np.array_equal(x[0, 1], x[0, 2])  # the grey one, repeated
    r1 = load_image_folder(tmp_path, 5, rng=np.random.default_rng(3))
    assert np.array_equal(r1, load_image_folder(tmp_path, 5, rng=np.random.default_rng(3)))


def test_image_folder_random_crops_are_uniform_windows(tmp_path):
    wide = _grey(6, 10, 1)
    Image.fromarray(wide).save(tmp_path / "a.png")
    lefts = set()
    for seed in range(60):
        crop = load_image_folder(tmp_path, 6, rng=np.random.default_rng(seed))[0, 0]
        matches = [k for k in range(5) if np.array_equal(crop, wide[:, k:k + 6])]
        assert len(matches) == 1, seed
        lefts |= set(matches)
    assert lefts == set(range(5))  # every position occurs (a fair draw misses one with chance < 5 * 0.8^60 = 8e-6)


def test_image_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_image_folder(tmp_path / "missing", 8)
    with pytest.raises(DataError, match="is empty"):
        load_image_folder(tmp_path, 8)
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(DataError, match="holds no images"):
        load_image_folder(tmp_path, 8)
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="cannot read the image .*broken.png"):
        load_image_folder(tmp_path, 8)
    with pytest.raises(DataError, match="positive integer"):
        load_image_folder(tmp_path, 0)


def test_make_grid_places_images_and_png_round_trips(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 1, 4, 3), dtype=np.uint8)
    grid = make_grid(images, ncol=3)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 5 + 1, 3 * 4 + 1)
    assert np.array_equal(grid[1:5, 1:4], images[0, 0])
    assert np.array_equal(grid[6:10, 5:8], images[4, 0])  # row 1, column 1
    assert (grid[6:10, 9:12] == 255).all() and (grid[0] == 255).all()  # empty cell and padding are white
    floats = make_grid(np.array([[[[0.0, 0.5, 1.0, 2.0, -1.0]]]]), ncol=1, pad=0)
    assert floats.tolist() == [[0, 128, 255, 255, 0]]
    rgb = make_grid(np.random.default_rng(1).random((2, 3, 4, 4)), ncol=2)
    assert rgb.shape == (6, 11, 3)
    for array in (grid, rgb):
        path = save_png(array, tmp_path / "grid.png")
        assert np.array_equal(np.asarray(Image.open(path)), array)
    with pytest.raises(DataError, match="uint8 \\(H, W\\)"):
        save_png(grid.astype(np.float64), tmp_path / "bad.png")


# ---- dead leaves ---------------------------------------------------------------------------------

def test_deadleaves_shape_levels_and_seed():
    x = deadleaves.generate(300, np.random.default_rng(0), size=16)
    assert x.shape == (300, 1, 16, 16) and x.dtype == np.uint8
    assert np.array_equal(x, deadleaves.generate(300, np.random.default_rng(0), size=16))
    assert not np.array_equal(x, deadleaves.generate(300, np.random.default_rng(1), size=16))
    distinct = np.mean([np.unique(p).size for p in x])
    assert 3 < distinct < 200, distinct  # several leaves per patch, but large leaves too
    # each pixel shows one leaf's grey level, uniform on 0..255: mean 127.5, sd 73.9, at one pixel per patch
    assert abs(x[:, 0, 5, 5].mean() - 127.5) < 5 * 73.9 / math.sqrt(300)
    with pytest.raises(DataError, match="0 < r_min < r_max"):
        deadleaves.generate(2, np.random.default_rng(0), r_min=4.0, r_max=2.0)


def test_deadleaves_radii_follow_the_tilted_power_law():
    a, b, size, n = 1.0, 32.0, 16, 100_000
    r = deadleaves.sample_radii(n, np.random.default_rng(0), a, b, size)
    grid = np.geomspace(a, b, 20001)
    mid = np.sqrt(grid[1:] * grid[:-1])
    density = mid**-3 * (size + 2 * mid) ** 2 * np.diff(grid)  # q(r) dr, midpoint rule
    cdf = np.cumsum(density) / density.sum()
    for q in (1.2, 2.0, 4.0, 10.0, 25.0):
        f = np.interp(q, grid[1:], cdf)
        assert abs(np.mean(r <= q) - f) < 5 * math.sqrt(f * (1 - f) / n), (q, np.mean(r <= q), f)


def _lens(r, d):
    """Area of the centres whose disk of radius r covers two points d apart."""
    c = np.minimum(d / (2 * r), 1.0)
    return 2 * r * r * np.arccos(c) - d / 2 * np.sqrt(np.maximum(4 * r * r - d * d, 0.0))


@pytest.mark.parametrize("d", [1, 4])
def test_deadleaves_two_pixels_share_a_leaf_as_often_as_theory_says(d):
    """Lee, Mumford & Huang (2001): points d apart lie in the same top leaf with probability
    E[lens(r, d)] / E[2 pi r^2 - lens(r, d)]; otherwise they match with probability 1/256."""
    a, b, n = 1.0, 32.0, 4000
    grid = np.geomspace(a, b, 20001)
    r, dr = np.sqrt(grid[1:] * grid[:-1]), np.diff(grid)
    same = np.sum(r**-3 * _lens(r, d) * dr) / np.sum(r**-3 * (2 * np.pi * r * r - _lens(r, d)) * dr)
    expected = same + (1 - same) / 256
    x = deadleaves.generate(n, np.random.default_rng(d), size=8, r_min=a, r_max=b)
    observed = np.mean(x[:, 0, 3, 1] == x[:, 0, 3, 1 + d])
    assert abs(observed - expected) < 5 * math.sqrt(expected * (1 - expected) / n), (observed, expected)


# ---- textures and digits -------------------------------------------------------------------------

def test_texture_patches_are_windows_of_the_photograph():
    picture = np.arange(20 * 30).reshape(20, 30)
    p = textures.patches(picture, 50, 5, np.random.default_rng(0))
    assert p.shape == (50, 5, 5)
    assert np.array_equal(p - p[:, :1, :1], np.broadcast_to(picture[:5, :5], p.shape))  # contiguous windows
    corners = p[:, 0, 0]
    assert (corners // 30).max() <= 15 and (corners % 30).max() <= 25  # windows stay inside


def test_textures_generate_names_and_errors():
    x = textures.generate(40, np.random.default_rng(0), size=16, image="gravel")
    assert x.shape == (40, 1, 16, 16) and x.dtype == np.uint8
    assert np.array_equal(x, textures.generate(40, np.random.default_rng(0), size=16, image="gravel"))
    both = textures.generate(40, np.random.default_rng(0), size=8, image=("brick", "grass"), downscale=2)
    assert both.shape == (40, 1, 8, 8)
    small = textures.photograph("brick", downscale=4)
    full = textures.photograph("brick").astype(np.float64)
    assert small.shape == (128, 128) and small[3, 5] == np.round(full[12:16, 20:24].mean())
    with pytest.raises(DataError, match="unknown texture photograph 'bark'; the known ones are brick, grass, gravel"):
        textures.generate(2, np.random.default_rng(0), image="bark")
    with pytest.raises(DataError, match="exceeds"):
        textures.generate(2, np.random.default_rng(0), size=300, downscale=2)


def test_digits_have_17_levels():
    x = digits.load()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.uint8
    assert digits.LEVELS == 17 and x.min() == 0 and x.max() == 16
    images, levels = as_images(x, "digits", levels=digits.LEVELS)
    assert levels == 17 and images.shape == (1797, 1, 8, 8)


# ---- MNIST ---------------------------------------------------------------------------------------

def _idx(images, magic=0x00000803):
    n, h, w = images.shape
    return struct.pack(">IIII", magic, n, h, w) + images.astype(np.uint8).tobytes()


def test_mnist_idx_round_trip_plain_and_gzipped(tmp_path):
    rng = np.random.default_rng(0)
    train, test = (rng.integers(0, 256, size=(k, 28, 28), dtype=np.uint8) for k in (3, 2))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(train))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(test)))
    x = load_mnist(tmp_path, "train")
    assert x.dtype == np.uint8 and x.shape == (3, 1, 28, 28) and np.array_equal(x[:, 0], train)
    assert np.array_equal(load_mnist(tmp_path, "test")[:, 0], test)
    raw = tmp_path / "tv" / "MNIST" / "raw"  # torchvision's layout
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte").write_bytes(_idx(test))
    assert np.array_equal(load_mnist(tmp_path / "tv", "test")[:, 0], test)


def test_mnist_errors_say_what_to_put_where(tmp_path):
    with pytest.raises(DataError, match="no such folder.*train-images-idx3-ubyte.*yann.lecun.com"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(DataError, match=f"put t10k-images-idx3-ubyte \\(or t10k-images-idx3-ubyte.gz\\) in {tmp_path}"):
        load_mnist(tmp_path, "test")
    with pytest.raises(DataError, match="split must be one of train, test"):
        load_mnist(tmp_path, "validation")
    labels = struct.pack(">II", 0x00000801, 3) + bytes(3)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(labels)
    with pytest.raises(DataError, match="magic number 0x00000801, expected 0x00000803"):
        load_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(np.zeros((2, 28, 28)))[:-5])
    with pytest.raises(DataError, match="truncated"):
        load_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(np.zeros((2, 8, 8))))
    with pytest.raises(DataError, match="28 x 28"):
        load_mnist(tmp_path)


# ---- CIFAR-10 ------------------------------------------------------------------------------------

def _batch(data):
    # protocol 3 writes numpy arrays through numpy's _reconstruct, as the distributed (protocol 2) files do
    return pickle.dumps({b"batch_label": b"batch", b"labels": [0] * len(data), b"data": data,
                         b"filenames": [b"x.png"] * len(data)}, protocol=3)


def test_cifar_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rows = [rng.integers(0, 256, size=(2, 3072), dtype=np.uint8) for _ in range(6)]
    for i, data in enumerate(rows[:5], start=1):
        (folder / f"data_batch_{i}").write_bytes(_batch(data))
    (folder / "test_batch").write_bytes(_batch(rows[5]))
    x = load_cifar10(tmp_path, "train")
    assert x.dtype == np.uint8 and x.shape == (10, 3, 32, 32)
    assert np.array_equal(x.reshape(10, 3072), np.concatenate(rows[:5]))
    assert x[2, 1, 4, 7] == rows[1][0, 1024 + 4 * 32 + 7]  # channel-major, then row-major
    assert np.array_equal(load_cifar10(folder, "test").reshape(2, 3072), rows[5])  # batches directly in DIR
    # a pickle written by numpy 1 names numpy.core.multiarray; it loads too
    old = _batch(rows[5]).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in old
    (tmp_path / "old").write_bytes(old)
    assert np.array_equal(read_cifar_batch(tmp_path / "old").reshape(2, 3072), rows[5])


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar_refuses_pickles_that_call_code(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil").write_bytes(pickle.dumps({b"data": _Exploit(marker)}, protocol=3))
    with pytest.raises(DataError, match="refusing to load the global (posix|nt).system"):
        read_cifar_batch(tmp_path / "evil")
    assert not marker.exists()
    (tmp_path / "list").write_bytes(pickle.dumps({b"data": [1, 2, 3]}))
    with pytest.raises(DataError, match="not a CIFAR-10 python batch"):
        read_cifar_batch(tmp_path / "list")


def test_cifar_errors_say_what_to_put_where(tmp_path):
    with pytest.raises(DataError, match="no such folder.*cifar-10-python.tar.gz.*batches-py/ with data_batch_1"):
        load_cifar10(tmp_path / "nowhere")
    (tmp_path / "cifar-10-batches-py").mkdir()
    message = "put all of data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5 in .*cifar-10-batches-py"
    with pytest.raises(DataError, match=message):
        load_cifar10(tmp_path, "train")
    with pytest.raises(DataError, match="put all of test_batch in"):
        load_cifar10(tmp_path, "test")
