/**
 * @tensorflow/tfjs-node (native TensorFlow, multi-threaded) is an optional
 * dependency: its install downloads libtensorflow from outside the npm
 * registry, so it is often absent. Bench rows for it measure when it loads
 * and say "not installed" otherwise.
 */
import { selectNodeBackend } from '../../node/backend.js';

/** How to get it, for the rows' notes. */
export const TFJS_NODE_HINT =
  'optional: npm install @tensorflow/tfjs-node (downloads libtensorflow) to measure';

/**
 * Switches tfjs to the native 'tensorflow' backend (tfjs-node-gpu or tfjs-node);
 * returns the package that loaded, or undefined (the current backend is left as it was).
 */
export async function useTfjsNode(): Promise<string | undefined> {
  try {
    const choice = await selectNodeBackend({ force: 'tensorflow' });
    return choice.tried.at(-1)?.label ?? choice.name;
  } catch {
    return undefined;
  }
}
