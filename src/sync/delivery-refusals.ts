// What delivery would refuse of an export's rows, as warnings: a preview shows it before anything
// is sent. Pure: no Nest imports.
import { storableText } from '../common/json-body';
import { MAX_WARNING_LENGTH, type ExportRow } from '../export';
import { scrubSyncError } from '../integration-config/sync-error';
import type { Connector } from './connector';

const DELIVERY_WOULD_REFUSE = 'delivery_would_refuse';

/**
 * `delivery_would_refuse:<index>:<message>` for each row the config's connector would refuse
 * without sending it (Connector.refusalOf), in row order; none without a connector or a check.
 * The message is the connector's, as delivery stores a row's error: redacted of anything shaped
 * like a secret (it describes the row's values and holds no credential: the check is given none),
 * cut to a warning's length. The rows stay: the export still produces them.
 */
export function deliveryRefusalWarnings(connector: Pick<Connector, 'refusalOf'> | undefined, rows: readonly ExportRow[]): string[] {
  if (!connector?.refusalOf) return [];
  const warnings: string[] = [];
  for (const row of rows) {
    let refusal: unknown;
    try {
      refusal = connector.refusalOf(row.output);
    } catch {
      // A host connector's check that fails predicts nothing; the export is not its to fail.
      continue;
    }
    if (typeof refusal !== 'string' || refusal === '') continue;
    warnings.push(storableText(`${DELIVERY_WOULD_REFUSE}:${row.index}:${scrubSyncError(refusal, [])}`.slice(0, MAX_WARNING_LENGTH)));
  }
  return warnings;
}
