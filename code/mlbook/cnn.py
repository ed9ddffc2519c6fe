"""Convolutional networks: convolution and pooling by hand, image files, a small CNN.

The chapter "Convolutional networks with torchvision" shows and runs these pieces:
the output-size formula, convolution and pooling written as sums over the kernel's
positions, folders of image files and MNIST's raw files read through torchvision, a
small CNN for the 8x8 digits, and the helpers its experiments share.
"""

from __future__ import annotations

import statistics
import struct
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import pil_loader
from torchvision.transforms.v2.functional import to_pil_image
from tqdm import tqdm

from mlbook import cli, plotting
from mlbook.data import load_digits_split
from mlbook.device import get_device
from mlbook.mlp import MLP, evaluate, train_epoch


def conv_output_size(
    n: int, k: int, padding: int = 0, stride: int = 1, dilation: int = 1
) -> int:
    """The length of a convolution's output along one axis of length n."""
    span = dilation * (k - 1) + 1  # how far the kernel reaches, gaps included
    if n + 2 * padding < span:
        raise ValueError(
            f"the kernel reaches over {span} pixels, more than the {n + 2 * padding} "
            f"of the padded input"
        )
    return (n + 2 * padding - span) // stride + 1


def _check_conv(X: torch.Tensor, W: torch.Tensor) -> None:
    if X.ndim != 4 or W.ndim != 4:
        raise ValueError(
            "expected images X of shape (m, C, H, W) and kernels of shape "
            f"(K, C, kh, kw), got {tuple(X.shape)} and {tuple(W.shape)}"
        )
    if X.shape[1] != W.shape[1]:
        raise ValueError(
            f"the images have {X.shape[1]} channels but the kernels expect {W.shape[1]}"
        )


def conv2d(
    X: torch.Tensor,
    W: torch.Tensor,
    b: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> torch.Tensor:
    """Cross-correlate images X (m, C, H, W) with kernels W (K, C, kh, kw)."""
    _check_conv(X, W)
    K, _, kh, kw = W.shape
    H_out = conv_output_size(X.shape[2], kh, padding, stride, dilation)
    W_out = conv_output_size(X.shape[3], kw, padding, stride, dilation)
    X = nn.functional.pad(X, (padding, padding, padding, padding))  # zeros around
    Z = X.new_zeros(X.shape[0], K, H_out, W_out)
    for i in range(kh):
        for j in range(kw):
            # the pixel under kernel entry (i, j) for every output position at once
            top, left = i * dilation, j * dilation
            patch = X[
                :,
                :,
                top : top + stride * (H_out - 1) + 1 : stride,
                left : left + stride * (W_out - 1) + 1 : stride,
            ]  # (m, C, H_out, W_out)
            Z += torch.einsum("mchw,kc->mkhw", patch, W[:, :, i, j])
    return Z if b is None else Z + b[:, None, None]


def pool2d(X: torch.Tensor, size: int, stride: int | None = None, mode: str = "max"):
    """Max or average pooling of X (m, C, H, W) over size x size windows."""
    if X.ndim != 4 or mode not in ("max", "avg"):
        raise ValueError(
            f"expected X of shape (m, C, H, W) and mode 'max' or 'avg', "
            f"got {tuple(X.shape)} and {mode!r}"
        )
    stride = size if stride is None else stride
    H_out = conv_output_size(X.shape[2], size, stride=stride)
    W_out = conv_output_size(X.shape[3], size, stride=stride)
    windows = [
        X[
            :,
            :,
            i : i + stride * (H_out - 1) + 1 : stride,
            j : j + stride * (W_out - 1) + 1 : stride,
        ]  # fmt: skip
        for i in range(size)
        for j in range(size)
    ]
    stacked = torch.stack(windows)  # (size * size, m, C, H_out, W_out)
    return stacked.amax(dim=0) if mode == "max" else stacked.mean(dim=0)


class DigitCNN(nn.Module):
    """Two 3x3 convolutions, each with ReLU and 2x2 max pooling, then a linear head."""

    def __init__(self, channels: tuple[int, int] = (16, 32), n_out: int = 10) -> None:
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=3, padding=1),  # (m, c1, 8, 8)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (m, c1, 4, 4)
            nn.Conv2d(c1, c2, kernel_size=3, padding=1),  # (m, c2, 4, 4)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (m, c2, 2, 2)
            nn.Flatten(),  # (m, 4 c2)
        )
        self.head = nn.Linear(4 * c2, n_out)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.ndim != 4 or X.shape[1:] != (1, 8, 8):
            raise ValueError(
                f"expected images of shape (batch, 1, 8, 8), got {tuple(X.shape)}"
            )
        return self.head(self.features(X))


