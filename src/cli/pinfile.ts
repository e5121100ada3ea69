import { CertpinError, isCertpinError } from '../errors.js';
import { readPinFile, type PinFile } from '../pinfile/store.js';

/**
 * Reads the `--config` pin file of a command: a missing or unreadable file becomes one clear
 * `ERR_CERTPIN_INVALID_INPUT` line rather than Node's errno text; an invalid one keeps the pin file
 * store's message, which names the field at fault.
 */
export async function readConfigFile(path: string): Promise<PinFile> {
  try {
    return await readPinFile(path);
  } catch (error) {
    // The store says which file cannot be read; the CLI names the option it came from.
    const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
    if (!isCertpinError(error, 'ERR_CERTPIN_INVALID_INPUT') || cause?.code === undefined) throw error;
    throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', error.message.replace(/^cannot read /, 'cannot read --config '), { cause });
  }
}
