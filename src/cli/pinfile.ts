import { CertpinError } from '../errors.js';
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
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : undefined;
    if (why === undefined) throw error;
    throw new CertpinError('ERR_CERTPIN_INVALID_INPUT', `cannot read --config ${path}: ${why}`, { cause: error });
  }
}
