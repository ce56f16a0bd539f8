export * from './version.js';
export * from './schemas.js';
export * from './secureAggregation.js';
export type * from './events.js';
