// OData `$batch` in the multipart format Dataverse speaks: build a batch of plain requests, parse
// a multipart/mixed answer into one response per request (change sets flattened). Pure: no Nest
// imports, no I/O. Format: OData 4.0 part 1 §11.7 and Microsoft's "Execute batch operations using
// the Web API" (parts are `Content-Type: application/http` + `Content-Transfer-Encoding: binary`,
// the answer's boundary is its own `batchresponse_…`, responses in the order of the requests).
import { randomUUID } from 'node:crypto';

/** One request of a batch, outside any change set (so each succeeds or fails on its own). */
export interface BatchRequestPart {
  method: string;
  /** Absolute URL (Microsoft's samples turn relative ones absolute before sending). */
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One response of a batch answer. Header names lower-cased. */
export interface BatchResponsePart {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The MIME part's Content-ID (change-set members carry one). */
  contentId?: string;
}

/** The answer is not the multipart document it claims to be. */
export class BatchFormatError extends Error {
  override name = 'BatchFormatError';
}

const CRLF = '\r\n';

/** The batch body and the Content-Type (with its boundary) to send it with. */
export function buildBatchRequest(parts: readonly BatchRequestPart[], boundary = `batch_${randomUUID()}`): { contentType: string; body: string } {
  const delimiter = `--${boundary}`;
  const chunks: string[] = [];
  for (const part of parts) {
    if (/[\r\n]/.test(part.method + part.url)) throw new BatchFormatError('a request line may not contain a line break');
    const lines = [delimiter, 'Content-Type: application/http', 'Content-Transfer-Encoding: binary', '', `${part.method} ${part.url} HTTP/1.1`];
    for (const [name, value] of Object.entries(part.headers ?? {})) {
      if (/[\r\n]/.test(name + value)) throw new BatchFormatError('a header may not contain a line break');
      lines.push(`${name}: ${value}`);
    }
    lines.push('', part.body ?? '');
    chunks.push(lines.join(CRLF));
  }
  const body = `${chunks.join(CRLF)}${chunks.length ? CRLF : ''}${delimiter}--${CRLF}`;
  // A body line that starts with the delimiter would end its part early.
  if (parts.some((part) => (part.body ?? '').includes(delimiter))) throw new BatchFormatError('the boundary occurs in a request body');
  return { contentType: `multipart/mixed; boundary="${boundary}"`, body };
}

/** The responses of a multipart/mixed batch answer, change sets flattened, in order. */
export function parseBatchResponse(contentType: string, body: string | Buffer): BatchResponsePart[] {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  return parseMultipart(contentType, text, 0);
}

/** The boundary parameter of a multipart Content-Type (quoted or not), or null. */
export function boundaryOf(contentType: string): string | null {
  const { type, params } = parseContentType(contentType);
  if (!type.startsWith('multipart/')) return null;
  const boundary = params.get('boundary');
  return boundary ? boundary : null;
}

/** True when the Content-Type is multipart/mixed. */
export function isMultipartMixed(contentType: string | undefined): boolean {
  return !!contentType && parseContentType(contentType).type === 'multipart/mixed';
}

/** An OData string literal: single quotes around, a quote inside written twice (OData URL conventions §5.1.1.6.1 / ABNF SQUOTE-in-string). */
export function odataStringLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * A key predicate's text made safe for a URL path: percent-encodes what a path segment may not
 * hold as is (`/`, `?`, `#`, `%`, spaces, non-ASCII…), keeps `'`, `(`, `)`, `:` and `@` readable.
 */
export function encodeKeySegment(text: string): string {
  return encodeURIComponent(text).replace(/%3A/gi, ':').replace(/%40/gi, '@');
}

function parseMultipart(contentType: string, text: string, depth: number): BatchResponsePart[] {
  if (depth > 2) throw new BatchFormatError('multipart nested too deeply');
  const boundary = boundaryOf(contentType);
  if (!boundary) throw new BatchFormatError('the answer is not multipart or names no boundary');
  const out: BatchResponsePart[] = [];
  for (const part of splitParts(text, boundary)) {
    const { headers, rest } = readHeaders(part);
    const partType = headers['content-type'] ?? '';
    if (isMultipartMixed(partType)) {
      out.push(...parseMultipart(partType, rest, depth + 1));
      continue;
    }
    const response = readHttpResponse(rest);
    if (headers['content-id'] !== undefined) response.contentId = headers['content-id'];
    out.push(response);
  }
  return out;
}

/** The bodies between the delimiters; the line break before a delimiter belongs to it (RFC 2046 §5.1.1). */
function splitParts(text: string, boundary: string): string[] {
  const delimiter = new RegExp(`(?:^|\\r?\\n)--${escapeRegExp(boundary)}(--)?[ \\t]*(?=\\r?\\n|$)`, 'g');
  const parts: string[] = [];
  let start = -1;
  for (let match = delimiter.exec(text); match; match = delimiter.exec(text)) {
    if (start >= 0) parts.push(stripLeadingLineBreak(text.slice(start, match.index)));
    if (match[1]) return parts;
    start = match.index + match[0].length;
  }
  throw new BatchFormatError(start < 0 ? 'no part starts with the boundary' : 'the multipart answer is cut short (no closing delimiter)');
}

/** MIME or HTTP header lines up to the first empty line (or the end: a bodiless 204 may have none). */
function readHeaders(text: string): { headers: Record<string, string>; rest: string; firstLine?: string } {
  const headers: Record<string, string> = {};
  let position = 0;
  let last: string | undefined;
  while (position < text.length) {
    const end = nextLineEnd(text, position);
    const line = text.slice(position, end.index);
    position = end.next;
    if (line === '') return { headers, rest: text.slice(position) };
    if (/^[ \t]/.test(line) && last) {
      headers[last] += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new BatchFormatError('a header line without a name');
    last = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[last] = headers[last] === undefined ? value : `${headers[last]}, ${value}`;
  }
  return { headers, rest: '' };
}

function readHttpResponse(text: string): BatchResponsePart {
  const end = nextLineEnd(text, 0);
  const statusLine = text.slice(0, end.index);
  const match = /^HTTP\/\d(?:\.\d)?[ \t]+(\d{3})(?:[ \t].*)?$/.exec(statusLine.trim());
  if (!match) throw new BatchFormatError('a part holds no HTTP status line');
  const { headers, rest } = readHeaders(text.slice(end.next));
  return { status: Number(match[1]), headers, body: rest };
}

function nextLineEnd(text: string, from: number): { index: number; next: number } {
  const lf = text.indexOf('\n', from);
  if (lf < 0) return { index: text.length, next: text.length };
  return { index: lf > from && text[lf - 1] === '\r' ? lf - 1 : lf, next: lf + 1 };
}

function stripLeadingLineBreak(text: string): string {
  if (text.startsWith('\r\n')) return text.slice(2);
  if (text.startsWith('\n')) return text.slice(1);
  return text;
}

/** Media type (lower-cased) and parameters (names lower-cased, quoted values unquoted). */
function parseContentType(value: string): { type: string; params: Map<string, string> } {
  const semicolon = value.indexOf(';');
  const type = (semicolon < 0 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  const params = new Map<string, string>();
  const pattern = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  const rest = semicolon < 0 ? '' : value.slice(semicolon);
  for (let match = pattern.exec(rest); match; match = pattern.exec(rest)) {
    params.set(match[1].toLowerCase(), match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? ''));
  }
  return { type, params };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
