import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { Keyring } from './keyring';
import { PageCursors } from './page-cursors';
import { SecretCipher } from './secret-cipher';

/** The keyring from ENCRYPTION_KEYS / ENCRYPTION_ACTIVE_KEY_ID, and the secret cipher and page cursors built on it. */
@Global()
@Module({
  providers: [
    { provide: Keyring, inject: [AppConfig], useFactory: (config: AppConfig) => Keyring.parse(config.encryptionKeys, config.encryptionActiveKeyId) },
    { provide: SecretCipher, inject: [Keyring], useFactory: (keyring: Keyring) => new SecretCipher(keyring) },
    { provide: PageCursors, inject: [Keyring], useFactory: (keyring: Keyring) => new PageCursors(keyring) },
  ],
  exports: [SecretCipher, Keyring, PageCursors],
})
export class CryptoModule {}
