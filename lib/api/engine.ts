// The console's handle on the one engine (kept on globalThis by the engine module itself).
import { Engine } from '../engine';

export function engine(): Engine {
  return Engine.get();
}
