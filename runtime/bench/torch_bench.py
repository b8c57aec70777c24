#!/usr/bin/python3
"""Times the bench U-Net in PyTorch: the same network, weights and input as
runtime/testdata/unet-fp32.onnx (rebuilt from make_models.py's seed), on the
CPU with a fixed number of threads. Prints one JSON line.

Usage: torch_bench.py TESTDATA_DIR THREADS D H W RUNS OUT_FILE [DEVICE]
OUT_FILE receives the output probabilities as little-endian float32.
"""
import json
import resource
import sys
import time

import numpy as np
import torch


def main():
    testdata, threads, d, h, w, runs, out_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
    device = sys.argv[8] if len(sys.argv) > 8 else "cpu"
    sys.path.insert(0, testdata)
    import make_models
    torch.set_num_threads(threads)
    net = make_models.make_unet([8, 16, 32, 64], 11).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    n = 2 * d * h * w
    # Same input as the Go bench: sin(i*0.37)*1.5 + cos(i*0.011), i over the flat tensor.
    i = np.arange(n, dtype=np.float64)
    x = (np.sin(i * 0.37) * 1.5 + np.cos(i * 0.011)).astype(np.float32).reshape(1, 2, d, h, w)
    x = torch.from_numpy(x).to(device)
    times, cpu = [], []
    with torch.no_grad():
        t0 = time.perf_counter()
        y = net(x)
        sync()
        first = time.perf_counter() - t0
        for _ in range(runs):
            c0 = time.process_time()
            t0 = time.perf_counter()
            y = net(x)
            sync()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    y.cpu().numpy().astype("<f4").tofile(out_file)
    print(json.dumps({"first_s": first, "times_s": times, "cpu_s": cpu,
                      "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "torch": torch.__version__ + (" " + torch.cuda.get_device_name() if device.startswith("cuda") else "")}))


if __name__ == "__main__":
    main()
