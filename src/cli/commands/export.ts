import { EXPORT_FORMATS, exportPins, type ExportFormat } from '../../index.js';
import { defineCommand, UsageError } from '../command.js';
import { readConfigFile } from '../pinfile.js';

export default defineCommand({
  name: 'export',
  summary: 'write the trusted pins for OkHttp, Android, TrustKit, curl or HPKP',
  usage: `Usage: certpin export --config pins.json --format FORMAT [--host HOST]

Prints the trusted pins (active and backup) of the pin file in another system's own syntax:
  okhttp     Kotlin code building OkHttp's CertificatePinner (*. and **. patterns as they are)
  android    network_security_config.xml (pin-set expiration from "expires", includeSubdomains)
  trustkit   a Swift dictionary literal for TrustKit.initSharedInstance(withConfiguration:), with
             TrustKit's kTSK… keys (the same keys make the Objective-C NSDictionary)
  curl       per host: the host, a tab, and the --pinnedpubkey value (sha256//A;sha256//B)
  hpkp       per host: the domain, a tab, and the Public-Key-Pins header value (max-age from
             "expires", else 60 days)
Android, TrustKit and HPKP cannot say "exactly one label": *.x becomes x with all subdomains.
That, and whatever else a format cannot express, is said on stderr; stdout holds only the export.
Pin sets past their "expires" are left out.

Options:
  --config FILE     the pin file (required)
  --format FORMAT   ${EXPORT_FORMATS.join(', ')} (required)
  --host HOST       only the entry for HOST (a pattern as written, or a host name it matches)
  --json            print {"format", "text", "notes"}

Exit status: 0 when written, 2 on a usage error or an unreadable or invalid pin file.

Examples:
  certpin export --config pins.json --format android > app/src/main/res/xml/network_security_config.xml
  curl --pinnedpubkey "$(certpin export --config pins.json --format curl --host api.example.com | cut -f2)" https://api.example.com/`,
  options: { config: { type: 'string' }, format: { type: 'string' }, host: { type: 'string' } },
  allowPositionals: false,
  async run({ values, json, out }) {
    if (values.config === undefined) throw new UsageError('--config pins.json is required');
    if (values.format === undefined) throw new UsageError(`--format is required: one of ${EXPORT_FORMATS.join(', ')}`);
    if (!(EXPORT_FORMATS as readonly string[]).includes(values.format)) {
      throw new UsageError(`--format must be one of ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(values.format)}`);
    }
    const format = values.format as ExportFormat;
    const { document } = await readConfigFile(values.config);
    const { text, notes } = exportPins(document, format, { host: values.host });
    if (json) {
      out.json({ format, text, notes });
      return 0;
    }
    for (const note of notes) out.note(`certpin: note: ${note}`);
    if (text !== '') out.lines(text.replace(/\n$/, '').split('\n'));
    return 0;
  },
});
