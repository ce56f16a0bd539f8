export * from './version.js';
export * from './schemas.js';
export type * from './events.js';
