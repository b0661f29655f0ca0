import { keepsEverything, retentionCutoffs } from './retention-policy';

describe('retention cutoffs', () => {
  const now = new Date('2026-12-06T10:30:00.000Z');

  it('goes back whole days of 24 hours from now, per kind; export rows follow their runs', () => {
    const cutoffs = retentionCutoffs({ webhookEvents: 90, syncRuns: 30, exportRuns: 1, auditEvents: 365 }, now);
    expect(Object.fromEntries(Object.entries(cutoffs).map(([table, cutoff]) => [table, cutoff?.toISOString()]))).toEqual({
      webhook_events: '2026-09-07T10:30:00.000Z',
      sync_runs: '2026-11-06T10:30:00.000Z',
      export_run_rows: '2026-12-05T10:30:00.000Z',
      export_runs: '2026-12-05T10:30:00.000Z',
      audit_events: '2025-12-06T10:30:00.000Z',
    });
  });

  it('keeps a kind set to 0 forever (no cutoff), audit events by default among them', () => {
    expect(retentionCutoffs({ webhookEvents: 0, syncRuns: 90, exportRuns: 0, auditEvents: 0 }, now)).toEqual({
      webhook_events: null,
      sync_runs: new Date('2026-09-07T10:30:00.000Z'),
      export_run_rows: null,
      export_runs: null,
      audit_events: null,
    });
  });

  it('knows when there is nothing to prune at all', () => {
    expect(keepsEverything({ webhookEvents: 0, syncRuns: 0, exportRuns: 0, auditEvents: 0 })).toBe(true);
    expect(keepsEverything({ webhookEvents: 0, syncRuns: 0, exportRuns: 0, auditEvents: 400 })).toBe(false);
    expect(keepsEverything({ webhookEvents: 90, syncRuns: 90, exportRuns: 90, auditEvents: 0 })).toBe(false);
  });
});
