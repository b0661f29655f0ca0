// The safe formula language of `computed` mappings. Pure: no Nest imports.
//
// Our own lexer and parser are the grammar: every expression is checked against the contract's
// (numbers, double-quoted strings, source field names, + - * /, comparisons, and/or/not,
// if/then/else, parentheses and an allowlist of functions), anything else is refused at write
// time saying what and where, and the parser builds the formula as a tree of closures over that
// checked structure. No JavaScript source is ever generated from a formula (filtrex, used until
// 2026-12, wrote the checked tokens into `new Function`: `010` was octal 8 there, and compiling
// one formula at the bounds took 2-15 ms of the event loop; this takes ~0.1 ms).
import { plainDecimal } from '../common/plain-decimal';
import { roundHalfAwayFromZero } from './rounding';

export const MAX_EXPRESSION_LENGTH = 1000;
export const MAX_NESTING_DEPTH = 32;
const MAX_TOKENS = 400;

const KEYWORDS = new Set(['and', 'or', 'not', 'if', 'then', 'else']);
const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=']);
const ADDITIVE = new Set(['+', '-']);
const MULTIPLICATIVE = new Set(['*', '/']);
/** The lexer's operators are the parser's: longest first, so `<=` is not read as `<` then `=`. */
const OPERATOR_PATTERN = [...COMPARISONS, ...ADDITIVE, ...MULTIPLICATIVE]
  .sort((a, b) => b.length - a.length)
  .map((op) => op.replace(/[+*/]/g, (c) => `\\${c}`))
  .join('|');

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
// The result is measured too: upper("ΐ") is three characters.
const text = (fn: (s: string) => string) => (s: unknown) => {
  if (typeof s !== 'string') return null;
  if (s.length > MAX_FORMULA_TEXT_LENGTH) textTooLong(s.length);
  const result = fn(s);
  return result.length > MAX_FORMULA_TEXT_LENGTH ? textTooLong(result.length) : result;
};

/** The only functions a formula may call. */
export const FORMULA_FUNCTIONS: Readonly<Record<string, (...args: unknown[]) => unknown>> = Object.freeze({
  round: (x: unknown, digits: unknown = 0) => {
    if (!isNumber(x) || !isNumber(digits) || !Number.isInteger(digits) || digits < 0 || digits > 10) return null;
    // Half away from zero, as accountants expect (1.005 is 1.01).
    return finite(roundHalfAwayFromZero(x, digits));
  },
  floor: numeric(Math.floor),
  ceil: numeric(Math.ceil),
  abs: numeric(Math.abs),
  min: numeric(Math.min),
  max: numeric(Math.max),
  concat: (...parts: unknown[]) => {
    // A number as the grammar writes one: plain decimal, never 1e-7 (a formula's numbers are finite).
    const strings = parts.filter((p) => p !== null && p !== undefined).map((p) => (typeof p === 'number' ? (plainDecimal(p) ?? '') : typeof p === 'string' ? p : ''));
    const length = strings.reduce((sum, p) => sum + p.length, 0);
    return length > MAX_FORMULA_TEXT_LENGTH ? textTooLong(length) : strings.join('');
  },
  upper: text((s) => s.toUpperCase()),
  lower: text((s) => s.toLowerCase()),
});

// Operators that never throw: a missing operand makes the result null, not an error.
const both = (a: unknown, b: unknown) => a !== null && a !== undefined && b !== null && b !== undefined;
export const FORMULA_OPERATORS = Object.freeze({
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
  '==': (a: unknown, b: unknown) => comparedTexts(a, b) && a === b,
  '!=': (a: unknown, b: unknown) => comparedTexts(a, b) && a !== b,
  '<': (a: unknown, b: unknown) => comparable(a, b) && (a as number) < (b as number),
  '<=': (a: unknown, b: unknown) => comparable(a, b) && (a as number) <= (b as number),
  '>': (a: unknown, b: unknown) => comparable(a, b) && (a as number) > (b as number),
  '>=': (a: unknown, b: unknown) => comparable(a, b) && (a as number) >= (b as number),
});
type Operator = (a: unknown, b?: unknown) => unknown;
function comparable(a: unknown, b: unknown): boolean {
  return (isNumber(a) && isNumber(b)) || (typeof a === 'string' && typeof b === 'string' && comparedTexts(a, b));
}
/**
 * True, unless `a` and `b` are both texts longer than MAX_FORMULA_TEXT_LENGTH: comparing them
 * scans both (a comparison costs the shorter one's length), and two 5 MB fields compared ~90
 * times by a formula in each of 20 mappings held the event loop 8 s for one record. Then the
 * formula fails (null and the warning), as for text it would build that long.
 */
