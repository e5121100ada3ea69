// A ConfigMap or Secret volume as the kubelet writes it (its AtomicWriter): the files live in a
// timestamped folder `..2026_12_01_22_00_00.123456789`, `..data` links to it, and each file name is a
// symlink through `..data`. An update writes a new timestamped folder, points a `..data_tmp` symlink
// at it, renames `..data_tmp` over `..data` (one atomic swap) and removes the old folder. The files'
// own names never change, so no event names them (docs/node-tls.md N16).
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

let serial = 0;
const timestamped = () => `..2026_12_01_22_00_00.${String(process.pid)}${String(++serial).padStart(6, '0')}`;

/**
 * Makes the volume in `dir` (an empty or missing folder) holding `files` ({ name: text }) and returns
 * `{ path(name), update(files) }`; `update` swaps the whole content at once, as the kubelet does.
 */
export function kubeletVolume(dir, files) {
  mkdirSync(dir, { recursive: true });
  let current;
  const writeVersion = (content) => {
    const version = timestamped();
    mkdirSync(join(dir, version));
    for (const [name, text] of Object.entries(content)) {
      writeFileSync(join(dir, version, name), typeof text === 'string' ? text : JSON.stringify(text, null, 2));
    }
    return version;
  };
  current = writeVersion(files);
  symlinkSync(current, join(dir, '..data'));
  for (const name of Object.keys(files)) symlinkSync(join('..data', name), join(dir, name));
  return {
    path: (name) => join(dir, name),
    update(content) {
      const next = writeVersion(content);
      symlinkSync(next, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      rmSync(join(dir, current), { recursive: true, force: true });
      current = next;
    },
  };
}
