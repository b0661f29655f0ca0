import { RequestMethod } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { IS_PUBLIC, ROLES_KEY } from '../src/auth/auth.decorators';
import { startTestApp, type TestApp } from './support/test-app';

// Every route of the service declares who may call it: @Public() or @Roles(...). A route that
// forgets would be closed by the guard anyway, but this catches the mistake before a user does.
describe('route inventory', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ imports: [DiscoveryModule] });
  });
  afterAll(() => t.close());

  it('every route declares @Public() or its roles', () => {
    const discovery = t.app.get(DiscoveryService);
    const scanner = t.app.get(MetadataScanner);
    const reflector = t.app.get(Reflector);
    const routes: { route: string; access: string }[] = [];
    for (const wrapper of discovery.getControllers()) {
      const instance = wrapper.instance as object | undefined;
      if (!instance || !wrapper.metatype) continue;
      const prototype = Object.getPrototypeOf(instance);
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (Reflect.getMetadata(METHOD_METADATA, handler) === undefined) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number];
        const path = `${Reflect.getMetadata(PATH_METADATA, wrapper.metatype)}/${Reflect.getMetadata(PATH_METADATA, handler)}`;
        const isPublic = reflector.getAllAndOverride<boolean>(IS_PUBLIC, [handler, wrapper.metatype]);
        const roles = reflector.getAllAndOverride<string[]>(ROLES_KEY, [handler, wrapper.metatype]);
        routes.push({ route: `${method} ${path}`, access: isPublic ? 'public' : roles?.length ? roles.join(',') : 'UNDECLARED' });
      }
    }
    expect(routes.length).toBeGreaterThan(0);
    expect(routes.filter((r) => r.access === 'UNDECLARED')).toEqual([]);
  });
});