function comparedTexts(a: unknown, b: unknown): true {
  if (typeof a === 'string' && typeof b === 'string' && a.length > MAX_FORMULA_TEXT_LENGTH && b.length > MAX_FORMULA_TEXT_LENGTH) {
    throw new Error(`the formula compares two texts of more than ${MAX_FORMULA_TEXT_LENGTH} characters`);
  }
  return true;
}

interface Token {
  kind: 'number' | 'string' | 'name' | 'keyword' | 'op' | '(' | ')' | ',';
  text: string;
  /** Where the token starts in the expression (counted from 0). */
  position: number;
  /** A string's value (its escapes resolved). */
  value?: string;
}

const STRING_ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', n: '\n', t: '\t' };
/** Operators of the expression languages formulas came from (filtrex's `x in (…)`, `of`, `mod`): refused, and never a field name. */
const RESERVED_WORDS = new Set(['in', 'of', 'mod']);

/** Splits an expression into the tokens of the contract's grammar, or says what is not allowed and where. */
function tokenize(expression: string): Token[] | string {
  const tokens: Token[] = [];
  const pattern = new RegExp(String.raw`\s+|(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(${OPERATOR_PATTERN})|(\()|(\))|(,)`, 'y');
  let index = 0;
  while (index < expression.length) {
    const position = index;
    if (expression[index] === '"') {
      const string = readString(expression, index);
      if (typeof string === 'string') return string;
      tokens.push({ kind: 'string', text: expression.slice(index, string.end), position, value: string.value });
      index = string.end;
    } else {
      pattern.lastIndex = index;
      const match = pattern.exec(expression);
      if (!match) {
        const char = expression[index];
        const hint = char === '=' ? ' (compare with ==)' : char === "'" ? ' (strings are double-quoted)' : char === '.' ? ' (no property access; a number is written 0.5)' : '';
        return `unexpected character ${JSON.stringify(char)} at position ${index}${hint}`;
      }
      index = pattern.lastIndex;
      if (match[1]) {
        // No exponent: the grammar has none (1e3 would be the number 1 and the name e3).
        const exponent = /^[eE][+-]?\d+/.exec(expression.slice(index, index + 12));
        if (exponent) return `a number takes no exponent: ${match[1]}${exponent[0]} at position ${position} (write the number out in full)`;
        tokens.push({ kind: 'number', text: match[1], position });
      } else if (match[2]) {
        const word = match[2];
        if (RESERVED_WORDS.has(word)) return `${word} at position ${position} is not allowed`;
        tokens.push({ kind: KEYWORDS.has(word) ? 'keyword' : 'name', text: word, position });
      } else if (match[3]) tokens.push({ kind: 'op', text: match[3], position });
      else if (match[4]) tokens.push({ kind: '(', text: '(', position });
      else if (match[5]) tokens.push({ kind: ')', text: ')', position });
      else if (match[6]) tokens.push({ kind: ',', text: ',', position });
      else continue;
    }
    if (tokens.length > MAX_TOKENS) return `the expression has more than ${MAX_TOKENS} tokens`;
  }
  return tokens;
}

/** A double-quoted string starting at `start`: its value and where it ends, or what is wrong. */
function readString(expression: string, start: number): { value: string; end: number } | string {
  let value = '';
  for (let i = start + 1; i < expression.length; i++) {
    const char = expression[i];
    if (char === '"') return { value, end: i + 1 };
    // A line break of any kind ends the line, and a string does not span lines.
    if (char === '\n' || char === '\r' || char === '\u2028' || char === '\u2029') break;
    if (char === '\\') {
      const escaped = expression[i + 1];
      if (escaped === undefined) break;
      if (!Object.hasOwn(STRING_ESCAPES, escaped)) {
        return `unknown escape \\${escaped} at position ${i} (a string may use \\" \\\\ \\n \\t)`;
      }
      value += STRING_ESCAPES[escaped];
      i++;
    } else {
      value += char;
    }
  }
  return `the string at position ${start} is not closed on its line`;
}

/** A formula, or a part of one: its value over the scope of the fields it reads. May throw (a wrong type for and/or/not/if, text too long). */
type Evaluator = (scope: Scope) => unknown;
/** A null-prototype object holding exactly the fields a formula reads. */
type Scope = Readonly<Record<string, unknown>>;

/** What the parser built: the formula, the source field names it reads, and the names that are not source fields. */
interface Parsed {
  evaluate: Evaluator;
  fieldsRead: Set<string>;
  unknownNames: Set<string>;
}

