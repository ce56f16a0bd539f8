export { loadMnist, MNIST_FEATURES, MNIST_TOTAL } from './mnist.js';
export type { LoadMnistOptions } from './mnist.js';
export { readMaybeGzip, readIdxFiles, readCsvFile, loadDataDir } from './files.js';
export type { DataDirOptions } from './files.js';
