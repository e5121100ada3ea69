import type { PinPolicy, PolicyOptions } from '../policy.js';
import type { CaInput } from '../config.js';

export interface LoadPolicyOptions extends PolicyOptions {
  watch?: boolean;
  ca?: CaInput;
}

/** Placeholder until the pin file lands. */
export async function loadPolicy(_path: string, _options: LoadPolicyOptions = {}): Promise<PinPolicy> {
  throw new Error('loadPolicy: not implemented yet');
}
