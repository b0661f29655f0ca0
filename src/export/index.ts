// The export core: mapping compiler, transforms and the safe formula language. Pure: no Nest.
export * from './mapping-spec';
export { compileFormula, FORMULA_FUNCTIONS, MAX_EXPRESSION_LENGTH, MAX_NESTING_DEPTH, type Formula, type FormulaCompilation } from './expression';
export {
  MAX_FORMAT_LENGTH,
  MAX_LOOKUP_ENTRIES,
  MAX_TIME_ZONE_LENGTH,
  MAX_TRANSFORM_VALUE_LENGTH,
  formatDateValue,
  formatNumber,
  isNonEmptyLookupMap,
  isValidDatePattern,
  parseNumberFormat,
  requiredFieldHasReliableSource,
  validateTransformConfig,
} from './transforms';
export { compileMappings, coverage, DUPLICATE_TARGET_FIELD, mappingWriteWarnings, NO_ACTIVE_MAPPINGS, RESERVED_TARGET_FIELDS } from './mapping-compiler';
export {
  cappedWarnings,
  jsonBytesWithin,
  MAX_EXPORT_OUTPUT_BYTES,
  MAX_EXPORT_WARNINGS,
  MAX_WARNING_LENGTH,
  runMapping,
  runMappingTask,
  type ExportResult,
  type ExportRow,
  type ExportSkip,
  type MappingOutcome,
  type MappingTask,
} from './run-mapping';
