"""PyTorch (and numpy) side of `npm run bench`: the same models and work as
the TypeScript sections, measured on this machine in the same run.

Run by bench/lib/pytorch.ts with Debian's /usr/bin/python3 (python3-torch):

    python3 bench/pytorch/torch_bench.py '<json request>'

The request is {"threads": N, "tasks": [...]}; each task is one of
    {"kind": "probe"}
    {"kind": "train-mlp", "sizes": [784, 800, 800, 10], "batch": 128, "seconds": 3}
    {"kind": "train-cnn", "filters": [8, 16], "hidden": [64], "classes": 10,
     "kernel": 3, "batch": 128, "seconds": 3}
    {"kind": "sgemm", "m": 128, "k": 800, "n": 800, "seconds": 1}
    {"kind": "infer-mlp", "sizes": [784, 1200, 1200, 10], "batch": 256,
     "count": 4096, "temperature": 4, "seconds": 3}  (count: distinct inputs cycled through)
    {"kind": "export-onnx-mlp", "sizes": [...], "path": "/tmp/x.onnx"}
and the answer, one JSON object on stdout, has one result per task in order
({"error": "..."} for a task that could not run). Nothing here is a quoted
figure: every number is timed now.

Training matches bench/sections/training.ts: random inputs in [0, 1),
integer labels, softmax cross-entropy on logits, plain SGD (lr 0.01), one
optimizer step per batch, the loss read back every step (as tfjs reads it).
"""

import json
import os
import sys
import time


def _versions():
    out = {"python": sys.version.split()[0], "torch": None, "numpy": None}
    try:
        import numpy

        out["numpy"] = numpy.__version__
    except ImportError:
        pass
    try:
        import torch

        out["torch"] = torch.__version__
        out["blas"] = _blas_name(torch)
    except ImportError:
        pass
    return out


def _blas_name(torch):
    """The BLAS library torch actually loaded (Debian's libblas.so.3 is an alternative:
    the reference implementation unless OpenBLAS/BLIS is installed), from /proc/self/maps."""
    torch.mm(torch.ones((2, 2)), torch.ones((2, 2)))
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower() or "mkl" in line.lower()}
    except OSError:
        return "unknown BLAS"
    names = sorted({os.path.realpath(p) for p in paths if p.startswith("/")})
    for real in names:
        lower = real.lower()
        if "openblas" in lower:
            return "OpenBLAS"
        if "blis" in lower:
            return "BLIS"
        if "mkl" in lower:
            return "MKL"
    for real in names:
        if "/blas/libblas" in real:
            return "reference BLAS (libblas3)"
    return "unknown BLAS"


def _timed_loop(step, seconds, min_iterations=3):
    """Runs `step` until `seconds` have passed (at least min_iterations); returns (iterations, elapsed)."""
    iterations = 0
    started = time.perf_counter()
    while True:
        step()
        iterations += 1
        elapsed = time.perf_counter() - started
        if iterations >= min_iterations and elapsed >= seconds:
            return iterations, elapsed


def _mlp(torch, sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _cnn(torch, task):
    kernel = task.get("kernel", 3)
    layers = []
    channels, side = 1, 28
    for filters in task["filters"]:
        layers += [
            torch.nn.Conv2d(channels, filters, kernel),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        ]
        channels, side = filters, (side - kernel + 1) // 2
    layers.append(torch.nn.Flatten())
    width = channels * side * side
    for units in task["hidden"]:
        layers += [torch.nn.Linear(width, units), torch.nn.ReLU()]
        width = units
    layers.append(torch.nn.Linear(width, task["classes"]))
    return torch.nn.Sequential(*layers)


def _train(torch, model, input_shape, classes, batch, seconds):
    generator = torch.Generator().manual_seed(1)
    x = torch.rand((batch, *input_shape), generator=generator)
    y = torch.randint(0, classes, (batch,), generator=generator)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()

    for _ in range(3):
        step()
    iterations, elapsed = _timed_loop(step, seconds)
    params = sum(p.numel() for p in model.parameters())
    return {"samplesPerSecond": iterations * batch / elapsed, "steps": iterations, "params": params}


def _sgemm_torch(torch, m, k, n, seconds):
    a = torch.rand((m, k))
    b = torch.rand((k, n))
    out = torch.empty((m, n))
    for _ in range(3):
        torch.mm(a, b, out=out)
    iterations, elapsed = _timed_loop(lambda: torch.mm(a, b, out=out), seconds, 10)
    return {"gflops": 2 * m * k * n * iterations / elapsed / 1e9, "library": "torch.mm"}


def _sgemm_numpy(m, k, n, seconds):
    import numpy

    a = numpy.random.rand(m, k).astype(numpy.float32)
    b = numpy.random.rand(k, n).astype(numpy.float32)
    out = numpy.empty((m, n), dtype=numpy.float32)
    for _ in range(3):
        numpy.matmul(a, b, out=out)
    iterations, elapsed = _timed_loop(lambda: numpy.matmul(a, b, out=out), seconds, 10)
    return {"gflops": 2 * m * k * n * iterations / elapsed / 1e9, "library": "numpy.matmul"}


def _infer(torch, task):
    """Soft labels as the coordinator makes them: logits batch by batch, softmax(logits / T)."""
    model = _mlp(torch, task["sizes"]).eval()
    batch, temperature = task["batch"], task["temperature"]
    batches = max(1, task["count"] // batch)
    x = torch.rand((batches * batch, task["sizes"][0]), generator=torch.Generator().manual_seed(2))
    position = [0]

    def label_batch():
        start = (position[0] % batches) * batch
        position[0] += 1
        with torch.inference_mode():
            logits = model(x[start : start + batch])
            torch.softmax(logits / temperature, dim=1).numpy()

    label_batch()
    iterations, elapsed = _timed_loop(label_batch, task["seconds"])
    return {"samplesPerSecond": iterations * batch / elapsed}


def _export_onnx(torch, task):
    model = _mlp(torch, task["sizes"]).eval()
    example = torch.rand((1, task["sizes"][0]))
    torch.onnx.export(
        model,
        example,
        task["path"],
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
    )
    return {"path": task["path"]}


def _run(task, threads):
    kind = task["kind"]
    if kind == "probe":
        return _versions()
    if kind == "sgemm":
        try:
            import torch
        except ImportError:
            return _sgemm_numpy(task["m"], task["k"], task["n"], task["seconds"])
        return _sgemm_torch(torch, task["m"], task["k"], task["n"], task["seconds"])
    import torch

    if kind == "train-mlp":
        sizes = task["sizes"]
        return _train(torch, _mlp(torch, sizes), (sizes[0],), sizes[-1], task["batch"], task["seconds"])
    if kind == "train-cnn":
        return _train(torch, _cnn(torch, task), (1, 28, 28), task["classes"], task["batch"], task["seconds"])
    if kind == "infer-mlp":
        return _infer(torch, task)
    if kind == "export-onnx-mlp":
        return _export_onnx(torch, task)
    raise ValueError(f"unknown task kind {kind!r}")


def main():
    request = json.loads(sys.argv[1])
    threads = int(request["threads"])
    try:
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
    except ImportError:
        pass
    results = []
    for task in request["tasks"]:
        try:
            results.append(_run(task, threads))
        except Exception as error:  # reported per task; the other tasks still run
            results.append({"error": f"{type(error).__name__}: {error}"})
    json.dump({"threads": threads, "cpus": os.cpu_count(), "results": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
