export { KEY_ID_PATTERN, Keyring, KeyringError } from './keyring';
export { ENVELOPE_PATTERN, ENVELOPE_SQL_PATTERN, isEnvelope, SecretCipher, SecretDecryptionError } from './secret-cipher';
export type { SecretDecryptionReason, SecretLocation } from './secret-cipher';
