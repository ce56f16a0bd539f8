/**
 * tfjs backends for browsers, fastest first: WebGPU, WebGL, wasm (SIMD),
 * then the pure-JS cpu backend. WebGL on a software rasteriser (SwiftShader,
 * llvmpipe: what headless Chromium and GPU-less machines get) is slower than
 * wasm SIMD, so it is skipped unless forced. The WebGPU and wasm backends are
 * imported only when tried (separate chunks of the bundle).
 */
import type {
  BackendCandidate,
  BackendChoice,
  SelectBackendOptions,
} from '../../shared/backend/index.js';
import { selectBackend } from '../../shared/backend/index.js';

export interface BrowserBackendOptions {
  /** URL prefix the wasm backend loads its `.wasm` binaries from (ending in `/`). */
  wasmPaths: string;
  /** Use WebGL even on a software rasteriser. Defaults to false (true when webgl is forced). */
  allowSoftwareWebgl?: boolean;
}

interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<unknown> };
}

/** The WebGL renderer's name (unmasked when the browser allows), or undefined without WebGL. */
export function webglRenderer(): string | undefined {
  const canvas = document.createElement('canvas');
  const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as
    WebGLRenderingContext | WebGL2RenderingContext | null;
  if (!gl) return undefined;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = info
    ? (gl.getParameter(info.UNMASKED_RENDERER_WEBGL) as unknown)
    : (gl.getParameter(gl.RENDERER) as unknown);
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return String(renderer);
}

const SOFTWARE_RENDERERS = /swiftshader|llvmpipe|softpipe|software|microsoft basic render/i;

/** Candidates in preference order: webgpu, webgl, wasm, cpu. */
export function browserBackendCandidates(options: BrowserBackendOptions): BackendCandidate[] {
  return [
    {
      name: 'webgpu',
      load: async () => {
        const gpu = (navigator as Navigator & GpuNavigator).gpu;
        if (!gpu) throw new Error('this browser has no WebGPU (navigator.gpu is missing)');
        if (!(await gpu.requestAdapter())) throw new Error('WebGPU offers no adapter here');
        await import('@tensorflow/tfjs-backend-webgpu');
      },
    },
    {
      name: 'webgl',
      load: async () => {
        const renderer = webglRenderer();
        if (renderer === undefined) throw new Error('no WebGL context');
        if (!options.allowSoftwareWebgl && SOFTWARE_RENDERERS.test(renderer)) {
          throw new Error(`WebGL renders in software (${renderer}); wasm is faster`);
        }
        // The webgl backend ships inside @tensorflow/tfjs.
      },
    },
    {
      name: 'wasm',
      load: async () => {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        wasm.setWasmPaths(options.wasmPaths);
      },
    },
    { name: 'cpu', load: async () => {} },
  ];
}

/** selectBackend over browserBackendCandidates(); `force` may be 'webgpu', 'webgl', 'wasm' or 'cpu'. */
export function selectBrowserBackend(
  options: BrowserBackendOptions & Readonly<Partial<SelectBackendOptions>>,
): Promise<BackendChoice> {
  const { force, log, ...rest } = options;
  return selectBackend(
    browserBackendCandidates({
      ...rest,
      allowSoftwareWebgl: rest.allowSoftwareWebgl ?? force === 'webgl',
    }),
    { ...(force !== undefined ? { force } : {}), ...(log ? { log } : {}) },
  );
}
