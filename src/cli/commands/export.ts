import { EXPORT_FORMATS, exportPins, OKHTTP_LANGUAGES, type ExportFormat, type ExportOptions } from '../../ops/export.js';
import { defineCommand, UsageError } from '../command.js';
import { readConfigFile } from '../pinfile.js';

export default defineCommand({
  name: 'export',
  summary: 'write the trusted pins for OkHttp, Android, TrustKit, curl or HPKP',
  usage: `Usage: certpin export --config pins.json --format FORMAT [--host HOST]
                      [--okhttp-version VERSION] [--language kotlin|java]

Prints the trusted pins (active and backup) of the pin file in another system's own syntax:
  okhttp     Kotlin (--language java: Java) code building OkHttp's CertificatePinner, *. and **.
             patterns as they are: **. needs OkHttp 4.3.0 or later. For an older OkHttp, give its
             version (--okhttp-version 3.14.9): exact names and *. only
  android    network_security_config.xml (pin-set expiration from "expires", includeSubdomains)
  trustkit   a Swift dictionary literal for TrustKit.initSharedInstance(withConfiguration:), with
             TrustKit's kTSK… keys (the same keys make the Objective-C NSDictionary); TrustKit's
             default report server is disabled
  apple      App Transport Security's NSPinnedDomains (iOS 14+, macOS 11+) as a property list to
             merge into Info.plist: NSPinnedCAIdentities or NSPinnedLeafIdentities per pin
  curl       per host: the host, a tab, and the --pinnedpubkey value (sha256//A;sha256//B), with
             only the pins curl can match: curl checks the server's own (leaf) key only
  hpkp       per host: the domain, a tab, and the Public-Key-Pins header value (max-age from
             "expires", else 60 days)
Android, TrustKit, Apple and HPKP cannot say "exactly one label": *.x becomes x with subdomains.
An "expires" date is exported so the target enforces at least until certpin's end of that day, UTC.
Which certificate a pin is the key of (for apple and curl): a pin with a recorded subject is at the
file's settings.pinLevel, one added by certpin keygen is a leaf key, any other is unknown.
Whatever a format cannot express is said on stderr; stdout holds only the export.
Pin sets past their "expires" are left out.

Options:
  --config FILE             the pin file (required)
  --format FORMAT           ${EXPORT_FORMATS.join(', ')} (required)
  --host HOST               only the entry for HOST (a pattern as written, or a host name it matches)
  --okhttp-version VERSION  okhttp: the app's OkHttp version (default 4.3)
  --language LANGUAGE       okhttp: ${OKHTTP_LANGUAGES.join(' or ')} (default kotlin)
  --json                    print {"format", "text", "notes"}

Exit status: 0 when written, 2 on a usage error or an unreadable or invalid pin file.

Examples:
  certpin export --config pins.json --format android > app/src/main/res/xml/network_security_config.xml
  certpin export --config pins.json --format okhttp --language java --okhttp-version 3.14.9
  curl --pinnedpubkey "$(certpin export --config pins.json --format curl --host api.example.com | cut -f2)" https://api.example.com/`,
  options: {
    config: { type: 'string' },
    format: { type: 'string' },
    host: { type: 'string' },
    'okhttp-version': { type: 'string' },
    language: { type: 'string' },
  },
  allowPositionals: false,
  async run({ values, json, out }) {
    if (values.config === undefined) throw new UsageError('--config pins.json is required');
    if (values.format === undefined) throw new UsageError(`--format is required: one of ${EXPORT_FORMATS.join(', ')}`);
    if (!(EXPORT_FORMATS as readonly string[]).includes(values.format)) {
      throw new UsageError(`--format must be one of ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(values.format)}`);
    }
    const format = values.format as ExportFormat;
    const okhttpVersion = values['okhttp-version'];
    const language = values.language;
    if (format !== 'okhttp' && (okhttpVersion !== undefined || language !== undefined)) {
      throw new UsageError(`--okhttp-version and --language go with --format okhttp, not ${format}`);
    }
    if (language !== undefined && !(OKHTTP_LANGUAGES as readonly string[]).includes(language)) {
      throw new UsageError(`--language must be ${OKHTTP_LANGUAGES.join(' or ')}, got ${JSON.stringify(language)}`);
    }
    if (okhttpVersion !== undefined && !/^\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.-]+)?$/.test(okhttpVersion)) {
      throw new UsageError(`--okhttp-version takes a version such as 3.14.9 or 4.12.0, got ${JSON.stringify(okhttpVersion)}`);
    }
    const { document } = await readConfigFile(values.config);
    const options: ExportOptions = { host: values.host, okhttpVersion, language: language as ExportOptions['language'] };
    const { text, notes } = exportPins(document, format, options);
    if (json) {
      out.json({ format, text, notes });
      return 0;
    }
    for (const note of notes) out.note(`certpin: note: ${note}`);
    if (text !== '') out.lines(text.replace(/\n$/, '').split('\n'));
    return 0;
  },
});
