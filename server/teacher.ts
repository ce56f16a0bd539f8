/**
 * The teacher types and loaders under their historical path. New code
 * imports server/teachers/; `Teacher` here is the synchronous tfjs teacher
 * that sim/ calls with `predictLogits`, until sim awaits `logits` instead.
 */
import * as tf from '@tensorflow/tfjs';
import type { ForwardTeacherOptions, SyncTeacher } from './teachers/index.js';
import { loadTfjsTeacher, teacherFromForward as forwardTeacher } from './teachers/index.js';

export type { TeacherOutputs } from './teachers/index.js';

/** server/teachers' teacherFromForward, with the class count read from one blank row when not given. */
export function teacherFromForward(
  options: Omit<ForwardTeacherOptions, 'numClasses'> & { numClasses?: number },
): SyncTeacher {
  const numClasses =
    options.numClasses ??
    tf.tidy(() => options.forward(tf.zeros([1, ...options.inputShape])).shape.at(-1)!);
  return forwardTeacher({ ...options, numClasses });
}

/** The teacher sim/ runs: a tfjs teacher, answering synchronously. */
export type Teacher = SyncTeacher;

/** Loads a teacher from a tfjs model.json on disk, layers or graph format. */
export const loadTeacherFromFile = loadTfjsTeacher;
