// The Nest internals the service relies on, in one place; each assumption has a spec
// (nest-internals.spec.ts) that fails when a version bump breaks it. The lockfile holds the
// version those specs pass on; a host application brings its own @nestjs/* (peer dependencies).
import { HTTP_CODE_METADATA, INJECTABLE_WATERMARK } from '@nestjs/common/constants';
import { stripProtoKeys } from '@nestjs/common/utils/strip-proto-keys.util';

/** Whether Nest's container builds this class (it carries @Injectable()). */
export function isInjectable(type: object): boolean {
  return Reflect.getMetadata(INJECTABLE_WATERMARK, type) === true;
}

/** The status a handler declared with @HttpCode(), if any. */
export function declaredHttpCode(handler: object): number | undefined {
  return Reflect.getMetadata(HTTP_CODE_METADATA, handler) as number | undefined;
}

/** Removes own `__proto__` keys at any depth, as ValidationPipe does before transforming a body. */
export function removeProtoKeys(value: unknown): void {
  stripProtoKeys(value);
}
