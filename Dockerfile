# One image for both roles: `fedistill serve` (coordinator) and `fedistill join` (client).
# With internet at build time, npm also installs @tensorflow/tfjs-node(-gpu) (optional
# dependencies), and the backend selection picks the native backend over wasm.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# .npmrc skips onnxruntime-node's CUDA-provider download (see docs/gpu.md for a GPU image).
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
ENTRYPOINT ["node", "bin/fedistill.js"]
