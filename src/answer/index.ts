/** Answer module (PURE): the question → decision core and its vocabulary. */
export * from './types.js';
export { answer } from './answer.js';
export type { AnswerFlags } from './answer.js';
