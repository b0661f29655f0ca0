// The safe formula language of `computed` mappings, on filtrex 3 (a maintained, non-Turing
// expression compiler that never uses eval on user text). Pure: no Nest imports.
//
// filtrex accepts more than our contract allows (`a.b` paths, `x of y`, `in`, `~=`, `^`, `mod`,
// quoted symbols, tuples, and functions like log/sqrt/exists). A small lexer checks every
// expression against the contract's grammar BEFORE filtrex sees it: numbers, double-quoted
// strings, source field names, + - * /, comparisons, and/or/not, if/then/else, parentheses and
// an allowlist of functions. Anything else is refused at write time.
import { compileExpression } from 'filtrex';

export const MAX_EXPRESSION_LENGTH = 1000;
export const MAX_NESTING_DEPTH = 32;
const MAX_TOKENS = 400;

const KEYWORDS = new Set(['and', 'or', 'not', 'if', 'then', 'else']);
const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=']);
const ARITHMETIC = new Set(['+', '-', '*', '/']);

/**
 * The longest text a formula may build (as long as a lookup or static value). Without it, one
 * admin's `upper(a + a + …)` over 10,000 records could fill the shared process's heap; beyond
 * it the result is null with a formula_error warning, and nothing longer is ever allocated.
 */
export const MAX_FORMULA_TEXT_LENGTH = 1000;
const textTooLong = (length: number): never => {
  throw new Error(`the formula would build text of ${length} characters (at most ${MAX_FORMULA_TEXT_LENGTH})`);
};

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);
const numeric =
  (fn: (...xs: number[]) => number) =>
  (...args: unknown[]) =>
    args.length > 0 && args.every(isNumber) ? finite(fn(...(args as number[]))) : null;
const text = (fn: (s: string) => string) => (s: unknown) => (typeof s !== 'string' ? null : s.length > MAX_FORMULA_TEXT_LENGTH ? textTooLong(s.length) : fn(s));

/** The only functions a formula may call. */
export const FORMULA_FUNCTIONS: Readonly<Record<string, (...args: unknown[]) => unknown>> = Object.freeze({
  round: (x: unknown, digits: unknown = 0) => {
    if (!isNumber(x) || !isNumber(digits) || !Number.isInteger(digits) || digits < 0 || digits > 10) return null;
    const factor = 10 ** digits;
    // Half away from zero, as accountants expect; EPSILON absorbs binary representation (1.005).
    return finite((Math.sign(x) * Math.round(Math.abs(x) * factor * (1 + Number.EPSILON))) / factor);
  },
  floor: numeric(Math.floor),
  ceil: numeric(Math.ceil),
  abs: numeric(Math.abs),
  min: numeric(Math.min),
  max: numeric(Math.max),
  concat: (...parts: unknown[]) => {
    const strings = parts.filter((p) => p !== null && p !== undefined).map((p) => (typeof p === 'number' || typeof p === 'string' ? String(p) : ''));
    const length = strings.reduce((sum, p) => sum + p.length, 0);
    return length > MAX_FORMULA_TEXT_LENGTH ? textTooLong(length) : strings.join('');
  },
  upper: text((s) => s.toUpperCase()),
  lower: text((s) => s.toLowerCase()),
});

// Operators that never throw: a missing operand makes the result null, not an error.
const both = (a: unknown, b: unknown) => a !== null && a !== undefined && b !== null && b !== undefined;
const OPERATORS = {
  '+': (a: unknown, b?: unknown) =>
    b === undefined
      ? isNumber(a)
        ? a
        : null
      : !both(a, b)
        ? null
        : isNumber(a) && isNumber(b)
          ? finite(a + b)
          : typeof a === 'string' && typeof b === 'string'
            ? a.length + b.length > MAX_FORMULA_TEXT_LENGTH
              ? textTooLong(a.length + b.length)
              : a + b
            : null,
  '-': (a: unknown, b?: unknown) => (b === undefined ? (isNumber(a) ? -a : null) : isNumber(a) && isNumber(b) ? finite(a - b) : null),
  '*': (a: unknown, b: unknown) => (isNumber(a) && isNumber(b) ? finite(a * b) : null),
  '/': (a: unknown, b: unknown) => (isNumber(a) && isNumber(b) && b !== 0 ? finite(a / b) : null),
  '==': (a: unknown, b: unknown) => a === b,
  '!=': (a: unknown, b: unknown) => a !== b,
  '<': (a: unknown, b: unknown) => comparable(a, b) && (a as number) < (b as number),
  '<=': (a: unknown, b: unknown) => comparable(a, b) && (a as number) <= (b as number),
  '>': (a: unknown, b: unknown) => comparable(a, b) && (a as number) > (b as number),
  '>=': (a: unknown, b: unknown) => comparable(a, b) && (a as number) >= (b as number),
  // The regex operator is disabled: user-supplied patterns can be catastrophic (ReDoS).
  '~=': () => {
    throw new Error('the ~= operator is not available');
  },
};
function comparable(a: unknown, b: unknown): boolean {
  return (isNumber(a) && isNumber(b)) || (typeof a === 'string' && typeof b === 'string');
}

interface Token {
  kind: 'number' | 'string' | 'name' | 'op' | '(' | ')' | ',';
  text: string;
}

