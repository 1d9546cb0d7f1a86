#!/usr/bin/env bash
# The CUDA paths on a machine with an NVIDIA GPU, from a source checkout (nothing installed):
# the gpu-marked tests, resnet18 benched on the CPU (torch) and the GPU (torch-cuda, ONNX Runtime
# CUDA where its GPU build is installed) at batch 1 and 32, then `hwfit gap` on the same database.
# Wheels of packages missing there can be put in .whl/ (installed first, without the network).
# Usage: OUT=folder bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/hwfit-site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/hwfit-site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi -L || echo "no nvidia-smi: the CUDA rows will be skipped"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
python3 -m pytest -p no:cacheprovider -o addopts="" -m gpu tests/gpu -q -rs 2>&1 \
    | tee "$OUT/pytest.log"
python3 -m hwfit bench timm:resnet18 -r torch,torch-cuda,onnxruntime-cuda -b 1,32 \
    --duration 2 --db "$OUT/gpu.sqlite" 2>&1 | tee "$OUT/bench.txt"
python3 -m hwfit gap timm:resnet18 --duration 2 --db "$OUT/gpu.sqlite" --out "$OUT" 2>&1 \
    | tee "$OUT/gap.txt"
