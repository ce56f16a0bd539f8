export * from './proxyInputs.js';