/** Splits an expression into the tokens of the contract's grammar, or says what is not allowed. */
function tokenize(expression: string): Token[] | string {
  const tokens: Token[] = [];
  const pattern = /\s+|(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|("(?:[^"\\\n]|\\["\\nt])*")|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|<=|>=|<|>|\+|-|\*|\/)|(\()|(\))|(,)/y;
  let index = 0;
  while (index < expression.length) {
    pattern.lastIndex = index;
    const match = pattern.exec(expression);
    if (!match) return `unexpected character ${JSON.stringify(expression[index])} at position ${index}`;
    index = pattern.lastIndex;
    if (match[1]) tokens.push({ kind: 'number', text: match[1] });
    else if (match[2]) tokens.push({ kind: 'string', text: match[2] });
    else if (match[3]) tokens.push({ kind: 'name', text: match[3] });
    else if (match[4]) tokens.push({ kind: 'op', text: match[4] });
    else if (match[5]) tokens.push({ kind: '(', text: '(' });
    else if (match[6]) tokens.push({ kind: ')', text: ')' });
    else if (match[7]) tokens.push({ kind: ',', text: ',' });
    if (tokens.length > MAX_TOKENS) return `the expression has more than ${MAX_TOKENS} tokens`;
  }
  return tokens;
}

export type FormulaCompilation = { ok: true; formula: Formula } | { ok: false; message: string; unknownNames: string[] };

export interface Formula {
  /** The source field names the formula reads. */
  readonly fieldsRead: readonly string[];
  /** Never throws; returns a number, a string, a boolean or null. */
  evaluate(values: Readonly<Record<string, unknown>>): { value: unknown; error: string | null };
}

/**
 * Parses once and checks against the contract's grammar; `knownNames` are the source fields a
 * formula may read. Unknown names are reported separately (a different rule refuses them).
 */
export function compileFormula(expression: unknown, knownNames: ReadonlySet<string>): FormulaCompilation {
  const fail = (message: string, unknownNames: string[] = []): FormulaCompilation => ({ ok: false, message, unknownNames });
  if (typeof expression !== 'string' || expression.trim() === '') return fail('expression must be a non-empty string');
  if (expression.length > MAX_EXPRESSION_LENGTH) return fail(`expression is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  const tokens = tokenize(expression);
  if (typeof tokens === 'string') return fail(tokens);

  const fieldsRead = new Set<string>();
  const unknownNames = new Set<string>();
  // For each open parenthesis: is it a function call (commas allowed) or grouping?
  const parens: boolean[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    const next = tokens[i + 1];
    if (token.kind === 'name') {
      if (KEYWORDS.has(token.text)) continue;
      if (next?.kind === '(') {
        if (!Object.hasOwn(FORMULA_FUNCTIONS, token.text)) return fail(`unknown function ${token.text}(); allowed: ${Object.keys(FORMULA_FUNCTIONS).join(', ')}`);
        parens.push(true);
        i++;
        continue;
      }
      if (Object.hasOwn(FORMULA_FUNCTIONS, token.text)) return fail(`${token.text} is a function: call it with (…)`);
      if (knownNames.has(token.text)) fieldsRead.add(token.text);
      else unknownNames.add(token.text);
    } else if (token.kind === '(') {
      parens.push(false);
    } else if (token.kind === ')') {
      if (parens.pop() === undefined) return fail('unbalanced parentheses');
    } else if (token.kind === ',') {
      if (parens[parens.length - 1] !== true) return fail('a comma is only allowed between function arguments');
    } else if (token.kind === 'op' && !COMPARISONS.has(token.text) && !ARITHMETIC.has(token.text)) {
      return fail(`operator ${token.text} is not allowed`);
    }
    if (parens.length > MAX_NESTING_DEPTH) return fail(`parentheses are nested deeper than ${MAX_NESTING_DEPTH}`);
  }
  if (parens.length > 0) return fail('unbalanced parentheses');
  if (unknownNames.size > 0) return fail(`unknown names: ${[...unknownNames].join(', ')}`, [...unknownNames]);

  let compiled: (values: unknown) => unknown;
  try {
    compiled = compileExpression(expression, {
      extraFunctions: FORMULA_FUNCTIONS as Record<string, (...args: unknown[]) => unknown>,
      operators: OPERATORS,
      // Own properties of the values object only: never a prototype's.
      customProp: (name: string, _get: unknown, values: Record<string, unknown>) => (Object.hasOwn(values, name) ? values[name] : null),
    });
  } catch (error) {
    return fail(
      `expression does not parse: ${String((error as Error).message)
        .split('\n')[0]
        .slice(0, 200)}`,
    );
  }
  const names = [...fieldsRead];
  return {
    ok: true,
    formula: {
      fieldsRead: names,
      evaluate(values) {
        // A null-prototype copy holding only the fields the formula reads.
        const scope: Record<string, unknown> = Object.create(null);
        for (const name of names) scope[name] = values[name] ?? null;
        try {
          const result = compiled(scope);
          if (result instanceof Error) return { value: null, error: result.message.slice(0, 200) };
          if (typeof result === 'number') return { value: Number.isFinite(result) ? result : null, error: null };
          if (typeof result === 'string' || typeof result === 'boolean' || result === null || result === undefined) return { value: result ?? null, error: null };
          return { value: null, error: 'the formula produced a value that is not a number, string or boolean' };
        } catch (error) {
          return { value: null, error: String((error as Error)?.message ?? error).slice(0, 200) };
        }
      },
    },
  };
}
