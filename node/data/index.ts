export { loadMnist, MNIST_FEATURES, MNIST_TOTAL } from './mnist.js';
export type { LoadMnistOptions } from './mnist.js';
export { readMaybeGzip, readIdxFiles, readCsvFile } from './files.js';
export {
  EMBEDDED_MNIST,
  NAMED_DATASETS,
  checkFitsModel,
  checkSameShape,
  chooseSplit,
  listFolderSplits,
  loadDataDir,
  loadDataSource,
  parseSourceSpec,
  requireLabels,
} from './source.js';
export type { DataSourceOptions, FolderSplit, LoadedData, NamedDataset } from './source.js';
export { writeIdxDataset } from './write.js';
export { decodeImageFile, IMAGE_FILE, listImageSplits, loadImageSplit } from './imageFolder.js';
export type { ImageChannels, ImageSplit, LoadedImages } from './imageFolder.js';
