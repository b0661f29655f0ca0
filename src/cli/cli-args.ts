// What every command of bin/cli.js shares: --help, and usage mistakes as one line (exit 1),
// never a stack.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>['values'];

/** A mistake of the caller's: printed as `<command>: <message>`, exit 1. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CommandSpec<O extends Options> {
  /** The text of --help: usage line, what it does, its options. */
  readonly help: string;
  readonly options: O;
}

/** The command's options; with --help (-h) prints the help and exits 0. */
export function parseCommandArgs<O extends Options>(spec: CommandSpec<O>, args: string[] = process.argv.slice(2)): Values<O> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${spec.help.trim()}\n`);
    process.exit(0);
  }
  // `--ttl -5` is a value out of range, not a missing one: node:util would call it ambiguous.
  const joined = args.reduce<string[]>((out, arg, i) => {
    const previous = args[i - 1];
    if (/^-\d/.test(arg) && previous?.startsWith('--') && spec.options[previous.slice(2)]?.type === 'string') out[out.length - 1] = `${previous}=${arg}`;
    else out.push(arg);
    return out;
  }, []);
  try {
    return parseArgs({ args: joined, options: spec.options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // node:util's own wording ("Unknown option '--x'…"), then where the help is.
    throw new UsageError(`${(error as Error).message.split('\n')[0]} (see --help)`);
  }
}

/** A whole number from `min` to `max`, or a UsageError naming the option and its range. */
export function integerOption(name: string, value: string, min: number, max: number, unit = ''): number {
  const number = /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw new UsageError(`--${name} must be a whole number ${unit ? `of ${unit} ` : ''}from ${min} to ${max}, not "${value}"`);
  }
  return number;
}

/** Runs a command's main (`name` as the user types it: `token`, `keys:rotate`): a UsageError or any other error is one line on stderr, exit 1. */
export function runCommand(name: string, main: () => Promise<number | void>): void {
  main().then(
    (code) => process.exit(code ?? 0),
    (error: unknown) => {
      console.error(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
