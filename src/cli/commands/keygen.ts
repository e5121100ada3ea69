import { certpinCommand } from '../../lib/shell.js';
import { createBackupKey, defaultPublicKeyPath, KEY_TYPES, type KeyType } from '../../ops/keygen.js';
import { addPin } from '../../pinfile/edit.js';
import { findHostKey } from '../../pinfile/store.js';
import { defineCommand, UsageError } from '../command.js';
import { readConfigFile } from '../pinfile.js';

export default defineCommand({
  name: 'keygen',
  summary: 'generate a backup key (0600, never over an existing file) and print its pin',
  usage: `Usage: certpin keygen --type TYPE --out FILE [--pub FILE] [--csr FILE --subject DN [--san NAME…]] [--config pins.json --host HOST]

Generates a private key to keep offline as the backup for a pinned host: when the current key is
lost or compromised, a certificate for this one keeps pinned clients working. The key is written as
PKCS#8 PEM with mode 0600, and never over an existing file. Its public key goes beside it as PEM
(backup.key gives backup.pub.pem), the file \`curl --pinnedpubkey\` reads. Prints the key's pin on
stdout.

Options:
  --type TYPE       ${KEY_TYPES.join(', ')}
  --out FILE        where to write the private key (must not exist)
  --pub FILE        where to write the public key PEM (must not exist; default: beside --out)
  --csr FILE        also write a certificate signing request signed by the key (must not exist)
  --subject DN      the CSR's subject as an RFC 4514 string, e.g. "CN=api.example.com,O=Example"
  --san NAME        a DNS name or IP address the CSR asks for (repeatable); CAs need them, not the CN
  --config FILE     add the pin to this pin file as a backup pin of --host
  --host HOST       the host entry of --config
  --json            print {"pin", "type", "keyPath", "csrPath", "publicKeyPath", "host"}

Exit status: 0 when the key was written, 2 on a usage error or when a file exists.

Examples:
  certpin keygen --type ec-p256 --out backup-2027.key
  certpin keygen --type rsa-3072 --out backup.key --csr backup.csr --subject "CN=api.example.com,O=Example" --san api.example.com
  certpin keygen --type ec-p384 --out backup.key --config pins.json --host api.example.com`,
  options: {
    type: { type: 'string' },
    out: { type: 'string' },
    csr: { type: 'string' },
    subject: { type: 'string' },
    san: { type: 'string', multiple: true },
    pub: { type: 'string' },
    config: { type: 'string' },
    host: { type: 'string' },
  },
  allowPositionals: false,
  async run({ values, json, out }) {
    const { type, out: keyPath, csr, subject, config, host, san, pub } = values;
    if (type === undefined) throw new UsageError(`--type is required: one of ${KEY_TYPES.join(', ')}`);
    if (!(KEY_TYPES as readonly string[]).includes(type)) throw new UsageError(`--type must be one of ${KEY_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
    if (keyPath === undefined) throw new UsageError('--out FILE is required: where to write the private key');
    if ((csr === undefined) !== (subject === undefined)) throw new UsageError('--csr and --subject go together: the CSR needs a subject, e.g. --subject "CN=api.example.com"');
    if (san !== undefined && csr === undefined) throw new UsageError('--san goes with --csr: the names are asked for in the CSR');
    if ((config === undefined) !== (host === undefined)) throw new UsageError('--config and --host go together: the pin is added to that host entry');
    let entry: string | undefined;
    if (config !== undefined && host !== undefined) {
      // Checked before the key exists, so a mistyped host leaves no orphan key behind.
      const { document } = await readConfigFile(config);
      entry = findHostKey(document, host);
      if (entry === undefined) throw new UsageError(`${config} has no entry for ${host}; add it first: ${certpinCommand('init', host, '--config', config)}`);
    }
    const key = await createBackupKey({
      type: type as KeyType,
      out: keyPath,
      publicKeyOut: pub ?? defaultPublicKeyPath(keyPath),
      csr: csr !== undefined && subject !== undefined ? { path: csr, subject, san } : undefined,
    });
    if (config !== undefined && entry !== undefined) {
      try {
        await addPin(config, entry, key.pin, { status: 'backup', note: `certpin keygen ${key.type}, key ${keyPath}, ${new Date().toISOString().slice(0, 10)}` });
      } catch (error) {
        throw new Error(`wrote ${keyPath}, but could not add its pin to ${config}: ${(error as Error).message}; add it with: ${certpinCommand('add', entry, key.pin, '--status', 'backup', '--config', config)}`, { cause: error });
      }
    }
    if (json) {
      out.json({ pin: key.pin, type: key.type, keyPath: key.keyPath, csrPath: key.csrPath, publicKeyPath: key.publicKeyPath, host: entry ?? null });
      return 0;
    }
    out.line(key.pin);
    out.note(`wrote ${keyPath} (${key.type}, mode 0600), its public key ${key.publicKeyPath ?? ''}${key.csrPath !== null ? ` and ${key.csrPath}` : ''}${entry !== undefined ? `; added as a backup pin of ${entry} in ${config}` : ''}; keep the key offline`);
    return 0;
  },
});