class Refusal {
  constructor(readonly message: string) {}
}

/** A token's text as a refusal quotes it: a long one cut short. */
const shortened = (text: string) => (text.length > 40 ? `${text.slice(0, 40)}…` : text);

/** A token as a refusal names it: what it is (a long one cut short) and where. */
function found(token: Token | undefined, length: number): string {
  if (token === undefined) return `the end of the expression (position ${length})`;
  const text = shortened(token.text);
  const what = token.kind === 'keyword' || token.kind === 'name' || token.kind === 'number' || token.kind === 'string' ? `the ${token.kind} ${text}` : `"${text}"`;
  return `${what} at position ${token.position}`;
}

/** The condition of `if`, and the operands of `and`, `or` and `not`: true or false, nothing else (null is an error: a formula_error warning). */
function truth(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  const what = value === null || value === undefined ? 'nothing' : Array.isArray(value) ? 'a list' : typeof value === 'string' ? 'text' : typeof value;
  throw new Error(`expected true or false, but got ${what}`);
}

/**
 * Checks the tokens against the contract's grammar (recursive descent) and builds the formula
 * from what it checked: this, not the text, is what runs.
 *
 *   expression := or;  or := and ("or" and)*;  and := comparison ("and" comparison)*
 *   comparison := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)*
 *   sum := product (("+" | "-") product)*;  product := unary (("*" | "/") unary)*
 *   unary := ("-" | "not") unary | operand
 *   operand := number | string | field | function "(" [expression ("," expression)*] ")"
 *            | "(" expression ")" | "if" expression "then" expression "else" expression
 *
 * Operands are evaluated left to right; `and`, `or`, `if` and a chain of comparisons (`a < b < c`
 * is `a < b and b < c`, b evaluated once) evaluate no more than they need.
 */
