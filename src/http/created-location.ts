import { UseInterceptors, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { map, type Observable } from 'rxjs';
import { pathParamsOf, type HttpReply, type HttpRequest } from './http-types';

/** The Location header of a POST that made a resource, for its OpenAPI answer. */
export const LOCATION_HEADER = {
  Location: { description: 'The path of the resource made: GET it there', schema: { type: 'string', maxLength: 200 } },
};

type Where = (params: Record<string, string>, made: { id: string }) => string;

/**
 * The answer of a POST that made a resource says where it is (Location, RFC 9110 §10.2.2), named
 * from the route's parameters (ids, lower-cased as stored) and the answer's `id`. Write it under
 * @Idempotent(): it then wraps that interceptor, and a replayed answer says it too.
 */
export function Located(where: Where): MethodDecorator {
  return UseInterceptors(new LocationInterceptor(where));
}

class LocationInterceptor implements NestInterceptor {
  constructor(private readonly where: Where) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const params = pathParamsOf(http.getRequest<HttpRequest>());
    const reply = http.getResponse<HttpReply>();
    return next.handle().pipe(
      map((made: unknown) => {
        const id = (made as { id?: unknown } | null)?.id;
        if (typeof id === 'string') reply.header('Location', this.where(params, { id }));
        return made;
      }),
    );
  }
}
