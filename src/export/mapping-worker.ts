// The entry point of a mapping worker thread (piscina): one MappingTask in, its outcome out.
// Pure: no Nest imports, nothing but the export core is loaded in the thread.
import { runMappingTask, type MappingOutcome, type MappingTask } from './run-mapping';

export default function mapRecords(task: MappingTask): MappingOutcome {
  return runMappingTask(task);
}
