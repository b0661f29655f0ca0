import { headerValue, MAX_RETRY_AFTER_SECONDS, retryAfterSeconds, secondsUntil } from './retry-after';

const NOW = Date.UTC(2026, 10, 20, 12, 0, 0);

describe('Retry-After', () => {
  it('reads seconds or an HTTP date, at least 1 s', () => {
    expect(retryAfterSeconds('120', NOW)).toBe(120);
    expect(retryAfterSeconds(' 7 ', NOW)).toBe(7);
    expect(retryAfterSeconds('0', NOW)).toBe(1);
    expect(retryAfterSeconds(new Date(NOW + 61_000).toUTCString(), NOW)).toBe(61);
    expect(retryAfterSeconds(new Date(NOW - 61_000).toUTCString(), NOW)).toBe(1);
  });

  it('never asks for more than a day, however far the answer points', () => {
    expect(retryAfterSeconds('999999999', NOW)).toBe(MAX_RETRY_AFTER_SECONDS);
    expect(retryAfterSeconds(new Date(NOW + 30 * 86_400_000).toUTCString(), NOW)).toBe(MAX_RETRY_AFTER_SECONDS);
    expect(secondsUntil(NOW + 10 * 365 * 86_400_000, NOW)).toBe(MAX_RETRY_AFTER_SECONDS);
  });

  it('ignores what is absent or unreadable', () => {
    expect(retryAfterSeconds(undefined, NOW)).toBeUndefined();
    expect(retryAfterSeconds('  ', NOW)).toBeUndefined();
    expect(retryAfterSeconds('soon', NOW)).toBeUndefined();
    expect(retryAfterSeconds('-5', NOW)).toBeUndefined();
  });

  it('takes the first of a repeated header', () => {
    expect(headerValue({ 'retry-after': ['3', '9'] }, 'retry-after')).toBe('3');
    expect(headerValue({ 'retry-after': '4' }, 'retry-after')).toBe('4');
    expect(headerValue({}, 'retry-after')).toBeUndefined();
  });
});
