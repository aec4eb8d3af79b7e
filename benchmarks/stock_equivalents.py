"""Is what modelpick builds as fast as the framework's stock equivalent?

    python benchmarks/stock_equivalents.py [--device cpu|cuda] [--quick]

Compares, with torch.utils.benchmark (warm-up, then adaptive repeats), the PyTorch backend's
build against:
- a stack of nn.TransformerEncoderLayer (pre-norm, GELU, batch_first), same sizes;
- a torchvision-style ResNet-18 (torchvision's own BasicBlock layout, written out here because
  torchvision from PyPI does not import beside the CPU build of torch used on these machines).
Inference (eval, no grad) and a training step (forward, backward, AdamW) are timed for both;
weights are not shared, shapes and parameter counts are (checked).
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch
from torch import nn
from torch.utils import benchmark

from modelpick.advise.catalog import build_for, load_catalog
from modelpick.backends import get_backend
from modelpick.families import IOSpec
from modelpick.families.transformer import TransformerParams, _encoder_layer
from modelpick.graph import Graph, seq

TORCH = get_backend("torch")


def _time(fn, label: str, sub: str, min_run_time: float) -> benchmark.Measurement:
    fn()  # warm-up (allocations, kernel selection)
    timer = benchmark.Timer(
        stmt="fn()",
        globals={"fn": fn},
        label=label,
        sub_label=sub,
        num_threads=torch.get_num_threads(),
    )
    return timer.blocked_autorange(min_run_time=min_run_time)


def _steps(model, x, device):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def infer():
        model.eval()
        with torch.inference_mode():
            model(x)
        if device == "cuda":
            torch.cuda.synchronize()

    def train():
        model.train()
        opt.zero_grad(set_to_none=True)
        model(x).float().mean().backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()

    return infer, train


def transformer_case(device, dim, depth, length, batch):
    hp = TransformerParams(dim=dim, depth=depth, heads=dim // 64, dropout=0.1, norm="pre")
    nodes = []
    for _ in range(depth):
        nodes += _encoder_layer(hp)
    graph = Graph("encoder", (length, dim), seq(*nodes), layout="sequence")
    ours = TORCH.build(graph, device).model
    stock = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(
            dim, dim // 64, 4 * dim, 0.1, activation="gelu", batch_first=True, norm_first=True
        ),
        depth,
        enable_nested_tensor=False,
    ).to(device)
    x = torch.randn(batch, length, dim, device=device)
    return f"encoder d{dim} x{depth}, L{length}, batch {batch}", ours, stock, x


class BasicBlock(nn.Module):  # torchvision.models.resnet.BasicBlock
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):  # torchvision.models.resnet18's layout
    def __init__(self, classes=1000):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        layers, inplanes = [], 64
        for i, planes in enumerate((64, 128, 256, 512)):
            for j in range(2):
                layers.append(BasicBlock(inplanes, planes, 2 if i > 0 and j == 0 else 1))
                inplanes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def resnet_case(device, size, batch):
    arch = load_catalog().get("resnet18")
    io = IOSpec("vision", "classification", "image", (3, size, size), 1000)
    ours = TORCH.build(build_for(arch, io).graph, device).model
    stock = ResNet18().to(device)
    if device == "cuda":
        stock = stock.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size, device=device)
    if device == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    return f"resnet18 {size}×{size}, batch {batch}", ours, stock, x


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    args = parser.parse_args()
    dev = args.device
    run_time = 0.3 if args.quick else 0.6
    if dev == "cpu":
        cases = [
            transformer_case(dev, 256, 2, 128, 8),
            resnet_case(dev, 128 if args.quick else 224, 4),
        ]
    else:
        cases = [transformer_case(dev, 768, 4, 256, 32), resnet_case(dev, 224, 64)]
    print(
        f"device: {torch.cuda.get_device_name() if dev == 'cuda' else 'cpu'}, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print(f"{'case':<40} {'mode':<6} {'modelpick ms':>13} {'stock ms':>10} {'ratio':>7}")
    worst = 0.0
    for name, ours, stock, x in cases:
        n_ours = sum(p.numel() for p in ours.parameters())
        n_stock = sum(p.numel() for p in stock.parameters())
        assert n_ours == n_stock, (name, n_ours, n_stock)
        for mode, (fo, fs) in zip(
            ("infer", "train"), zip(_steps(ours, x, dev), _steps(stock, x, dev))
        ):
            # Interleaved rounds, so that a noisy neighbour hits both alike; medians of rounds.
            ours_s, stock_s = [], []
            for _ in range(args.rounds):
                ours_s.append(_time(fo, name, "modelpick", run_time).median)
                stock_s.append(_time(fs, name, "stock", run_time).median)
            mo, ms = statistics.median(ours_s), statistics.median(stock_s)
            ratio = mo / ms
            worst = max(worst, ratio)
            print(f"{name:<40} {mode:<6} {mo * 1e3:>13.2f} {ms * 1e3:>10.2f} {ratio:>7.2f}")
    print(f"\nworst ratio (modelpick / stock): {worst:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
