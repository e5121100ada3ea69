// The canonical forms the fast paths recognise: a text in one of them is its own normal form, so
// parsing can return it as it is. Shared by the parsers (hosts.ts, pin.ts) and by certpin/register's
// start-up check (register/quick-check.ts), which must accept exactly what they return unchanged; a
// module of its own, so that the hook's start-up loads neither parser.

/** A host name in normal form: lowercase LDH labels, the last one starting with a letter (so never an IP address). */
export const NORMAL_HOST_NAME = /^(?:[a-z0-9-]+\.)*[a-z][a-z0-9-]*$/;

/**
 * A pin already in its canonical `sha256/B64` form, as pin files hold it. 43 base64 digits carry 258
 * bits and 32 bytes are 256, so the last digit's low two bits must be zero (A, E, I, …, 8): exactly
 * the inputs that decode to 32 bytes and encode back unchanged, with no Buffer round trip. Anchored
 * with no `m` flag, so surrounding white space does not match and takes the general path.
 */
export const CANONICAL_PIN = /^sha256\/[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
