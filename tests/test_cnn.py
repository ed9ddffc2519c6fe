"""Tests for mlbook.cnn: convolution and pooling by hand against torch.nn.functional across
padding, stride and dilation, the output-size formula against F.conv2d's shapes, ImageFolder
and MNIST reading files the tests write (MNIST's idx bytes built here by hand), the input
checks with their messages, the CNN's shapes and freezing, and the command line."""

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torchvision import datasets
from torchvision.transforms import v2

from mlbook.cnn import (
    DigitCNN,
    TransformedTensors,
    conv2d,
    conv_output_size,
    count_parameters,
    digits_as_images,
    fit_classifier,
    load_image_folder,
    pool2d,
    read_image,
    stack_images,
    write_image_folder,
    write_mnist_raw,
)


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2])
def test_conv2d_matches_torch(padding, stride, dilation):
    X, W, b = rand(2, 3, 9, 8), rand(4, 3, 3, 2, seed=1), rand(4, seed=2)
    expected = F.conv2d(X, W, b, stride=stride, padding=padding, dilation=dilation)
    got = conv2d(X, W, b, stride=stride, padding=padding, dilation=dilation)
    torch.testing.assert_close(got, expected)
    assert expected.shape[2] == conv_output_size(9, 3, padding, stride, dilation)
    assert expected.shape[3] == conv_output_size(8, 2, padding, stride, dilation)


def test_conv2d_is_cross_correlation_not_flipped_convolution():
    X = torch.arange(9.0).reshape(1, 1, 3, 3)
    W = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])  # picks the top-left pixel
    assert conv2d(X, W)[0, 0].tolist() == [[0.0, 1.0], [3.0, 4.0]]


@pytest.mark.parametrize("n,k,p,s,d", [(8, 3, 1, 1, 1), (28, 5, 0, 2, 1), (7, 3, 0, 1, 3), (224, 7, 3, 2, 1)])
def test_output_size_formula_matches_conv2d_shapes(n, k, p, s, d):
    out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), padding=p, stride=s, dilation=d)
    assert out.shape[-1] == conv_output_size(n, k, p, s, d)


@pytest.mark.parametrize("size,stride", [(2, None), (3, 1), (3, 2)])
def test_pooling_matches_torch(size, stride):
    X = rand(2, 3, 8, 7)
    torch.testing.assert_close(pool2d(X, size, stride, "max"), F.max_pool2d(X, size, stride))
    torch.testing.assert_close(pool2d(X, size, stride, "avg"), F.avg_pool2d(X, size, stride))


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: conv2d(torch.zeros(3, 8, 8), torch.zeros(1, 3, 3, 3)), "shape"),
        (lambda: conv2d(torch.zeros(1, 2, 8, 8), torch.zeros(1, 3, 3, 3)), "2 channels"),
        (lambda: conv_output_size(4, 7), "reaches over 7"),
        (lambda: pool2d(torch.zeros(1, 1, 4, 4), 2, mode="min"), "mode"),
        (lambda: DigitCNN()(torch.zeros(2, 64)), r"\(batch, 1, 8, 8\)"),
        (lambda: DigitCNN()(torch.zeros(2, 3, 8, 8)), r"\(batch, 1, 8, 8\)"),
        (lambda: digits_as_images(torch.zeros(5, 63)), "64 pixels"),
        (lambda: write_mnist_raw(torch.zeros(2, 4, 4), torch.zeros(2), "."), "uint8"),
    ],
)
def test_bad_inputs_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_cnn_shapes_and_parameter_count():
    model = DigitCNN(channels=(8, 16))
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    assert model.features(torch.zeros(5, 1, 8, 8)).shape == (5, 64)
    expected = (8 * 9 + 8) + (16 * 8 * 9 + 16) + (64 * 10 + 10)
    assert count_parameters(model) == expected
    for p in model.features.parameters():
        p.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 650


