// autocannon ships no types; the benchmark reads a few fields of its result (bench/scenarios/api.ts).
declare module 'autocannon';