function parse(tokens: readonly Token[], length: number, knownNames: ReadonlySet<string>): Parsed | string {
  const fieldsRead = new Set<string>();
  const unknownNames = new Set<string>();
  let i = 0;
  let depth = 0;
  const refuse = (message: string): never => {
    throw new Refusal(message);
  };
  const isKeyword = (token: Token | undefined, word: string) => token?.kind === 'keyword' && token.text === word;
  const isOp = (token: Token | undefined, ops: ReadonlySet<string>) => token?.kind === 'op' && ops.has(token.text);
  const operator = (token: Token) => FORMULA_OPERATORS[token.text as keyof typeof FORMULA_OPERATORS] as Operator;

  const unary = (): Evaluator => {
    const token = tokens[i];
    if (token?.kind === 'op' && token.text === '-') {
      i++;
      const operand = unary();
      const negate = operator(token);
      return (scope) => negate(operand(scope));
    }
    if (isKeyword(token, 'not')) {
      i++;
      const operand = unary();
      return (scope) => !truth(operand(scope));
    }
    return operand();
  };
  /** Left-associative arithmetic: `a - b - c` is `(a - b) - c`. */
  const arithmetic = (next: () => Evaluator, ops: ReadonlySet<string>) => (): Evaluator => {
    let left = next();
    while (isOp(tokens[i], ops)) {
      const apply = operator(tokens[i++]);
      const [a, b] = [left, next()];
      left = (scope) => apply(a(scope), b(scope));
    }
    return left;
  };
  const product = arithmetic(unary, MULTIPLICATIVE);
  const sum = arithmetic(product, ADDITIVE);
  const comparison = (): Evaluator => {
    const first = sum();
    if (!isOp(tokens[i], COMPARISONS)) return first;
    const compares: Operator[] = [];
    const operands: Evaluator[] = [first];
    while (isOp(tokens[i], COMPARISONS)) {
      compares.push(operator(tokens[i++]));
      operands.push(sum());
    }
    return (scope) => {
      let left = operands[0](scope);
      let result: unknown = true;
      for (let k = 0; k < compares.length && result; k++) {
        const right = operands[k + 1](scope);
        result = compares[k](left, right);
        left = right;
      }
      return result;
    };
  };
  const logical = (next: () => Evaluator, word: 'and' | 'or') => (): Evaluator => {
    let left = next();
    while (isKeyword(tokens[i], word)) {
      i++;
      const [a, b] = [left, next()];
      left = word === 'and' ? (scope) => truth(a(scope)) && truth(b(scope)) : (scope) => truth(a(scope)) || truth(b(scope));
    }
    return left;
  };
  const and = logical(comparison, 'and');
  const expression = logical(and, 'or');

  /** After an expression inside parentheses opened by `open`: a "," (if `commas`), or the closing ")". */
  const closeOrRefuse = (open: Token, commas: boolean): boolean => {
    const token = tokens[i];
    if (token?.kind === ')') return true;
    if (token?.kind === ',') {
      if (commas) return false;
      refuse(`a comma is only allowed between function arguments (position ${token.position})`);
    }
    if (token === undefined) refuse(`unbalanced parentheses: "(" at position ${open.position} is not closed`);
    return refuse(`expected an operator${commas ? ', "," or ")"' : ' or ")"'} but found ${found(token, length)}`);
  };
  const open = (token: Token) => {
    if (++depth > MAX_NESTING_DEPTH) refuse(`parentheses are nested deeper than ${MAX_NESTING_DEPTH} (position ${token.position})`);
  };
  const expectKeyword = (word: string) => {
    if (!isKeyword(tokens[i], word)) refuse(`expected an operator or ${word} but found ${found(tokens[i], length)}`);
    i++;
  };

  function operand(): Evaluator {
    const token = tokens[i];
    if (token === undefined) return refuse(`expected an operand but found ${found(token, length)}`);
    switch (token.kind) {
      case 'number': {
        i++;
        // Decimal digits, with an optional fraction: Number reads them in decimal (010 is ten).
        const value = Number(token.text);
        return () => value;
      }
      case 'string': {
        i++;
        const value = token.value!;
        return () => value;
      }
      case 'keyword': {
        if (token.text !== 'if') return refuse(`expected an operand but found ${found(token, length)}`);
        i++;
        const condition = expression();
        expectKeyword('then');
        const then = expression();
        expectKeyword('else');
        const otherwise = expression();
        return (scope) => (truth(condition(scope)) ? then(scope) : otherwise(scope));
      }
      case 'name': {
        const isFunction = Object.hasOwn(FORMULA_FUNCTIONS, token.text);
        if (tokens[i + 1]?.kind === '(') {
          if (!isFunction) return refuse(`unknown function ${shortened(token.text)}() at position ${token.position}; allowed: ${Object.keys(FORMULA_FUNCTIONS).join(', ')}`);
          const paren = tokens[i + 1];
          open(paren);
          i += 2;
          const args: Evaluator[] = [];
          if (tokens[i]?.kind !== ')') {
            for (;;) {
              args.push(expression());
              if (closeOrRefuse(paren, true)) break;
              i++;
            }
          }
          i++;
          depth--;
          const fn = FORMULA_FUNCTIONS[token.text];
          const [first, second] = args;
          if (args.length === 1) return (scope) => fn(first(scope));
          if (args.length === 2) return (scope) => fn(first(scope), second(scope));
          return (scope) => fn(...args.map((arg) => arg(scope)));
        }
        if (isFunction) return refuse(`${token.text} at position ${token.position} is a function: call it with (…)`);
        const name = token.text;
        (knownNames.has(name) ? fieldsRead : unknownNames).add(name);
        i++;
        return (scope) => (Object.hasOwn(scope, name) ? scope[name] : null);
      }
      case '(': {
        open(token);
        i++;
        const inner = expression();
        closeOrRefuse(token, false);
        i++;
        depth--;
        return inner;
      }
      case ',':
        return refuse(`a comma is only allowed between function arguments (position ${token.position})`);
      default:
        return refuse(`expected an operand but found ${found(token, length)}`);
    }
  }

  try {
    const evaluate = expression();
    const rest = tokens[i];
    if (rest?.kind === ')') refuse(`unbalanced parentheses: ")" at position ${rest.position} closes nothing`);
    if (rest?.kind === ',') refuse(`a comma is only allowed between function arguments (position ${rest.position})`);
    if (rest !== undefined) refuse(`expected an operator but found ${found(rest, length)}`);
    return { evaluate, fieldsRead, unknownNames };
  } catch (error) {
    if (error instanceof Refusal) return error.message;
    throw error;
  }
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

  const parsed = parse(tokens, expression.length, knownNames);
  if (typeof parsed === 'string') return fail(parsed);
  if (parsed.unknownNames.size > 0) return fail(`unknown names: ${[...parsed.unknownNames].join(', ')}`, [...parsed.unknownNames]);

  const names = [...parsed.fieldsRead];
  const run = parsed.evaluate;
  return {
    ok: true,
    formula: {
      fieldsRead: names,
      evaluate(values) {
        // A null-prototype copy holding only the fields the formula reads, each an own value or null.
        const scope: Record<string, unknown> = Object.create(null);
        for (const name of names) scope[name] = Object.hasOwn(values, name) ? (values[name] ?? null) : null;
        try {
          const result = run(scope);
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
