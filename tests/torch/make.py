#!/usr/bin/env python3
"""Writes data.json and expected.json for the models under tests/torch/
with PyTorch (float64 autograd), an independent source for the values and
gradients that `cli/tests/cli.rs` compares `sharegrad eval` against.

The fixtures under tests/fixtures/ came with the project; these are ours,
for models written since. Run with a Python that has torch:
    /work/venv-torch/bin/python tests/torch/make.py
and commit the JSON it writes (the tests do not need torch).
"""

import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def gelu_mlp():
    """examples/gelu_mlp.eq: E = sum_k v_k gelu_tanh(sum_j W_kj x_j)."""
    n, m = 5, 3
    g = torch.Generator().manual_seed(6)
    x = torch.randn(n, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(m, n, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(m, generator=g, dtype=torch.float64, requires_grad=True)
    h = torch.nn.functional.gelu(W @ x, approximate="tanh")
    E = (v * h).sum()
    E.backward()
    data = {
        "sizes": {"n": n, "m": m},
        "tensors": {"x": x.tolist(), "W": W.tolist(), "v": v.tolist()},
    }
    expected = {
        "values": {"h": h.tolist(), "E": E.item()},
        "grads": {"x": x.grad.tolist(), "W": W.grad.tolist(), "v": v.grad.tolist()},
    }
    return data, expected


for name, make in [("gelu_mlp", gelu_mlp)]:
    data, expected = make()
    for file, obj in [("data.json", data), ("expected.json", expected)]:
        with open(os.path.join(HERE, name, file), "w") as fh:
            json.dump(obj, fh, indent=1)
            fh.write("\n")
    print(f"wrote tests/torch/{name}")
