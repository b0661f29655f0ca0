import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';
import { ProblemFilter } from './problem.filter';

const HOW_TO = "Bind the host's own to its controllers or handlers (@UsePipes, @Body(pipe), @UseFilters), or import the module with http: false (docs/module.md).";

/**
 * Refuses to start a host application serving the REST API with global enhancers that would change
 * the API's answers, which Nest applies to every route:
 * - global pipes (`app.useGlobalPipes()`, `APP_PIPE`) run before the API's own per-parameter pipes
 *   (ValidBody, ValidQuery): a `ValidationPipe({ whitelist: true })` strips the unknown fields the
 *   API refuses (400 `unknown_field`), and the request is stored without them;
 * - a global filter registered after the module's ProblemFilter (`app.useGlobalFilters()`, an
 *   `APP_FILTER` of a module imported after it) answers the API's errors in its stead: no
 *   problem+json, a refusal by rule turned into whatever the host's filter makes of it.
 * Checked at module init: the routes are set up by then, the workers not yet started.
 */
@Injectable()
export class HostGlobalsCheck implements OnModuleInit {
  constructor(private readonly application: ApplicationConfig) {}

  onModuleInit(): void {
    const pipes = [
      ...this.application.getGlobalPipes().map((pipe) => pipe.constructor.name),
      // APP_PIPE with a request or transient scope.
      ...this.application.getGlobalRequestPipes().map((wrapper) => wrapper.metatype?.name ?? String(wrapper.name)),
    ];
    if (pipes.length > 0) {
      throw new Error(
        `IntegrationsModule serves the REST API (http: true), and the application has global pipes (${pipes.join(', ')}): ` +
          'Nest runs them before the API validates its own bodies and queries, so they would change what it validates ' +
          `(a whitelisting ValidationPipe silently drops the unknown fields the API refuses). ${HOW_TO}`,
      );
    }
    // Nest asks the last registered global filter first; request-scoped ones come after the others.
    const filters = this.application.getGlobalFilters();
    const ours = filters.findIndex((filter) => filter instanceof ProblemFilter);
    const later = [
      ...filters.slice(ours + 1).map((filter) => filter.constructor.name),
      ...this.application.getGlobalRequestFilters().map((wrapper) => wrapper.metatype?.name ?? String(wrapper.name)),
    ];
    if (later.length > 0) {
      throw new Error(
        `IntegrationsModule serves the REST API (http: true), and the application has global exception filters (${later.join(', ')}) ` +
          `registered after the module's: they would answer the API's errors in place of its problem+json. ${HOW_TO}`,
      );
    }
  }
}
