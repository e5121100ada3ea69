import type { AgentOptions, Agent } from 'node:https';
import type { PinPolicy } from '../policy.js';

/** Placeholder until the pinned https.Agent lands. */
export function pinnedAgent(_policy: PinPolicy, _options: AgentOptions = {}): Agent {
  throw new Error('pinnedAgent: not implemented yet');
}
