// Public API of shared/backend: choosing a tfjs backend from ordered candidates.
export { selectBackend } from './selectBackend.js';
export type {
  BackendAttempt,
  BackendCandidate,
  BackendChoice,
  SelectBackendOptions,
} from './selectBackend.js';
