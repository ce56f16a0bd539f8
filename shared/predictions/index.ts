export { argmaxRows, matchRate } from './argmax.js';
