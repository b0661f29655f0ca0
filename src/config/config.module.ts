import { DynamicModule, Global, Module, type InjectionToken, type ModuleMetadata, type OptionalFactoryDependency } from '@nestjs/common';
import { AppConfig } from './app-config';

export interface ConfigModuleAsyncOptions {
  imports?: ModuleMetadata['imports'];
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  useFactory: (...args: never[]) => AppConfig | Promise<AppConfig>;
}

/** Provides the validated AppConfig, built by the caller (main.ts, tests, a host app). */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: AppConfig, useValue: config }], exports: [AppConfig] };
  }

  static forRootAsync(options: ConfigModuleAsyncOptions): DynamicModule {
    return {
      module: ConfigModule,
      imports: options.imports ?? [],
      providers: [{ provide: AppConfig, inject: options.inject ?? [], useFactory: options.useFactory }],
      exports: [AppConfig],
    };
  }
}
