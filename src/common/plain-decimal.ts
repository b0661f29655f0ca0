// Numbers as plain decimal text, never in exponent form. Pure: no Nest imports.
//
// JavaScript writes a number below 1e-6 or from 1e21 on in exponent form (String(1e-7) is "1e-7",
// and JSON.stringify does the same). Vendors' decimal fields do not all read that: Xledger's
// `amount` is a decimal string, and Dataverse's OData reader has refused "8.675E-06" for an
// Edm.Decimal (OData/odata.net#2137). Plain decimal text is read the same way by every one of them.

/**
 * `value` as plain decimal text (`0.0000001`, `1000000000000000000000`): the same digits as
 * String(value), so exactly the number it reads back as, with the exponent written out. null when not finite.
 */
export function plainDecimal(value: number): string | null {
  if (!Number.isFinite(value)) return null;
  const text = String(value);
  const e = text.indexOf('e');
  if (e < 0) return text;
  const negative = text.startsWith('-');
  const [whole, fraction = ''] = text.slice(negative ? 1 : 0, e).split('.');
  const digits = whole + fraction;
  // Where the decimal point falls in `digits` once the exponent is applied.
  const point = whole.length + Number(text.slice(e + 1));
  const plain =
    point <= 0 ? `0.${'0'.repeat(-point)}${digits}` : point >= digits.length ? digits + '0'.repeat(point - digits.length) : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${plain}` : plain;
}

/**
 * JSON text as JSON.stringify writes it, except that numbers are written in plain decimal form.
 * For the JSON data rows are made of (bodies are at most 64 levels deep, src/common/json-body.ts).
 */
export function jsonWithPlainNumbers(value: object): string;
export function jsonWithPlainNumbers(value: unknown): string | undefined;
export function jsonWithPlainNumbers(value: unknown): string | undefined {
  if (typeof value === 'number') return plainDecimal(value) ?? 'null';
  if (value === null || typeof value !== 'object' || typeof (value as { toJSON?: unknown }).toJSON === 'function') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item) => jsonWithPlainNumbers(item) ?? 'null').join(',')}]`;
  const members: string[] = [];
  for (const [key, item] of Object.entries(value)) {
    const text = jsonWithPlainNumbers(item);
    if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
  }
  return `{${members.join(',')}}`;
}
