import type { Dispatcher } from 'undici';
import type { PinPolicy } from '../policy.js';

/** Placeholder until the pinned undici dispatcher lands. */
export function pinnedDispatcher(_policy: PinPolicy, _options: Record<string, unknown> = {}): Dispatcher {
  throw new Error('pinnedDispatcher: not implemented yet');
}

/** Placeholder until the pinned fetch lands. */
export function pinnedFetch(_policy: PinPolicy, _options: Record<string, unknown> = {}): typeof fetch {
  throw new Error('pinnedFetch: not implemented yet');
}
