import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

type Observer = (request: FastifyRequest, reply: FastifyReply) => void;

const observers = new WeakMap<FastifyInstance, Observer[]>();

/**
 * Runs `observe` once for every answer `fastify` sends: as an onResponse hook, and for the
 * router's own refusals (`frameworkErrors`: bad percent-encoding, an over-long id), whose reply
 * Fastify builds outside any route and so runs no hook on; app.factory.ts calls
 * `answeredByRouter` for those.
 */
export function onEveryAnswer(fastify: FastifyInstance, observe: Observer): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    observe(request, reply);
    done();
  });
  const list = observers.get(fastify) ?? [];
  observers.set(fastify, [...list, observe]);
}

/** A router refusal is being sent: its observers run once it is written out. */
export function answeredByRouter(fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply): void {
  reply.raw.once('finish', () => {
    for (const observe of observers.get(fastify) ?? []) observe(request, reply);
  });
}
