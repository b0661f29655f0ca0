import { HttpCode, Injectable } from '@nestjs/common';
import { declaredHttpCode, isInjectable, removeProtoKeys } from './nest-internals';

describe('the Nest internals the service relies on', () => {
  it('marks @Injectable() classes, and only those', () => {
    @Injectable()
    class Built {}
    class Plain {}
    expect([isInjectable(Built), isInjectable(Plain)]).toEqual([true, false]);
  });

  it('keeps the status of @HttpCode() on the handler', () => {
    class Controller {
      @HttpCode(202)
      accepted() {}
      plain() {}
    }
    expect([declaredHttpCode(Controller.prototype.accepted), declaredHttpCode(Controller.prototype.plain)]).toEqual([202, undefined]);
  });

  it('strips own __proto__ keys at any depth, in place', () => {
    const body = JSON.parse('{"a":{"__proto__":{"polluted":true},"b":[{"__proto__":{"x":1},"c":1}]},"__proto__":{"y":1}}');
    removeProtoKeys(body);
    expect(JSON.stringify(body)).toBe('{"a":{"b":[{"c":1}]}}');
  });
});
