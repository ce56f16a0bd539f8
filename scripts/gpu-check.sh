#!/usr/bin/env bash
# Checks the teacher's GPU path on this machine in one short call (under 5
# minutes: every step has a timeout, 290 s in all): installs the GPU pieces
# npm can fetch (unless --no-install), then runs scripts/gpu-check.ts, which reports which tfjs backends and ONNX
# Runtime providers load, soft-label throughput of the same teacher on each,
# and the max abs difference of their soft labels from the CPU reference.
#
#   scripts/gpu-check.sh [--no-install] [--out DIR]
#
# Writes DIR/gpu-check.json and DIR/gpu-check.md (default DIR: /tmp/fedistill-gpu-check).
# Nothing here changes package.json or package-lock.json.
set -u
cd "$(dirname "$0")/.."
install=1
out=/tmp/fedistill-gpu-check
while [ $# -gt 0 ]; do
  case "$1" in
    --no-install) install=0 ;;
    --out) out="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
log="$out/gpu-check.md"
: > "$log"
say() { echo "$*" | tee -a "$log"; }

say "# fedistill GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say ""
say "- host: $(uname -srm), $(nproc) cores, node $(node -v)"
if command -v nvidia-smi > /dev/null 2>&1; then
  say "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -4 | tr '\n' ';')"
  say "- CUDA (driver): $(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | head -1)"
else
  say "- GPU: none found (no nvidia-smi)"
fi
say "- libcudart/libcudnn visible to the loader: $( (ldconfig -p 2>/dev/null | grep -oE 'lib(cudart|cudnn)\.so[.0-9]*' | sort -u | tr '\n' ' ') || true)"

if [ "$install" = 1 ]; then
  # ONNX Runtime's CUDA provider libraries come from NuGet (the project's .npmrc skips them).
  say "- installing ONNX Runtime CUDA provider: ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node"
  if timeout 60 env ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node > "$out/ort-install.log" 2>&1; then
    say "  - done"
  else
    say "  - failed: $(grep -m1 -iE 'error|ENOTFOUND|EAI_AGAIN' "$out/ort-install.log" | cut -c1-200)"
  fi
  # tfjs-node-gpu downloads libtensorflow (CUDA 11.2 / cuDNN 8.1 build) in its install script.
  if [ ! -d node_modules/@tensorflow/tfjs-node-gpu/lib ]; then
    say "- installing @tensorflow/tfjs-node-gpu@4.22.0 (no-save)"
    if timeout 90 npm install --no-save --no-audit --no-fund @tensorflow/tfjs-node-gpu@4.22.0 > "$out/tfjs-gpu-install.log" 2>&1; then
      say "  - done"
    else
      say "  - failed: $(grep -m1 -iE 'error|ENOTFOUND|EAI_AGAIN' "$out/tfjs-gpu-install.log" | cut -c1-200)"
    fi
  fi
fi
say ""
timeout 140 npx tsx scripts/gpu-check.ts --json "$out/gpu-check.json" 2> "$out/gpu-check.stderr" | tee -a "$log"
status=${PIPESTATUS[0]}
if [ "$status" != 0 ]; then
  say "gpu-check.ts exited with $status; last lines of its stderr:"
  tail -5 "$out/gpu-check.stderr" | tee -a "$log"
fi
exit "$status"
