// The safe formula language of `computed` mappings, on filtrex 3 (a maintained, non-Turing
// expression compiler that never uses eval on user text). Pure: no Nest imports.
//
// filtrex accepts more than our contract allows (`a.b` paths, `x of y`, `in`, `~=`, `^`, `mod`,
// quoted symbols, tuples, and functions like log/sqrt/exists), and reads some text otherwise than
// we would (`then-1` is `then 1` to it, `x + and` a field named `and`). So our own lexer and parser
// are the grammar: every expression is checked against the contract's (numbers, double-quoted
// strings, source field names, + - * /, comparisons, and/or/not, if/then/else, parentheses and
// an allowlist of functions), anything else is refused at write time saying what and where,
// and filtrex is given the checked tokens written out again (filtrexText), never the raw text.
import { compileExpression } from 'filtrex';
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
  kind: 'number' | 'string' | 'name' | 'keyword' | 'op' | '(' | ')' | ',';
  text: string;
  /** Where the token starts in the expression (counted from 0). */
  position: number;
  /** A string's value (its escapes resolved). */
  value?: string;
}

const STRING_ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', n: '\n', t: '\t' };
/** filtrex's own operators and words: never a field name, never passed on. */
const FILTREX_WORDS = new Set(['in', 'of', 'mod']);

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
        // filtrex reads no exponent: 1e3 would be the number 1 and the name e3.
        const exponent = /^[eE][+-]?\d+/.exec(expression.slice(index, index + 12));
        if (exponent) return `a number takes no exponent: ${match[1]}${exponent[0]} at position ${position} (write the number out in full)`;
        tokens.push({ kind: 'number', text: match[1], position });
      } else if (match[2]) {
        const word = match[2];
        if (FILTREX_WORDS.has(word)) return `${word} at position ${position} is not allowed`;
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

/** What the parser found: the source field names read, and those that are not source fields. */
interface Parsed {
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

/**
 * Checks the tokens against the contract's grammar (recursive descent, the precedence filtrex
 * gives them): this, not filtrex, decides what a formula may be.
 *
 *   expression := or;  or := and ("or" and)*;  and := comparison ("and" comparison)*
 *   comparison := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)*
 *   sum := product (("+" | "-") product)*;  product := unary (("*" | "/") unary)*
 *   unary := ("-" | "not") unary | operand
 *   operand := number | string | field | function "(" [expression ("," expression)*] ")"
 *            | "(" expression ")" | "if" expression "then" expression "else" expression
 */
function parse(tokens: readonly Token[], length: number, knownNames: ReadonlySet<string>): Parsed | string {
  const parsed: Parsed = { fieldsRead: new Set(), unknownNames: new Set() };
  let i = 0;
  let depth = 0;
  const refuse = (message: string): never => {
    throw new Refusal(message);
  };
  const isKeyword = (token: Token | undefined, word: string) => token?.kind === 'keyword' && token.text === word;
  const isOp = (token: Token | undefined, ops: ReadonlySet<string>) => token?.kind === 'op' && ops.has(token.text);
  const binary = (next: () => void, matches: (token: Token | undefined) => boolean) => () => {
    next();
    while (matches(tokens[i])) {
      i++;
      next();
    }
  };
  const unary = (): void => {
    const token = tokens[i];
    if ((token?.kind === 'op' && token.text === '-') || isKeyword(token, 'not')) {
      i++;
      unary();
    } else operand();
  };
  const product = binary(unary, (t) => isOp(t, MULTIPLICATIVE));
  const sum = binary(product, (t) => isOp(t, ADDITIVE));
  const comparison = binary(sum, (t) => isOp(t, COMPARISONS));
  const and = binary(comparison, (t) => isKeyword(t, 'and'));
  const expression = binary(and, (t) => isKeyword(t, 'or'));

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

  function operand(): void {
    const token = tokens[i];
    if (token === undefined) return refuse(`expected an operand but found ${found(token, length)}`);
    switch (token.kind) {
      case 'number':
      case 'string':
        i++;
        return;
      case 'keyword':
        if (token.text !== 'if') return refuse(`expected an operand but found ${found(token, length)}`);
        i++;
        expression();
        expectKeyword('then');
        expression();
        expectKeyword('else');
        expression();
        return;
      case 'name': {
        const isFunction = Object.hasOwn(FORMULA_FUNCTIONS, token.text);
        if (tokens[i + 1]?.kind === '(') {
          if (!isFunction) return refuse(`unknown function ${shortened(token.text)}() at position ${token.position}; allowed: ${Object.keys(FORMULA_FUNCTIONS).join(', ')}`);
          const paren = tokens[i + 1];
          open(paren);
          i += 2;
          if (tokens[i]?.kind !== ')') {
            for (;;) {
              expression();
              if (closeOrRefuse(paren, true)) break;
              i++;
            }
          }
          i++;
          depth--;
          return;
        }
        if (isFunction) return refuse(`${token.text} at position ${token.position} is a function: call it with (…)`);
        (knownNames.has(token.text) ? parsed.fieldsRead : parsed.unknownNames).add(token.text);
        i++;
        return;
      }
      case '(':
        open(token);
        i++;
        expression();
        closeOrRefuse(token, false);
        i++;
        depth--;
        return;
      case ',':
        return refuse(`a comma is only allowed between function arguments (position ${token.position})`);
      default:
        return refuse(`expected an operand but found ${found(token, length)}`);
    }
  }

  try {
    expression();
    const rest = tokens[i];
    if (rest?.kind === ')') refuse(`unbalanced parentheses: ")" at position ${rest.position} closes nothing`);
    if (rest?.kind === ',') refuse(`a comma is only allowed between function arguments (position ${rest.position})`);
    if (rest !== undefined) refuse(`expected an operator but found ${found(rest, length)}`);
  } catch (error) {
    if (error instanceof Refusal) return error.message;
    throw error;
  }
  return parsed;
}

/**
 * The text filtrex is given: the checked tokens, one space apart. filtrex reads a keyword only
 * when a non-word character follows it, and takes that character with it (`then-1` would be
 * `then 1`), and knows only the \" and \\ escapes: a space after every token, and strings written
 * again with their value's newlines and tabs as themselves, make it read what we checked.
 * filtrex copies a number's text into the JavaScript it compiles, where `010` is octal (8) and
 * `00.5` does not parse: numbers go without their leading zeros, so every one reads in decimal.
 */
function filtrexText(tokens: readonly Token[]): string {
  return tokens
    .map((token) => (token.kind === 'string' ? `"${token.value!.replace(/["\\]/g, '\\$&')}"` : token.kind === 'number' ? token.text.replace(/^0+(?=\d)/, '') : token.text))
    .join(' ');
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

  let compiled: (values: unknown) => unknown;
  try {
    compiled = compileExpression(filtrexText(tokens), {
      extraFunctions: FORMULA_FUNCTIONS as Record<string, (...args: unknown[]) => unknown>,
      operators: OPERATORS,
      // Own properties of the values object only: never a prototype's.
      customProp: (name: string, _get: unknown, values: Record<string, unknown>) => (Object.hasOwn(values, name) ? values[name] : null),
    });
  } catch (error) {
    // Not expected: the grammar above is a part of filtrex's (expression.spec.ts checks it).
    return fail(
      `the expression could not be compiled: ${String((error as Error).message)
        .replace(/\s+/g, ' ')
        .slice(0, 200)}`,
    );
  }
  const names = [...parsed.fieldsRead];
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
