/** Placeholder until inspect() lands. */
export interface InspectResult {
  target: string;
}

export async function inspect(_target: string, _options: Record<string, unknown> = {}): Promise<InspectResult> {
  throw new Error('inspect: not implemented yet');
}