def digits_as_images(X: torch.Tensor) -> torch.Tensor:
    """Rows of 64 digit pixels (0 to 16) as images (m, 1, 8, 8) with values 0 to 1."""
    if X.ndim != 2 or X.shape[1] != 64:
        raise ValueError(f"expected rows of 64 pixels, got shape {tuple(X.shape)}")
    return X.reshape(-1, 1, 8, 8) / 16


def write_image_folder(images: torch.Tensor, labels: torch.Tensor, root: Path) -> Path:
    """Save images (m, 1, H, W), values 0 to 1, as root/<label>/<i>.png; return root."""
    if images.ndim != 4 or images.shape[1] != 1 or len(images) != len(labels):
        raise ValueError(
            "expected grey images (m, 1, H, W) and m labels, got "
            f"{tuple(images.shape)} and {tuple(labels.shape)}"
        )
    root = Path(root)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (image * 255).round().clamp(0, 255).to(torch.uint8).cpu()
        to_pil_image(pixels).save(folder / f"{i:04d}.png")
    return root


def read_image(path: str):
    """Open an image file as torchvision's ImageFolder does, with a clear error."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no image file at {path}")
    try:
        return pil_loader(path)  # an RGB image, whatever the file holds
    except OSError as err:  # Pillow's "cannot identify image file" is an OSError
        raise ValueError(f"{path} is not a readable image: {err}") from None


def load_image_folder(root: Path, transform: Callable | None = None) -> ImageFolder:
    """A torchvision ImageFolder over root/<class>/<file>, read by read_image."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder at {root}")
    if not any(p.is_dir() and any(p.iterdir()) for p in root.iterdir()):
        raise ValueError(f"{root} has no class folder with an image in it")
    return ImageFolder(root, transform=transform, loader=read_image)


def stack_images(
    data: Dataset, shape: tuple[int, int, int] = (1, 8, 8)
) -> tuple[torch.Tensor, torch.Tensor]:
    """All of a data set's (image, label) pairs as tensors X (m, *shape) and y (m,)."""
    images, labels = [], []
    for i in range(len(data)):
        image, label = data[i]
        if not isinstance(image, torch.Tensor) or image.shape != shape:
            got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image)
            raise ValueError(
                f"image {i}: expected a tensor of shape {shape} (channels, height, "
                f"width), got {got}"
            )
        images.append(image)
        labels.append(label)
    if not images:
        raise ValueError("the data set holds no images")
    return torch.stack(images), torch.tensor(labels)


def write_mnist_raw(
    images: torch.Tensor, labels: torch.Tensor, root: Path, train: bool = True
) -> Path:
    """Write uint8 images (m, H, W) and labels as MNIST's files under root/MNIST/raw."""
    if images.dtype != torch.uint8 or images.ndim != 3 or len(images) != len(labels):
        raise ValueError(
            "expected uint8 images (m, H, W) and m labels, got "
            f"{images.dtype} {tuple(images.shape)} and {tuple(labels.shape)}"
        )
    raw = Path(root) / "MNIST" / "raw"  # where torchvision.datasets.MNIST looks
    raw.mkdir(parents=True, exist_ok=True)
    prefix = "train" if train else "t10k"
    # idx header: two zero bytes, type code 8 (unsigned byte), number of dimensions,
    # then each dimension as a big-endian 32-bit integer
    m, h, w = images.shape
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
        struct.pack(">BBBBIII", 0, 0, 8, 3, m, h, w) + images.numpy().tobytes()
    )
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
        struct.pack(">BBBBI", 0, 0, 8, 1, m) + labels.to(torch.uint8).numpy().tobytes()
    )
    return Path(root)


