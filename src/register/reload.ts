// certpin/register following its pin file (pinfile/follow.ts: any event in its folder, so also a
// Kubernetes `..data` swap): a valid new version is put in force and every open connection re-checked
// (G2); an invalid one is reported once per distinct content as a `CertpinWarning`, and the last
// valid pins stay in force.
import { followPinFile } from '../pinfile/follow.js';
import { contentOf, validatePinFile, type PinFileInForce } from './pin-file.js';

/**
 * Follows `inForce.path`; `onApplied` runs after each new version was put in force. `readNow`: read
 * the file at once (a worker starts from its parent's pins, and the file may have changed since).
 * A folder that cannot be watched is a warning: the pins in force stay, without reloads.
 */
export function followPinFileChanges(inForce: PinFileInForce, onApplied: () => void, readNow: boolean): void {
  try {
    const follower = followPinFile({
      path: inForce.path,
      prepare: (text) => {
        const loaded = validatePinFile(inForce.path, text);
        return {
          ...contentOf(loaded),
          apply: () => {
            inForce.apply(loaded);
            onApplied();
            return inForce.version;
          },
        };
      },
      warningDetail: 'certpin/register keeps the last valid pin file in force.',
    });
    follower.start(inForce.content, readNow);
  } catch (error) {
    process.emitWarning(`certpin: cannot follow ${inForce.path} for changes: ${(error as Error).message}`, { type: 'CertpinWarning' });
  }
}
