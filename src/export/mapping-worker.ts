// The entry point of a mapping worker thread (piscina): one MappingTask in, its outcome out.
// Pure: nothing but the export core is loaded in the thread.
export { runMappingTask as default } from './run-mapping';