def test_frozen_features_do_not_change_when_fitting():
    torch.manual_seed(0)
    model = DigitCNN()
    for p in model.features.parameters():
        p.requires_grad_(False)
    before = [p.clone() for p in model.features.parameters()]
    head = model.head.weight.clone()
    data = TransformedTensors(torch.rand(32, 1, 8, 8), torch.randint(0, 10, (32,)))
    losses = fit_classifier(model, data, epochs=3, lr=0.05)
    assert len(losses) == 3
    for b, p in zip(before, model.features.parameters(), strict=True):
        assert torch.equal(b, p)
    assert not torch.equal(head, model.head.weight)


GREY = v2.Compose([v2.ToImage(), v2.Grayscale(), v2.ToDtype(torch.float32, scale=True)])


def test_image_folder_reads_back_what_was_written(tmp_path):
    images = torch.rand(6, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    write_image_folder(images, labels, tmp_path)
    folder = load_image_folder(tmp_path, transform=GREY)
    assert folder.classes == ["0", "1", "2"] and len(folder) == 6
    X, y = stack_images(folder)
    order = labels.argsort(stable=True)  # ImageFolder lists files class by class
    assert y.tolist() == labels[order].tolist()
    # 8-bit pixels, and Grayscale's weighted sum of three equal channels rounds once more
    torch.testing.assert_close(X, images[order], atol=1.5 / 255, rtol=0)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "3").mkdir()
    with pytest.raises(ValueError, match="no class folder with an image"):
        load_image_folder(tmp_path)
    corrupt = tmp_path / "3" / "bad.png"
    corrupt.write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="bad.png is not a readable image"):
        load_image_folder(tmp_path)[0]
    with pytest.raises(FileNotFoundError, match="no image file"):
        read_image(str(tmp_path / "3" / "gone.png"))


def test_wrong_channel_count_or_size_is_named(tmp_path):
    write_image_folder(torch.rand(2, 1, 5, 8), torch.tensor([0, 1]), tmp_path / "small")
    with pytest.raises(ValueError, match=r"image 0: expected a tensor of shape \(1, 8, 8\).*got \(1, 5, 8\)"):
        stack_images(load_image_folder(tmp_path / "small", transform=GREY))
    write_image_folder(torch.rand(2, 1, 8, 8), torch.tensor([0, 1]), tmp_path / "rgb")
    colour = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])  # no Grayscale
    with pytest.raises(ValueError, match=r"got \(3, 8, 8\)"):
        stack_images(load_image_folder(tmp_path / "rgb", transform=colour))
    with pytest.raises(ValueError, match="got <class"):
        stack_images(load_image_folder(tmp_path / "rgb"))  # PIL images, not tensors
    with pytest.raises(ValueError, match="no images"):
        stack_images(TransformedTensors(torch.zeros(0, 1, 8, 8), torch.zeros(0)))


def idx_bytes(dims, payload: bytes) -> bytes:
    """MNIST's idx format, by hand: 0, 0, type 0x08 (ubyte), ndim, big-endian sizes, data."""
    header = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + payload


def test_mnist_class_reads_tiny_idx_files_written_by_hand(tmp_path):
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = [7, 2, 1]
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes([3, 28, 28], images.numpy().tobytes()))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes([3], bytes(labels)))
    transform = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    mnist = datasets.MNIST(tmp_path, train=True, download=False, transform=transform)
    assert len(mnist) == 3
    image, label = mnist[1]
    assert label == 2 and image.shape == (1, 28, 28) and image.dtype == torch.float32
    torch.testing.assert_close(image[0], images[1].float() / 255)


def test_write_mnist_raw_gives_files_the_mnist_class_reads(tmp_path):
    images = torch.randint(0, 256, (4, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([3, 1, 4, 1])
    for train in (True, False):
        write_mnist_raw(images, labels, tmp_path, train=train)
    mnist = datasets.MNIST(tmp_path, train=False, download=False)
    assert torch.equal(mnist.data, images) and mnist.targets.tolist() == labels.tolist()
    with pytest.raises(RuntimeError, match="Dataset not found"):
        datasets.MNIST(tmp_path / "elsewhere", train=True, download=False)


def test_cli_dry_run_prints_both_models_and_saves_filters(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mlbook.cnn", "--dry-run", "--no-progress", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={"OMP_NUM_THREADS": "1", "PATH": ""},
    )
    assert "CNN:" in result.stdout and "MLP:" in result.stdout
    assert (tmp_path / "filters.png").exists()
