# syntax=docker/dockerfile:1
#
# giraffe's container images, from one Dockerfile:
#
#   docker build --target cpu  -t giraffe:cpu  .   # node:20-bookworm-slim, onnxruntime's bundled CPU build
#   docker build --target cuda -t giraffe:cuda .   # NVIDIA CUDA 12 + cuDNN 9 runtime, onnxruntime's CUDA provider
#   docker build --target webgpu -t giraffe:webgpu . # any Vulkan GPU (NVIDIA, AMD, Intel): the CPU image + the Vulkan loader
#
# One image runs any giraffe command: `docker run giraffe:cpu serve`,
# `docker run --gpus 1 giraffe:cuda worker --device cuda:0`, `… models pull REPO`.
# No model weights are baked in or downloaded at build time: models live on the
# /models volume (giraffe models pull, or an optimum-cli export you copy there);
# the built-in demo model is written to /data on first use.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04

# --- build: compile TypeScript ----------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: onnxruntime's installer has nothing to do for the CPU build,
# and `prepare` would compile before the sources are here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# --- production dependencies, CPU ------------------------------------------
FROM ${NODE_IMAGE} AS deps-cpu
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- production dependencies, CUDA: onnxruntime-node with its CUDA provider --
FROM deps-cpu AS deps-cuda
# Fetches onnxruntime's CUDA 12 execution provider libraries (NuGet) into
# node_modules/onnxruntime-node with its own install script, run directly: npm
# runs no dependency install scripts here (--ignore-scripts; package.json
# `allowScripts` denies it for a plain `npm install`).
ENV ONNXRUNTIME_NODE_INSTALL=cuda12
RUN node node_modules/onnxruntime-node/script/install.js \
 && ls node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

# --- the parts both images share --------------------------------------------
FROM ${NODE_IMAGE} AS app
WORKDIR /app
COPY package.json ./
COPY bin ./bin
COPY --from=build /app/dist ./dist
COPY docker/entrypoint.sh docker/healthcheck.js ./docker/

# --- CUDA image ----------------------------------------------------------------
FROM ${CUDA_IMAGE} AS cuda
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 giraffe \
 && useradd --uid 10001 --gid giraffe --home-dir /app --no-create-home --shell /usr/sbin/nologin giraffe \
 && mkdir -p /models /data && chown giraffe:giraffe /models /data
# Node.js from the official image (its binary runs on Ubuntu 22.04's glibc).
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=deps-cuda /app/node_modules ./node_modules
COPY --from=app /app ./
ENV NODE_ENV=production MODELS_DIR=/models DATA_DIR=/data
USER giraffe
VOLUME ["/models", "/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["node", "/app/docker/healthcheck.js"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]
CMD ["serve"]

# --- WebGPU image: any GPU with a Vulkan driver ----------------------------------
# onnxruntime-node's bundled build already has the WebGPU provider (Dawn); it needs
# the Vulkan loader, and the GPU's Vulkan driver: NVIDIA's comes from the host
# through the NVIDIA Container Toolkit when NVIDIA_DRIVER_CAPABILITIES includes
# `graphics` (compute alone gives CUDA, not Vulkan); AMD's and Intel's are Mesa's
# (RADV, ANV), installed here, with /dev/dri mapped in. Mesa's software driver
# (lavapipe) is removed so that a container without a GPU fails at start-up
# instead of running on the CPU through a software GPU.
FROM ${NODE_IMAGE} AS webgpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini libvulkan1 mesa-vulkan-drivers \
 && rm -f /usr/share/vulkan/icd.d/lvp_icd.*.json \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 giraffe \
 && useradd --uid 10001 --gid giraffe --home-dir /app --no-create-home --shell /usr/sbin/nologin giraffe \
 && mkdir -p /models /data && chown giraffe:giraffe /models /data
WORKDIR /app
COPY --from=deps-cpu /app/node_modules ./node_modules
COPY --from=app /app ./
ENV NODE_ENV=production MODELS_DIR=/models DATA_DIR=/data DEVICE=webgpu \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics XDG_RUNTIME_DIR=/tmp
USER giraffe
VOLUME ["/models", "/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["node", "/app/docker/healthcheck.js"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]
CMD ["serve"]

# --- CPU image (the default target) --------------------------------------------
FROM ${NODE_IMAGE} AS cpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 giraffe \
 && useradd --uid 10001 --gid giraffe --home-dir /app --no-create-home --shell /usr/sbin/nologin giraffe \
 && mkdir -p /models /data && chown giraffe:giraffe /models /data
WORKDIR /app
COPY --from=deps-cpu /app/node_modules ./node_modules
COPY --from=app /app ./
ENV NODE_ENV=production MODELS_DIR=/models DATA_DIR=/data
USER giraffe
VOLUME ["/models", "/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["node", "/app/docker/healthcheck.js"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]
CMD ["serve"]
