import type { PGlite } from '@electric-sql/pglite';

// PGlite is a single PostgreSQL session. pglite-socket serves several connections by queueing
// their wire-protocol messages one by one, so the Parse/Bind/Execute/Sync sequences of two
// connections can interleave in that one session and corrupt each other ("unnamed prepared
// statement does not exist"). This queue gives one connection the session for a whole protocol
// unit (up to its Sync or simple Query) and, while a transaction is open, until it ends.

interface Pending {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (error: unknown) => void;
}

/** Message types that end a unit: Sync, simple Query, Terminate. A startup message has none. */
const UNIT_END = new Set(['S'.charCodeAt(0), 'Q'.charCodeAt(0), 'X'.charCodeAt(0)]);
const isUnitEnd = (message: Uint8Array) => message[0] === 0 || UNIT_END.has(message[0]);

type ProtocolDb = PGlite & {
  execProtocolRawStream(message: Uint8Array, options: { onRawData: (data: Uint8Array) => void }): Promise<void>;
  isInTransaction(): boolean;
};

export class ProtocolUnitQueue {
  private readonly pending: Pending[] = [];
  /** The connection that holds the session, mid-unit or mid-transaction. */
  private owner: number | null = null;
  private pumping = false;

  constructor(private readonly db: PGlite) {}

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ handlerId, message, onData, resolve, reject });
      void this.pump();
    });
  }

  getQueueLength(): number {
    return this.pending.length;
  }

  /** A connection went away: drop what it queued. */
  clearQueueForHandler(handlerId: number): void {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      if (this.pending[i].handlerId === handlerId) this.pending.splice(i, 1)[0].reject(new Error('Handler disconnected'));
    }
  }

  /** …and release the session it held, rolling back its open transaction. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return;
    const db = this.db as ProtocolDb;
    if (db.isInTransaction()) await db.exec('ROLLBACK');
    this.owner = null;
    await this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    const db = this.db as ProtocolDb;
    try {
      for (;;) {
        const index = this.owner === null ? 0 : this.pending.findIndex((p) => p.handlerId === this.owner);
        // The owner's next message has not arrived yet: everyone else waits for it.
        if (index < 0 || this.pending.length === 0) break;
        const next = this.pending.splice(index, 1)[0];
        this.owner = next.handlerId;
        let bytes = 0;
        try {
          await db.runExclusive(() => db.execProtocolRawStream(next.message, { onRawData: (data) => { bytes += data.length; next.onData(data); } }));
          next.resolve(bytes);
        } catch (error) {
          next.reject(error);
        }
        if (isUnitEnd(next.message) && !db.isInTransaction()) this.owner = null;
      }
    } finally {
      this.pumping = false;
    }
  }
}
