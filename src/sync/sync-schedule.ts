// When a config is due for a sync. Pure: no Nest imports.
import type { SyncFrequency } from '../integration-config/integration-config.entity';

const HOUR = 3600_000;
/** The interval after the last attempt; `manual` is never due, `realtime` always is. */
export const SYNC_INTERVAL_MS: Record<SyncFrequency, number | null> = {
  manual: null,
  realtime: 0,
  hourly: HOUR,
  daily: 24 * HOUR,
  weekly: 7 * 24 * HOUR,
  monthly: 30 * 24 * HOUR,
};

export function isDue(frequency: SyncFrequency, lastSyncAt: Date | null, now: Date): boolean {
  const interval = SYNC_INTERVAL_MS[frequency];
  if (interval === null) return false;
  return lastSyncAt === null || lastSyncAt.getTime() + interval <= now.getTime();
}
