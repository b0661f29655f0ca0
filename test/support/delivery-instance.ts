// One service instance for the multi-process delivery spec: the real application (HTTP, the job
// queue, the engine) whose xledger connector is a sink in the database, so that every instance
// writes what reached "the external system" to one place, and a killed instance's deliveries
// stay counted. The sink keeps one record per reference, as a vendor's idempotency key does,
// and a receipt per row it was sent, so a test sees a repeat even where nothing was duplicated.
import { Pool } from 'pg';
import { createApp } from '../../src/app.factory';
import { loadAppConfig } from '../../src/config/app-config';
import type { Connector, ConnectorContext, DeliveryRow, RowOutcome } from '../../src/sync/connector';

const instance = process.env.SINK_INSTANCE ?? 'instance';
const prefix = process.env.SINK_TABLE_PREFIX ?? 'sink';
// After this many batches the instance hangs: its batch is applied and never answered, and every
// later batch of the instance waits before anything is applied (then the test kills it).
const hangAfterBatches = Number(process.env.SINK_HANG_AFTER_BATCHES ?? 'Infinity');
const batchDelayMs = Number(process.env.SINK_BATCH_DELAY_MS ?? '0');

class DatabaseSink implements Connector {
  readonly integrationType = 'xledger';
  readonly maxBatchSize = 10;
  private batches = 0;
  private hanging = false;
  /** One batch hangs: a second that was already under way when the first was chosen waits, unapplied, like the later ones. */
  private hangClaimed = false;

  constructor(private readonly pool: Pool) {}

  async deliver(context: ConnectorContext, rows: DeliveryRow[]): Promise<RowOutcome[]> {
    if (this.hanging) return new Promise<never>(() => undefined);
    const references = rows.map((r) => r.reference);
    const client = await this.pool.connect();
    let fault: string | null = null;
    let batchId: number;
    try {
      await client.query('BEGIN');
      const [{ id }] = (
        await client.query(`INSERT INTO ${prefix}_batches (config_id, instance, started_at) VALUES ($1, $2, clock_timestamp()) RETURNING id`, [context.config.id, instance])
      ).rows;
      await client.query(`INSERT INTO ${prefix}_receipts (reference, instance) SELECT unnest($1::text[]), $2`, [references, instance]);
      await client.query(`INSERT INTO ${prefix}_records (reference, output) SELECT r, o FROM unnest($1::text[], $2::jsonb[]) AS t(r, o) ON CONFLICT (reference) DO NOTHING`, [
        references,
        rows.map((r) => JSON.stringify(r.output)),
      ]);
      // A planned lost answer: applied, then the reply never arrives (once per config).
      const lost = await client.query(`UPDATE ${prefix}_faults SET remaining = remaining - 1 WHERE config_id = $1 AND kind = 'lose_answer' AND remaining > 0`, [context.config.id]);
      this.batches += 1;
      if (lost.rowCount) fault = 'lose_answer';
      else if (this.batches > hangAfterBatches) {
        if (this.hangClaimed) {
          await client.query('ROLLBACK');
          return new Promise<never>(() => undefined);
        }
        this.hangClaimed = true;
        fault = 'hang';
      }
      if (fault) await client.query(`INSERT INTO ${prefix}_faulted (reference, kind) SELECT unnest($1::text[]), $2`, [references, fault]);
      await client.query('COMMIT');
      batchId = id;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    if (fault === 'lose_answer') throw new Error('socket hang up');
    if (fault === 'hang') {
      this.hanging = true;
      process.stdout.write(`hanging ${context.config.id}\n`);
      return new Promise<never>(() => undefined);
    }
    if (batchDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, batchDelayMs));
    // When the answer leaves: no other attempt at this config may send a batch between started_at and this.
    await this.pool.query(`UPDATE ${prefix}_batches SET finished_at = clock_timestamp() WHERE id = $1`, [batchId]);
    return rows.map((row) => ({ index: row.index, status: 'delivered', externalId: `SINK-${row.index}` }));
  }
}

async function main(): Promise<void> {
  const config = loadAppConfig(process.env);
  const pool = new Pool({ connectionString: config.databaseUrl, max: 3 });
  const app = await createApp({ config, connectors: [new DatabaseSink(pool)] });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : address}\n`);
}

main().catch((error) => {
  process.stderr.write(`${(error as Error)?.stack ?? error}\n`);
  process.exit(1);
});
