import { Client } from 'pg';

// The embedded PostgreSQL is one session behind a socket server: concurrent connections must
// not corrupt each other's extended-protocol statements, nor see into each other's transactions.
describe('embedded PostgreSQL under concurrent connections', () => {
  const url = () => process.env.TEST_DATABASE_URL!;
  let clients: Client[] = [];
  beforeAll(async () => {
    clients = Array.from({ length: 6 }, () => new Client({ connectionString: url() }));
    await Promise.all(clients.map((c) => c.connect()));
  });
  afterAll(() => Promise.all(clients.map((c) => c.end())));

  it('runs interleaved parameterized queries and transactions without cross-talk', async () => {
    await clients[0].query('CREATE TABLE IF NOT EXISTS concurrency_probe (client int NOT NULL, n int NOT NULL)');
    await clients[0].query('DELETE FROM concurrency_probe');
    const work = clients.map(async (client, id) => {
      let committed = 0;
      for (let n = 0; n < 40; n++) {
        if (n % 4 === 0) {
          await client.query('BEGIN');
          await client.query('INSERT INTO concurrency_probe (client, n) VALUES ($1, $2)', [id, n]);
          const { rows } = await client.query('SELECT count(*)::int AS c FROM concurrency_probe WHERE client = $1', [id]);
          // Rows that other clients insert and then roll back must never be visible here.
          const { rows: leaked } = await client.query('SELECT count(*)::int AS c FROM concurrency_probe WHERE n % 8 = 4 AND NOT (client = $1 AND n = $2)', [id, n]);
          await client.query(n % 8 === 0 ? 'COMMIT' : 'ROLLBACK');
          expect(rows[0].c).toBe(committed + 1);
          expect(leaked[0].c).toBe(0);
          if (n % 8 === 0) committed++;
        } else {
          const { rows } = await client.query('SELECT $1::int AS id, $2::text AS tag', [id, `t${n}`]);
          expect(rows).toEqual([{ id, tag: `t${n}` }]);
        }
      }
    });
    await Promise.all(work);
    const { rows } = await clients[0].query('SELECT client, count(*)::int AS c FROM concurrency_probe GROUP BY client ORDER BY client');
    // Per client: n = 0, 8, 16, 24, 32 committed; 4, 12, 20, 28, 36 rolled back.
    expect(rows).toEqual(clients.map((_, id) => ({ client: id, c: 5 })));
    await clients[0].query('DROP TABLE concurrency_probe');
  }, 60_000);
});
