import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { Authenticator } from './authenticator';
import { TokenVerifier } from './token-verifier';

/** Token verification and authentication; the guards that use them are registered by the composition root. */
@Module({
  providers: [
    {
      provide: TokenVerifier,
      inject: [AppConfig],
      useFactory: (config: AppConfig) =>
        new TokenVerifier({
          secret: config.jwtSecret,
          jwksUrl: config.jwksUrl,
          issuer: config.jwtIssuer,
          audience: config.jwtAudience,
          maxLifetimeSeconds: config.jwtMaxLifetimeSeconds,
          verdicts: { maxEntries: config.tokenCacheSize },
        }),
    },
    Authenticator,
  ],
  exports: [TokenVerifier, Authenticator],
})
export class AuthModule {}
