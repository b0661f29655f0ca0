import { REDACTED } from './redact';
import { requestLogFields } from './request-log';

describe('requestLogFields', () => {
  it('names a request by id, method, path with query parameter names only, and user agent', () => {
    const fields = requestLogFields({ id: 'req-1', method: 'GET', url: '/v1/x?access_token=abc&limit=5', headers: { 'user-agent': 'client/1', authorization: 'Bearer abc' } });
    expect(fields).toEqual({ id: 'req-1', method: 'GET', url: `/v1/x?access_token=${REDACTED}&limit=${REDACTED}`, user_agent: 'client/1' });
  });

  it('leaves out what the request does not have (an Express request has no id of its own)', () => {
    const fields = requestLogFields({ method: 'POST', url: '/v1/y', headers: {} });
    expect(fields).toEqual({ id: undefined, method: 'POST', url: '/v1/y', user_agent: undefined });
    expect(JSON.parse(JSON.stringify(fields))).toEqual({ method: 'POST', url: '/v1/y' });
  });
});
