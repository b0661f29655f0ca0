// Which methods a path has routes for, so that a request with another method is answered 405
// with `Allow` (RFC 9110 §15.5.6), not 404 as if the path did not exist. Fastify's router answers
// "no route" for both; the routes are noted here as Fastify registers them. Pure: no Nest imports.
import type { FastifyInstance } from 'fastify';

interface Route {
  methods: string[];
  segments: string[];
}

const tables = new WeakMap<object, Route[]>();

/** Notes every route `fastify` registers from now on (call before the routes are registered). */
export function noteRoutes(fastify: FastifyInstance): void {
  const routes: Route[] = [];
  tables.set(fastify, routes);
  fastify.addHook('onRoute', (route) => {
    // A catch-all (CORS's OPTIONS *) matches every path: it says nothing of what a path has.
    if (route.url === '*' || route.url === '/*') return;
    routes.push({ methods: [route.method].flat().map((m) => m.toUpperCase()), segments: segmentsOf(route.url) });
  });
}

/**
 * The methods routed for `path` on the server that answered `request` (empty: no such path, not
 * the API's (`/v1/…`), or not a Fastify server). A sketch of the router, not the router: the
 * caller answers 405 only when the method asked is not among them.
 */
export function allowedMethods(request: { server?: object } | undefined, path: string): string[] {
  const routes = request?.server ? tables.get(request.server) : undefined;
  if (!routes || !/^\/v1\//i.test(path)) return [];
  const wanted = segmentsOf(path.split('?')[0]);
  const methods = new Set<string>();
  for (const route of routes) if (matches(route.segments, wanted)) route.methods.forEach((m) => methods.add(m));
  return [...methods].sort();
}

// As the router reads paths: a trailing slash ignored, letters in any case.
function segmentsOf(path: string): string[] {
  return path.replace(/\/+$/, '').toLowerCase().split('/');
}

function matches(route: string[], path: string[]): boolean {
  for (let i = 0; i < route.length; i++) {
    if (route[i] === '*') return path.length > i;
    if (i >= path.length) return false;
    if (route[i].startsWith(':') ? path[i] === '' : route[i] !== path[i]) return false;
  }
  return route.length === path.length;
}
