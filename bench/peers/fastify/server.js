'use strict';
// The Fastify 4.28 + ioredis peer that bench/http.py measures the Python service against.
//
// It mirrors the original TypeScript service's production shape: one process, logger off,
// one ioredis connection, helmet's security headers, and the same hot routes as ours. Redis
// health is kept in memory by a ping every second, so GET /health makes no Redis round trip per
// request (same as ours).
//
// Env: PORT (required), HOST (default 127.0.0.1), REDIS_URL (default redis://127.0.0.1:6379/0).
//
// Adding a route: push one entry to `routes` below. A handler gets (request, reply, ctx) where
// ctx = { redis, state }; e.g.
//   routes.push({ method: 'POST', url: '/v1/brands/:slug/mentions', schema: { body: mentionsBody },
//     handler: async (req, reply, { redis }) => {
//       const pipe = redis.pipeline();
//       for (const m of req.body.mentions) pipe.xadd(`brand:${req.params.slug}:mentions`, '*', 'm', JSON.stringify(m));
//       await pipe.exec();
//       return reply.code(202).send({ accepted: req.body.mentions.length });
//     } });

const Fastify = require('fastify');
const Redis = require('ioredis');

const PORT = Number.parseInt(process.env.PORT ?? '', 10);
if (!Number.isInteger(PORT) || PORT <= 0) {
  console.error('PORT must be set to a TCP port');
  process.exit(2);
}
const HOST = process.env.HOST ?? '127.0.0.1';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const ORCHESTRATOR_ID = 'fastify-peer';
const PING_INTERVAL_MS = 1000;
const LOOP_STALE_MS = 3 * PING_INTERVAL_MS;

const startedAt = process.hrtime.bigint();
const redis = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
redis.on('error', () => {}); // status is tracked by the watch loop; no log spam under load

// In-memory state the routes read; only background loops write it.
const state = {
  redis: { status: 'down', latencyMs: null },
  loops: { 'redis-watch': { lastTickAt: 0 } },
};

async function redisWatchTick() {
  const t0 = process.hrtime.bigint();
  try {
    await redis.ping();
    state.redis = { status: 'up', latencyMs: Number(process.hrtime.bigint() - t0) / 1e6 };
  } catch {
    state.redis = { status: 'down', latencyMs: null };
  }
  state.loops['redis-watch'].lastTickAt = Date.now();
}
const watchTimer = setInterval(redisWatchTick, PING_INTERVAL_MS);
redisWatchTick();

function loopsView() {
  const now = Date.now();
  const out = {};
  for (const [name, loop] of Object.entries(state.loops)) {
    out[name] = { alive: now - loop.lastTickAt < LOOP_STALE_MS };
  }
  return out;
}

// Response schemas: Fastify serialises with fast-json-stringify, as a production service would.
const healthSchema = {
  response: {
    200: {
      type: 'object',
      properties: {
        status: { type: 'string' },
        orchestratorId: { type: 'string' },
        uptimeSec: { type: 'number' },
        redis: {
          type: 'object',
          properties: {
            status: { type: 'string' },
            latencyMs: { type: ['number', 'null'] },
          },
        },
        loops: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            properties: { alive: { type: 'boolean' } },
          },
        },
      },
    },
  },
};

const routes = [
  {
    method: 'GET',
    url: '/health',
    schema: healthSchema,
    handler: async () => ({
      status: state.redis.status === 'up' ? 'ok' : 'degraded',
      orchestratorId: ORCHESTRATOR_ID,
      uptimeSec: Number(process.hrtime.bigint() - startedAt) / 1e9,
      redis: state.redis,
      loops: loopsView(),
    }),
  },
  {
    // The original's summary read: one ioredis GET of summary:brand:{slug} per request.
    method: 'GET',
    url: '/v1/brands/:slug/summary',
    handler: async (request, reply, { redis }) => {
      const raw = await redis.get(`summary:brand:${request.params.slug}`);
      if (raw === null) return reply.code(404).send({ error: 'not found' });
      return reply.type('application/json').send(raw);
    },
  },
];

function buildApp() {
  const app = Fastify({ logger: false });
  // The original registered @fastify/helmet with its defaults: security headers on every
  // response. HELMET=0 leaves them out (bench/http.py's "fastify-bare" peer).
  if (process.env.HELMET !== '0') app.register(require('@fastify/helmet'));
  const ctx = { redis, state };
  for (const route of routes) {
    const { handler, ...options } = route;
    app.route({ ...options, handler: (request, reply) => handler(request, reply, ctx) });
  }
  return app;
}

async function main() {
  const app = buildApp();
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    clearInterval(watchTimer);
    try {
      await app.close();
    } finally {
      redis.disconnect();
      process.exit(0);
    }
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  await app.listen({ port: PORT, host: HOST });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
