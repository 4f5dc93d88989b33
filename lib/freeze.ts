// A value nobody may change any more: shared answers (the engine's cached `ls`) are frozen so that
// a reader cannot alter what the next reader gets, and so that its serialised bytes stay true.

/** Freezes a value and everything in it (plain objects, arrays, dates) and returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
