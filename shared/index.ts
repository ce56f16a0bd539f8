// The package entry: everything a user of fedistill's isomorphic core imports.
export * from './errors.js';
