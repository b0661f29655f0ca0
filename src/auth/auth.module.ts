import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { TokenVerifier } from './token-verifier';

/** Token verification; the guards that use it are registered by the composition root. */
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
          verdicts: { maxEntries: config.tokenCacheSize },
        }),
    },
  ],
  exports: [TokenVerifier],
})
export class AuthModule {}