class TransformedTensors(Dataset):
    """Images and labels in tensors, with `transform` applied to each image drawn."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform=None):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        image = self.images[i]
        return (
            image if self.transform is None else self.transform(image)
        ), self.labels[i]


def fit_classifier(
    model: nn.Module,
    data: Dataset,
    epochs: int,
    lr: float = 0.01,
    batch_size: int = 64,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> list[float]:
    """Train `model` with Adam on `data` for `epochs`; return the loss of each epoch."""
    loader = DataLoader(
        data,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    trainable = [p for p in model.parameters() if p.requires_grad]  # skip frozen
    optimizer = torch.optim.Adam(trainable, lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    return [
        train_epoch(model, loader, loss_fn, optimizer, device)
        for _ in tqdm(range(epochs), disable=not progress, unit="epoch")
    ]


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, device="cpu") -> float:
    """The share of images X that `model` classifies as y."""
    loader = DataLoader(TensorDataset(X, y), batch_size=512)
    return evaluate(model, loader, nn.CrossEntropyLoss(), device)[1]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """How many numbers the model learns (only those not frozen, if asked)."""
    return sum(
        p.numel() for p in model.parameters() if p.requires_grad or not trainable_only
    )


def time_forward(model: nn.Module, X: torch.Tensor, repeats: int = 3) -> float:
    """The median time in seconds of one forward pass, after one untimed warm-up."""
    model.eval()
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 1):
            start = time.perf_counter()
            model(X)
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def image_grid(images: torch.Tensor, titles: Sequence[str] = (), cols: int = 8):
    """A figure of images (n, H, W), each on its own symmetric colour scale."""
    images = images.detach().cpu()
    rows = -(-len(images) // cols)
    fig = plotting.new_figure((1.1 * cols, 1.2 * rows))
    for k, ax in enumerate(fig.subplots(rows, cols, squeeze=False).flat):
        ax.set(xticks=[], yticks=[])
        if k >= len(images):
            ax.set_axis_off()
            continue
        limit = images[k].abs().max().item() or 1.0
        ax.imshow(images[k].numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        if k < len(titles):
            ax.set_title(titles[k], fontsize=9)
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    """Train the chapter's CNN and an MLP on the 8x8 digits; report their accuracy."""
    parser = cli.make_parser(
        "python -m mlbook.cnn", main.__doc__, progress=True, device=True
    )
    parser.add_argument(
        "--epochs",
        type=cli.positive_int,
        default=20,
        help="passes over the training data (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    device = get_device(args.device)
    torch.manual_seed(args.seed)  # the layers' initial weights
    split = load_digits_split(seed=args.seed)
    (X, y), (X_val, y_val) = split["train"], split["validation"]
    if args.dry_run:
        X, y = X[:200], y[:200]
    epochs = 2 if args.dry_run else args.epochs
    models = {"CNN": DigitCNN(), "MLP": MLP(64, [64], 10)}
    inputs = {"CNN": digits_as_images, "MLP": lambda X: X / 16}
    for name, model in models.items():
        model.to(device)
        data = TensorDataset(inputs[name](X).to(device), y.to(device))
        losses = fit_classifier(
            model, data, epochs, seed=args.seed, device=device,
            progress=not args.no_progress,
        )  # fmt: skip
        val_accuracy = accuracy(model, inputs[name](X_val), y_val, device)
        print(
            f"{name}: {count_parameters(model)} parameters, {epochs} epochs on "
            f"{len(y)} images ({device}): training loss {losses[-1]:.3f}, "
            f"validation accuracy {val_accuracy:.3f}"
        )
    filters = models["CNN"].features[0].weight[:, 0]  # (8, 3, 3)
    fig = image_grid(filters, [f"filter {k}" for k in range(len(filters))])
    for path in cli.save_figures({"filters": fig}, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
