export * from './config.js';
export * from './updateBound.js';
export * from './modelGuard.js';
